// Reads an mln stream from a forward-only ByteSource (pipes work; nothing seeks).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/crypto/digest.h"
#include "libstream/stream/frame_io.h"

namespace mln::stream {

struct ReaderOptions {
  /// Largest stored payload accepted; writers chunk tensors far below this.
  uint64_t max_payload = 256ull << 20;
  /// Recompute SHA-256 over the stream and compare it with the trailer's digest.
  bool verify_digest = true;
  /// A bundle's body (frame kind 7, decoded): frames only, no stream header or trailer,
  /// ending where the input ends. Used by Reader itself to expand bundles.
  bool bare = false;
  /// Replace each bundle frame by the frames it holds (see Reader). Filters that pass
  /// frames on as stored (mln-verify --sign) turn this off and use ExpandBundle to look in.
  bool expand_bundles = true;
};

/// Options for filters that transform or emit a stream: per-frame XXH3, header checksums,
/// padding, the frame count and chunk order catch any flipped bit, so the trailer's SHA-256
/// (a serial pass over every byte, most of such a filter's CPU time) is left to mln-verify
/// and mln-inspect, as zstd -d checks its frame checksums but not a signature.
inline ReaderOptions FrameChecksOnly() {
  ReaderOptions o;
  o.verify_digest = false;
  return o;
}

/// Yields every frame before the trailer, with each bundle frame replaced by the frames
/// it holds (its payload decoded and checked first; they share the bundle's index,
/// offset and DigestBefore). Frame headers (prefix check, FlatBuffers
/// verifier), padding, sizes, the trailer's frame count and digest, and end of input right
/// after the trailer are checked here; payload checksums are left to VerifyFrame so they
/// can run in the pipeline's parallel stage.
class Reader final : public FrameSource {
 public:
  Reader(ByteSource& src, ReaderOptions options = {});

  /// The next frame, or nullopt once the trailer has been read and checked. Errors carry
  /// the frame index, frame name and stream offset.
  Result<std::optional<Frame>> Next() override;

  /// The trailer, once Next() has returned nullopt.
  const std::optional<FrameHeader>& trailer() const { return trailer_; }
  uint64_t frames_read() const { return index_; }
  /// SHA-256 of the stream bytes before the frame Next() returned last (before the trailer
  /// once Next() has returned nullopt): what a signature over "everything before this
  /// frame" covers, with no second pass. All zero unless options.verify_digest.
  const crypto::Sha256Digest& DigestBefore() const { return digest_before_; }

 private:
  Result<void> ReadStreamHeader();
  Result<std::optional<Frame>> ReadFrame();
  Result<void> Take(void* dst, size_t n, const char* what);
  Result<void> OpenBundle(Frame bundle);

  // The bundle being expanded: its decoded body and a bare reader over it.
  struct Bundle {
    AlignedBuffer body;
    std::unique_ptr<ByteSource> src;
    std::unique_ptr<Reader> reader;
  };

  ByteSource& src_;
  ReaderOptions options_;
  // Set only when verify_digest, and what says to hash: setting up OpenSSL's digest
  // (EVP_MD_fetch loads its provider) took a millisecond of every run, a fifth of
  // mln-compress -dc on a small model.
  std::optional<crypto::Sha256> sha_;
  bool started_ = false;
  bool done_ = false;
  uint64_t index_ = 0;
  std::optional<FrameHeader> trailer_;
  crypto::Sha256Digest digest_before_{};
  std::unique_ptr<Bundle> bundle_;
  uint64_t bundle_at_ = 0;  // stream offset of the bundle being expanded
};

/// The frames a bundle frame holds, in order, each checked with VerifyFrame.
Result<std::vector<Frame>> ExpandBundle(const Frame& bundle);

/// True when `prefix` (at least 8 bytes) starts like an mln stream.
bool LooksLikeStream(std::span<const uint8_t> prefix);

}  // namespace mln::stream
