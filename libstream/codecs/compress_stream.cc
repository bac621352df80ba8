#include "libstream/codecs/compress_stream.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "libstream/codecs/bundle.h"
#include "libstream/formats/format.h"
#include "libstream/formats/layout_emit.h"
#include "libstream/stream/pipeline.h"
#include "libstream/stream/reader.h"
#include "libstream/stream/writer.h"

namespace mln::codecs {
namespace {

using Clock = std::chrono::steady_clock;

struct Counters {
  std::atomic<uint64_t> frames{0}, raw{0}, stored{0};
  CompressStats Take(uint64_t in, uint64_t out, Clock::time_point start) const {
    return {frames.load(), raw.load(), stored.load(), in, out,
            std::chrono::duration<double>(Clock::now() - start).count()};
  }
};

// Model bytes, tensors and patch ops carry payloads worth compressing; signatures and
// kinds this build does not know pass as they are.
const std::vector<stream::FrameKind> kPayloadKinds = {
    stream::FrameKind::kBytes, stream::FrameKind::kTensor, stream::FrameKind::kDelta};

// Counts the signature frames on their way to `next`: they cover the bytes of the stream
// before them, which compression changes.
class SignatureCounter final : public stream::FrameSink {
 public:
  explicit SignatureCounter(stream::FrameSink& next) : next_(next) {}
  Result<void> Put(stream::Frame frame) override {
    if (frame.header.Is(stream::FrameKind::kSignature)) ++count_;
    return next_.Put(std::move(frame));
  }
  Result<void> Finish() override { return next_.Finish(); }
  uint64_t count() const { return count_; }

 private:
  stream::FrameSink& next_;
  uint64_t count_ = 0;
};

// Decompressed::kModelIfAny's sink: the model file's layout when the first frame is a
// source frame, else the stream; nothing is written before that frame is seen.
class ModelOrStreamSink final : public stream::FrameSink {
 public:
  ModelOrStreamSink(ByteSink& out, formats::LayoutOptions layout) : out_(out), layout_(layout) {}
  Result<void> Put(stream::Frame frame) override {
    if (!chosen_) Choose(frame.header.Is(stream::FrameKind::kSource));
    return chosen_->Put(std::move(frame));
  }
  Result<void> Finish() override {
    if (!chosen_) Choose(false);  // no frame at all: an empty stream, as it was
    return chosen_->Finish();
  }

 private:
  void Choose(bool model) {
    if (model) {
      chosen_ = std::make_unique<formats::LayoutSink>(out_, layout_);
    } else {
      chosen_ = std::make_unique<stream::Writer>(out_, stream::WriterOptions{.background = true});
    }
  }
  ByteSink& out_;
  formats::LayoutOptions layout_;
  std::unique_ptr<stream::FrameSink> chosen_;
};

}  // namespace

Result<CompressStats> CompressStream(ByteSource& in, ByteSink& out, const EncodeOptions& options,
                                     stream::FrameObserver* progress) {
  auto start = Clock::now();
  MLN_TRY(auto head, in.Peek(64));
  bool is_stream = stream::LooksLikeStream(head);
  std::unique_ptr<stream::FrameSource> source;
  std::unique_ptr<stream::Reader> reader;
  if (is_stream) {
    reader = std::make_unique<stream::Reader>(in, stream::FrameChecksOnly());
  } else {
    MLN_TRY(source, formats::OpenModel(in, "", {}));
  }
  stream::FrameSource& src = is_stream ? static_cast<stream::FrameSource&>(*reader) : *source;
  stream::Writer writer(out, stream::WriterOptions{.background = true});
  // A forced codec means exactly that codec per frame, so no bundles then.
  const bool bundle = !options.force;
  BundleSink bundles(writer, options.level);
  Counters count;
  auto encode = [&](std::vector<stream::Frame>& frames) -> Result<void> {
    stream::Frame& f = frames.front();
    if (!is_stream) stream::SealFrame(f);  // parsed frames arrive without checksums
    if (!f.header.Is(stream::FrameKind::kBytes) && !f.header.Is(stream::FrameKind::kTensor) &&
        !f.header.Is(stream::FrameKind::kDelta)) {
      return {};
    }
    count.raw += f.payload.size();
    MLN_RETURN_IF_ERROR(EncodeFrame(f, options));
    count.stored += f.payload.size();
    ++count.frames;
    return {};
  };
  stream::PipelineOptions popts;
  // A stream's other kinds pass untouched; a parsed model's source frame needs sealing.
  if (is_stream) popts.kinds = kPayloadKinds;
  popts.verify_input = is_stream;
  popts.read_ahead = ReadsEndByThemselves(in);
  popts.progress = progress;
  SignatureCounter sink(bundle ? static_cast<stream::FrameSink&>(bundles) : writer);
  auto ok = stream::RunFramePipeline(src, sink, encode, popts);
  if (!ok) return Fail(std::move(ok).error().WithFile(in.name()));
  // A model file is read through a memory mapping, which leaves the read position at 0;
  // its size is what was read.
  uint64_t read = in.position();
  if (!is_stream) read = std::max(read, in.size().value_or(0));
  CompressStats s = count.Take(read, out.position(), start);
  s.stored_bytes -= std::min(s.stored_bytes, bundles.payload_bytes_saved());
  s.signatures = sink.count();
  return s;
}

Result<CompressStats> DecompressStream(ByteSource& in, ByteSink& out, Decompressed what,
                                       stream::FrameObserver* progress,
                                       formats::LayoutOptions layout) {
  layout.background = true;
  auto start = Clock::now();
  stream::Reader reader(in, stream::FrameChecksOnly());
  Counters count;
  auto note = [&](std::vector<stream::Frame>& frames) -> Result<void> {
    // Frames arrive decoded and checked (verify_input).
    count.raw += frames.front().payload.size();
    ++count.frames;
    return {};
  };
  stream::PipelineOptions popts;
  popts.kinds = kPayloadKinds;
  popts.verify_input = true;
  popts.read_ahead = ReadsEndByThemselves(in);
  popts.progress = progress;
  std::unique_ptr<stream::FrameSink> sink;
  if (what == Decompressed::kModelIfAny) {
    sink = std::make_unique<ModelOrStreamSink>(out, layout);
  } else {
    sink = std::make_unique<stream::Writer>(out, stream::WriterOptions{.background = true});
  }
  auto ok = stream::RunFramePipeline(reader, *sink, note, popts);
  if (!ok) return Fail(std::move(ok).error().WithFile(in.name()));
  CompressStats s = count.Take(in.position(), out.position(), start);
  s.stored_bytes = s.raw_bytes;
  return s;
}

}  // namespace mln::codecs
