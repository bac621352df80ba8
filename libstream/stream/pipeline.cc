#include "libstream/stream/pipeline.h"

#include "libstream/codecs/codec.h"
#include "libstream/stream/read_ahead.h"

#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>

namespace mln::stream {
namespace {

// One input frame and what the transform makes of it, tagged with its place in this run
// (`seq`) and the index messages name it by.
struct Batch {
  uint64_t seq;
  uint64_t index;
  std::vector<Frame> frames;
};

bool Handles(const PipelineOptions& o, uint16_t kind) {
  if (o.kinds.empty()) return true;
  return std::any_of(o.kinds.begin(), o.kinds.end(),
                     [kind](FrameKind k) { return static_cast<uint16_t>(k) == kind; });
}

// The error of the earliest item in stream order, whichever thread finds it first. Stages do
// not throw to cancel the pipeline: oneTBB 2021.8 does not destroy the items in flight when
// it cancels, which leaks them (seen under LeakSanitizer). Instead, once an error is
// recorded the input stops, items after it drain untouched, and items before it still go
// through every stage: one of them may fail too, and then its error is the one reported.
// (Recording whichever came first made a wrong base name frame 3 on one run and frame 2 on
// the next.)
class FirstError {
 public:
  void Record(uint64_t seq, Error e) {
    std::lock_guard lock(mu_);
    if (seq < seq_.load(std::memory_order_relaxed)) {
      error_ = std::move(e);
      seq_.store(seq, std::memory_order_release);
    }
  }
  bool failed() const { return seq_.load(std::memory_order_acquire) != kNone; }
  /// Whether the item at `seq` is to be passed over: an error at or before it was recorded.
  bool Skips(uint64_t seq) const { return seq_.load(std::memory_order_acquire) <= seq; }
  Error Take() { return std::move(error_); }

 private:
  static constexpr uint64_t kNone = ~uint64_t{0};
  std::mutex mu_;
  std::atomic<uint64_t> seq_{kNone};
  Error error_;
};

}  // namespace

Result<void> RunFramePipeline(FrameSource& given, FrameSink& sink,
                              const FrameTransform& transform, const PipelineOptions& options) {
  // Without a thread to be had, the pipeline reads for itself.
  std::unique_ptr<ReadAhead> ahead = options.read_ahead ? ReadAhead::Start(given) : nullptr;
  FrameSource& source = ahead ? static_cast<FrameSource&>(*ahead) : given;
  unsigned threads = options.threads != 0
                         ? options.threads
                         : static_cast<unsigned>(oneapi::tbb::this_task_arena::max_concurrency());
  size_t tokens = std::max(2u, threads) * std::max(1u, options.frames_per_thread);
  uint64_t next_index = 0;
  FirstError first_error;

  auto read = [&](oneapi::tbb::flow_control& fc) -> std::shared_ptr<Batch> {
    if (first_error.failed()) {
      fc.stop();
      return nullptr;
    }
    auto frame = source.Next();
    if (!frame) {
      first_error.Record(next_index, std::move(frame).error());
      fc.stop();
      return nullptr;
    }
    if (!frame->has_value()) {
      fc.stop();
      return nullptr;
    }
    auto batch = std::make_shared<Batch>();
    // Messages name a frame read from a stream by its place there (mln-inspect's count, a
    // bundle's for the frames inside it); other frames by their place in this run.
    batch->seq = next_index++;
    batch->index = (**frame).read_index.value_or(batch->seq);
    batch->frames.push_back(std::move(**frame));
    return batch;
  };
  auto work = [&](std::shared_ptr<Batch> batch) -> std::shared_ptr<Batch> {
    if (!batch || first_error.Skips(batch->seq)) return batch;
    const FrameHeader& h = batch->frames.front().header;
    if (!Handles(options, h.kind)) return batch;
    std::string name = h.name;
    if (options.verify_input) {
      if (auto ok = codecs::DecodeFrame(batch->frames.front()); !ok) {
        first_error.Record(batch->seq, std::move(ok).error().WithFrame(batch->index, name));
        return batch;
      }
    }
    if (auto ok = transform(batch->frames); !ok) {
      first_error.Record(batch->seq, std::move(ok).error().WithFrame(batch->index, name));
    }
    return batch;
  };
  auto write = [&](std::shared_ptr<Batch> batch) {
    if (!batch || first_error.Skips(batch->seq)) return;
    for (Frame& f : batch->frames) {
      if (options.progress != nullptr) options.progress->OnFrame(f.header);
      std::string name = f.header.name;
      if (auto ok = sink.Put(std::move(f)); !ok) {
        first_error.Record(batch->seq, std::move(ok).error().WithFrame(batch->index, name));
        return;
      }
    }
  };

  auto ordered = [&](std::shared_ptr<Batch> batch) -> std::shared_ptr<Batch> {
    if (!batch || first_error.Skips(batch->seq) || batch->frames.empty()) return batch;
    std::string name = batch->frames.front().header.name;
    if (auto ok = options.ordered(batch->frames); !ok) {
      first_error.Record(batch->seq, std::move(ok).error().WithFrame(batch->index, name));
    }
    return batch;
  };

  // shared_ptr rather than unique_ptr: oneTBB 2021.8 filters need copyable item types.
  using Item = std::shared_ptr<Batch>;
  auto head = oneapi::tbb::make_filter<void, Item>(oneapi::tbb::filter_mode::serial_in_order,
                                                   read) &
              oneapi::tbb::make_filter<Item, Item>(oneapi::tbb::filter_mode::parallel, work);
  auto tail = oneapi::tbb::make_filter<Item, void>(oneapi::tbb::filter_mode::serial_in_order,
                                                   write);
  if (options.ordered) {
    oneapi::tbb::parallel_pipeline(
        tokens, head &
                    oneapi::tbb::make_filter<Item, Item>(
                        oneapi::tbb::filter_mode::serial_in_order, ordered) &
                    tail);
  } else {
    oneapi::tbb::parallel_pipeline(tokens, head & tail);
  }
  ahead.reset();  // the source is left as the pipeline leaves it: nothing reads on
  if (first_error.failed()) return Fail(first_error.Take());
  return sink.Finish();
}

}  // namespace mln::stream
