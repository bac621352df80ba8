// mln-apply's work: base model + patch stream (patch.h) -> the new model, byte for byte.
#pragma once

#include <array>
#include <functional>

#include "libstream/base/byte_io.h"
#include "libstream/delta/diff.h"
#include "libstream/delta/patch.h"
#include "libstream/formats/format.h"
#include "libstream/stream/frame.h"

namespace mln::delta {

class ModelFile;

struct ApplyOptions {
  unsigned threads = 0;
  /// Largest range one op may make or read: bounds memory against a hostile patch (ops
  /// that mln-diff writes are at most a chunk plus twice its bytes window).
  uint64_t max_op_bytes = 256ull << 20;
  /// Sees every frame of the patch in order (signature policy, progress); an error stops
  /// the apply before the output is committed.
  std::function<Result<void>(const stream::Frame&)> observe;
  /// Called once the whole patch has been read, before success is reported.
  std::function<Result<void>()> at_end;
};

struct ApplyStats {
  PatchInfo info;
  std::array<OpTotals, kOpCount> by_op{};  ///< indexed by PatchOp
  uint64_t bytes_written = 0;
  uint64_t patch_frames = 0;
};

/// Applies `patch` to `base`, writing the new model to `out` in order. Every base range is
/// checked against the XXH3 the patch expects before its bytes are used, every op's
/// output against the XXH3 it promises, and the whole output against the patch's SHA-256
/// before this returns success; `out` must be discarded on failure (cli::Output does).
Result<ApplyStats> ApplyPatch(const ModelFile& base, ByteSource& patch, ByteSink& out,
                              const ApplyOptions& options);

}  // namespace mln::delta
