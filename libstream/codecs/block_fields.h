// The "fields" codec (3): quantized blocks regrouped by field before zstd.
//
// A ggml block interleaves fields of different statistics: fp16 scales (whose high bytes
// barely change), packed quants, sub-block scales. Coded interleaved, zstd's one literal
// table per block sees their mixture. Regrouped (every block's scale high byte, then every
// low byte, then every quant field...), each group gets its own table, or is stored as it
// is when it looks random. The field layout is written in the payload, so a decoder needs
// no table of types.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "libstream/base/aligned_buffer.h"
#include "libstream/base/status.h"
#include "libstream/codecs/codec_internal.h"

namespace mln::codecs {

/// Field lengths in bytes, in block order, of a ggml block type worth regrouping; fp16
/// scales count as two one-byte fields. nullopt for other dtypes.
std::optional<std::vector<uint16_t>> BlockFieldLayout(uint32_t dtype);

/// Writes the fields encoding of `in` (blocks of `layout`) to `out`; false when it would
/// not be smaller than `in`.
bool EncodeBlockFields(std::span<const uint8_t> in, const std::vector<uint16_t>& layout,
                       const internal::GroupCoding& coding, AlignedBuffer& out);

/// Decodes a fields payload to exactly `decoded_size` bytes.
Result<void> DecodeBlockFields(std::span<const uint8_t> in, uint64_t decoded_size,
                               AlignedBuffer& out);

}  // namespace mln::codecs
