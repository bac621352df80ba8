// Packs runs of small frames into bundle frames (kind 7) on their way to a sink.
//
// Each frame costs about 100-300 bytes of prefix, FlatBuffers header and padding, and a
// small payload compressed on its own has no context to learn from. A model with hundreds
// of small tensors (MediaPipe's TFLite files) came out of mln-compress larger than the
// file itself. A bundle holds consecutive small frames, encoded as a bare stream (frames
// only, see stream::Writer), stored with codec 5 (below; or as one zstd frame, codec 1,
// when that is smaller); stream::Reader expands it, so every consumer sees the original
// frames with their own headers and checksums. Frames arrive already encoded (a small
// tensor coded on its own still beat the same bytes raw in a shared zstd context, measured
// on MediaPipe's TFLite files); the bundle's zstd takes the headers and graph bytes.
#pragma once

#include <vector>

#include "libstream/codecs/codec.h"
#include "libstream/stream/frame_io.h"

namespace mln::codecs {

/// Codec 5, bundle, for a bundle's body (a bare stream): each frame's prefix and header, and
/// the payloads still raw (graph bytes, small tensors no codec shrank), go in one part that
/// zstd codes at `level`; the payloads their own codec already shrank follow as they are.
/// Coding the whole body in one zstd frame, as codec 1 does, spent most of its time on
/// those coded bytes, which it cannot shrink (bundles were a fifth of compressing a MediaPipe
/// pose model in GGUF), and they broke up the runs of headers it matches against each other.
/// `coded[i]` says whether frame i's payload goes after the zstd part (BundleSink: coded by
/// its own codec and over 4 KiB). Decoding gives back the body exactly.
Result<AlignedBuffer> EncodeBundleBody(std::span<const uint8_t> body,
                                       const std::vector<bool>& coded, int level);
Result<void> DecodeBundleBody(std::span<const uint8_t> stored, uint64_t decoded_size,
                              AlignedBuffer& out);

class BundleSink final : public stream::FrameSink {
 public:
  /// Frames go to `out` (which must outlive this sink), small runs as bundles; `level` as
  /// in EncodeOptions (0: each codec's default).
  BundleSink(stream::FrameSink& out, int level) : out_(out), level_(level) {}

  Result<void> Put(stream::Frame frame) override;
  Result<void> Finish() override;

  /// Payload bytes the bundles written so far saved: their frames' payloads minus the
  /// bundles' stored payloads.
  uint64_t payload_bytes_saved() const { return saved_; }

  /// Frames whose stored payload is at most this size may join a bundle.
  static constexpr size_t kSmallPayload = 64 << 10;
  /// A bundle's body (the frames as a bare stream) stays under this size.
  static constexpr size_t kMaxBody = 1 << 20;

 private:
  Result<void> Flush();

  stream::FrameSink& out_;
  int level_;
  uint64_t saved_ = 0;
  std::vector<stream::Frame> pending_;
  size_t pending_bytes_ = 0;
};

}  // namespace mln::codecs
