// The "palette" codec (4): payloads of few distinct elements as a value table and packed
// indices.
//
// Some float tensors take only a handful of values: BitNet b1.58 weights stored as f16 are
// {-s, 0, +s} per tensor, weights dequantized from int4/int8 with one scale per tensor take
// at most 16 or 256. Byte planes code such values at 1.6 bits or more per plane (each plane
// pays its own Huffman rounding), and zstd finds no long matches in them. Written as
// indices into a table of the distinct values, packed 8, 4, 2 or 1 to a byte, the packed
// bytes carry several elements per Huffman symbol and come close to the values' entropy
// (1.58 bits for three equally likely values).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "libstream/base/aligned_buffer.h"
#include "libstream/base/status.h"
#include "libstream/codecs/codec_internal.h"

namespace mln::codecs {

/// At most this many distinct values make a palette (8-bit indices).
inline constexpr size_t kMaxPaletteValues = 256;

/// The distinct elements of `in` (elements of `width` = 2 or 4 bytes, little-endian,
/// trailing bytes that fill no element ignored), ascending; nullopt when there are more than
/// kMaxPaletteValues or no whole element. Stops reading as soon as the count is passed, so
/// it costs little on ordinary weights.
std::optional<std::vector<uint32_t>> FindPalette(std::span<const uint8_t> in, size_t width);

/// Writes the palette encoding of `in` to `out` with its indices coded as `coding` says;
/// false when `in` has too many distinct values or the result would not be smaller.
bool EncodePalette(std::span<const uint8_t> in, size_t width, const internal::GroupCoding& coding,
                   AlignedBuffer& out);

/// Decodes a palette payload to exactly `decoded_size` bytes; an index outside the table,
/// a bad head or a group of the wrong size is an error.
Result<void> DecodePalette(std::span<const uint8_t> in, uint64_t decoded_size,
                           AlignedBuffer& out);

}  // namespace mln::codecs
