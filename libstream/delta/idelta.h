// The kIdelta op: a binary delta (zstd_prefix.h) of sorted integer arrays, such as the CSR
// segment and index arrays of a pruned TFLite tensor. Sorted indices are nearly random as
// bytes, but the differences of consecutive elements are small and few, so zstd codes them
// near their entropy; the same transform applied to the base range keeps what the two
// versions share matchable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "libstream/base/aligned_buffer.h"
#include "libstream/base/status.h"

namespace mln::delta {

/// Element width in bytes of an array kIdelta codes: 1, 2 or 4 for the 8-, 16- and 32-bit
/// integer dtypes (stream::Dtype), nullopt for any other.
std::optional<size_t> IdeltaWidth(uint32_t dtype);

/// The payload of a kIdelta op making `target` from `base` (either may be empty): one zstd
/// frame at `level` of kernels::DiffElements(target), with that of base as its prefix.
Result<AlignedBuffer> EncodeIdelta(std::span<const uint8_t> target, std::span<const uint8_t> base,
                                   size_t width, int level);

/// Decodes a kIdelta payload into exactly `out_size` bytes; a damaged payload or another
/// size fails with Errc::kBadData (the caller still checks the op's XXH3).
Result<AlignedBuffer> DecodeIdelta(std::span<const uint8_t> payload,
                                   std::span<const uint8_t> base, size_t width,
                                   uint64_t out_size);

}  // namespace mln::delta
