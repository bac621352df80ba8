// The "bitmap" codec (6): arrays of integers that rise in runs, as each run's first value,
// its span and a bitmap of which values in between it holds.
//
// A pruned weight matrix in TFLite's CSR layout keeps, per row, the sorted column indices
// of its non-zero elements. Half of a row's columns kept means one bit per column of
// information, two per index; differences of consecutive indices (byte planes with the delta
// flag) spend a Huffman symbol of a byte plane on each, about three bits, and zstd at any
// level finds little more in them. As a bitmap over the row's columns the index array is
// near its entropy before any coding: on the prune pair's u16 index arrays 4363 bytes
// against 5618 for their differences at zstd level 19, at level 1.
#pragma once

#include <cstdint>
#include <span>

#include "libstream/base/aligned_buffer.h"
#include "libstream/base/status.h"
#include "libstream/codecs/codec_internal.h"

namespace mln::codecs {

/// Writes the bitmap encoding of `in` (elements of `width` = 1, 2 or 4 bytes, unsigned
/// little-endian; trailing bytes that fill no element go raw) to `out`, with its run table
/// and bitmap coded as `coding` says; false when the elements do not rise in runs long
/// enough to pay (a quick scan decides before anything is coded) or the result would not be
/// smaller.
bool EncodeIndexBitmap(std::span<const uint8_t> in, size_t width,
                       const internal::GroupCoding& coding, AlignedBuffer& out);

/// Decodes a bitmap payload to exactly `decoded_size` bytes. A run whose first or last bit
/// is clear, that passes the element width, a bitmap larger than the decoded size, set bits
/// past a run's end, or a count of elements other than `decoded_size` implies is an error.
Result<void> DecodeIndexBitmap(std::span<const uint8_t> in, uint64_t decoded_size,
                               AlignedBuffer& out);

}  // namespace mln::codecs
