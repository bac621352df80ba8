// mln-apply's work: base model + patch stream (patch.h) -> the new model, byte for byte.
#pragma once

#include <array>
#include <functional>
#include <optional>

#include "libstream/base/byte_io.h"
#include "libstream/delta/diff.h"
#include "libstream/delta/patch.h"
#include "libstream/formats/format.h"
#include "libstream/stream/frame.h"
#include "libstream/verify/verify.h"

namespace mln::delta {

class ModelFile;

struct ApplyOptions {
  unsigned threads = 0;
  /// Largest range one op may make or read: bounds memory against a hostile patch (ops
  /// that mln-diff writes are at most a chunk plus twice its bytes window).
  uint64_t max_op_bytes = 256ull << 20;
  /// When set, the patch must carry signatures this policy trusts (mln-verify's rules:
  /// threshold, name, version floor, expiry, and `state` against downgrades and replays);
  /// checked in the same single pass, before success is reported.
  const verify::TrustPolicy* trust = nullptr;
  const verify::VersionState* state = nullptr;
  /// Sees every frame of the patch in order (progress).
  stream::FrameObserver* progress = nullptr;
};

struct ApplyStats {
  PatchInfo info;
  std::array<OpTotals, kOpCount> by_op{};  ///< indexed by PatchOp
  uint64_t bytes_written = 0;
  uint64_t patch_frames = 0;
  std::optional<verify::Manifest> accepted;  ///< the trusted manifest, with a policy
};

/// Applies `patch` to `base`, writing the new model to `out` in order. Every base range is
/// checked against the XXH3 the patch expects before its bytes are used, every op's
/// output against the XXH3 it promises, and the whole output against the patch's SHA-256
/// before this returns success; `out` must be discarded on failure (cli::Output does).
Result<ApplyStats> ApplyPatch(const ModelFile& base, ByteSource& patch, ByteSink& out,
                              const ApplyOptions& options);

}  // namespace mln::delta
