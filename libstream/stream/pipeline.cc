#include "libstream/stream/pipeline.h"

#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <memory>

namespace mln::stream {
namespace {

// Carries an Error across oneTBB, which cancels the pipeline and rethrows on the caller.
struct PipelineAbort {
  Error error;
};

// One input frame and what the transform makes of it, tagged with the input's index.
struct Batch {
  uint64_t index;
  std::vector<Frame> frames;
};

bool Handles(const PipelineOptions& o, uint16_t kind) {
  if (o.kinds.empty()) return true;
  return std::any_of(o.kinds.begin(), o.kinds.end(),
                     [kind](FrameKind k) { return static_cast<uint16_t>(k) == kind; });
}

}  // namespace

Result<void> RunFramePipeline(FrameSource& source, FrameSink& sink,
                              const FrameTransform& transform, const PipelineOptions& options) {
  unsigned threads = options.threads != 0
                         ? options.threads
                         : static_cast<unsigned>(oneapi::tbb::this_task_arena::max_concurrency());
  size_t tokens = std::max(2u, threads) * 4;
  uint64_t next_index = 0;

  auto read = [&](oneapi::tbb::flow_control& fc) -> std::shared_ptr<Batch> {
    auto frame = source.Next();
    if (!frame) throw PipelineAbort{std::move(frame).error()};
    if (!frame->has_value()) {
      fc.stop();
      return nullptr;
    }
    auto batch = std::make_shared<Batch>();
    batch->index = next_index++;
    batch->frames.push_back(std::move(**frame));
    return batch;
  };
  auto work = [&](std::shared_ptr<Batch> batch) -> std::shared_ptr<Batch> {
    if (!batch) return batch;
    const FrameHeader& h = batch->frames.front().header;
    if (!Handles(options, h.kind)) return batch;
    std::string name = h.name;
    if (options.verify_input) {
      auto ok = VerifyFrame(batch->frames.front());
      if (!ok) throw PipelineAbort{std::move(ok).error().WithFrame(batch->index, name)};
    }
    auto ok = transform(batch->frames);
    if (!ok) throw PipelineAbort{std::move(ok).error().WithFrame(batch->index, name)};
    return batch;
  };
  auto write = [&](std::shared_ptr<Batch> batch) {
    if (!batch) return;
    for (Frame& f : batch->frames) {
      std::string name = f.header.name;
      auto ok = sink.Put(std::move(f));
      if (!ok) throw PipelineAbort{std::move(ok).error().WithFrame(batch->index, name)};
    }
  };

  try {
    // shared_ptr rather than unique_ptr: oneTBB 2021.8 filters need copyable item types.
    oneapi::tbb::parallel_pipeline(
        tokens,
        oneapi::tbb::make_filter<void, std::shared_ptr<Batch>>(
            oneapi::tbb::filter_mode::serial_in_order, read) &
            oneapi::tbb::make_filter<std::shared_ptr<Batch>, std::shared_ptr<Batch>>(
                oneapi::tbb::filter_mode::parallel, work) &
            oneapi::tbb::make_filter<std::shared_ptr<Batch>, void>(
                oneapi::tbb::filter_mode::serial_in_order, write));
  } catch (PipelineAbort& abort) {
    return Fail(std::move(abort.error));
  }
  return sink.Finish();
}

}  // namespace mln::stream
