#include "libstream/codecs/bundle.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "libstream/base/byte_io.h"
#include "libstream/stream/writer.h"

namespace mln::codecs {
namespace {

using stream::FrameKind;

// Kinds a bundle may hold: what readers hand on as ordinary frames. Signatures cover the
// stream before their own frame, so they stay outside; unknown kinds pass as they came.
bool Bundleable(const stream::FrameHeader& h) {
  return h.Is(FrameKind::kSource) || h.Is(FrameKind::kBytes) || h.Is(FrameKind::kTensor) ||
         h.Is(FrameKind::kPatch) || h.Is(FrameKind::kDelta);
}

}  // namespace

Result<void> BundleSink::Put(stream::Frame frame) {
  if (!Bundleable(frame.header) || frame.payload.size() > kSmallPayload) {
    MLN_RETURN_IF_ERROR(Flush());
    return out_.Put(std::move(frame));
  }
  // Prefix, a generous header estimate and padding: enough to keep the body under kMaxBody.
  const size_t cost = frame.payload.size() + 1024;
  if (pending_bytes_ + cost > kMaxBody) MLN_RETURN_IF_ERROR(Flush());
  pending_bytes_ += cost;
  pending_.push_back(std::move(frame));
  return {};
}

Result<void> BundleSink::Flush() {
  std::vector<stream::Frame> frames = std::move(pending_);
  pending_.clear();
  pending_bytes_ = 0;
  auto put_alone = [&](std::vector<stream::Frame>& fs) -> Result<void> {
    for (auto& f : fs) MLN_RETURN_IF_ERROR(out_.Put(std::move(f)));
    return {};
  };
  if (frames.size() < 2) return put_alone(frames);
  std::vector<uint8_t> body;
  uint64_t payloads = 0, coded = 0;
  {
    auto sink = MakeMemorySink(&body, "bundle");
    stream::Writer bare(*sink, /*bare=*/true);
    for (const auto& f : frames) {
      payloads += f.payload.size();
      if (f.header.codec != static_cast<uint8_t>(stream::Codec::kRaw)) coded += f.payload.size();
      stream::Frame copy;
      copy.header = f.header;
      copy.payload.Resize(f.payload.size());
      if (!f.payload.empty()) std::memcpy(copy.payload.data(), f.payload.data(), f.payload.size());
      MLN_RETURN_IF_ERROR(bare.Put(std::move(copy)));
    }
    MLN_RETURN_IF_ERROR(bare.Finish());
  }
  // Kept only when it saves more than its own frame costs; else the frames go as they are.
  constexpr size_t kBundleOverhead = 256;
  auto compress = [&](int level) -> Result<std::optional<stream::Frame>> {
    stream::Frame bundle;
    bundle.header.kind = static_cast<uint16_t>(FrameKind::kBundle);
    bundle.header.dtype = static_cast<uint32_t>(stream::Dtype::kU8);
    bundle.header.name = frames.front().header.name;  // where it starts, for messages
    bundle.payload.Resize(body.size());
    std::memcpy(bundle.payload.data(), body.data(), body.size());
    stream::SealFrame(bundle);
    MLN_RETURN_IF_ERROR(EncodeFrame(bundle, {.level = level, .force = stream::Codec::kZstd}));
    if (bundle.header.codec == static_cast<uint8_t>(stream::Codec::kRaw) ||
        bundle.payload.size() + kBundleOverhead >= body.size()) {
      return std::nullopt;
    }
    return bundle;
  };
  // A body of payloads already coded (small ternary tensors at 60% of their raw size),
  // with headers under 1/64 of it, rarely shrinks: zstd keeps a block raw unless it saves
  // 1/64 of it (ZSTD_minGain). Level 1 tells first whether it can, at a fraction of the
  // cost of level 6, which took a third of mln-compress's time on TQ2_0 models for nothing.
  const bool mostly_coded =
      (body.size() - std::min<uint64_t>(coded, body.size())) * 64 < body.size();
  if (mostly_coded) {
    MLN_TRY(auto probe, compress(1));
    if (!probe) return put_alone(frames);
  }
  // At least level 6: bundles are small (small frames only, at most 1 MiB), and their
  // headers, graph bytes and small tensors repay it: against level 3 it saved 0.1-0.6% of
  // whole MediaPipe models and brought small Q8_0 models under zstd -3 of the file.
  MLN_TRY(auto bundle, compress(std::max(level_, 6)));
  if (!bundle) return put_alone(frames);
  saved_ += payloads - std::min<uint64_t>(payloads, bundle->payload.size());
  return out_.Put(std::move(*bundle));
}

Result<void> BundleSink::Finish() {
  MLN_RETURN_IF_ERROR(Flush());
  return out_.Finish();
}

}  // namespace mln::codecs
