// Binary deltas of non-tensor bytes through zstd's prefix API (what `zstd --patch-from`
// uses): the base range is a raw-content dictionary the new bytes are matched against.
// Each op has its own bounded base range, so no size limit applies to the whole file.
#pragma once

#include <span>

#include "libstream/base/aligned_buffer.h"
#include "libstream/base/status.h"

namespace mln::delta {

/// One zstd frame of `in`, matched against `prefix`, at `level`.
Result<AlignedBuffer> CompressWithPrefix(std::span<const uint8_t> in,
                                         std::span<const uint8_t> prefix, int level);
/// Decodes a CompressWithPrefix frame into exactly `out_size` bytes; anything else (a
/// corrupt frame, another size) fails with Errc::kBadData.
Result<AlignedBuffer> DecompressWithPrefix(std::span<const uint8_t> in,
                                           std::span<const uint8_t> prefix, uint64_t out_size);

}  // namespace mln::delta
