// Per-frame payload codecs. A frame header records the codec of its stored payload, the
// decoded size and the XXH3 of the decoded bytes, so every consumer can decode and check.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "libstream/base/aligned_buffer.h"
#include "libstream/base/status.h"
#include "libstream/stream/frame.h"

namespace mln::codecs {

struct EncodeOptions {
  /// zstd level of the entropy stage (1..19); 0 picks per codec: 1 for byte planes and
  /// block fields (higher levels rarely shrink exponent planes or quant groups), 3 for plain
  /// zstd (graph and metadata bytes do gain from it, and zstd -3 is what users compare with).
  int level = 0;
  std::optional<stream::Codec> force;   ///< skip the choice; raw output if it would not shrink
};

/// The element type a frame's payload holds: its dtype, except for a sparse TFLite tensor,
/// which travels as u8 (its bytes are the non-zero values only, which its dense shape does
/// not describe) while tflite.type says which floats they are: f16, f32 or bf16 then.
uint32_t ValueDtype(const stream::FrameHeader& h);

/// Compresses a raw, sealed frame in place with the best codec for its values (byte planes
/// or zstd for f32/f16/bf16 and for 16/32-bit integers as differences, chosen by a trial;
/// block fields for ggml block types; zstd otherwise); keeps it raw when nothing shrinks it.
/// Frames already encoded are left as they are.
Result<void> EncodeFrame(stream::Frame& frame, const EncodeOptions& options);

/// Decodes a frame's payload in place to raw bytes and checks its size and checksum.
Result<void> DecodeFrame(stream::Frame& frame);

/// Decodes `stored` as `codec` into `out`, which gets exactly `decoded_size` bytes.
Result<void> DecodePayload(uint8_t codec, std::span<const uint8_t> stored, uint64_t decoded_size,
                           AlignedBuffer& out);

/// "raw", "zstd", "byteplane", "fields", "palette"; "codec<N>" for unknown ids.
std::string CodecName(uint8_t codec);
/// Parses a codec name for --codec.
std::optional<stream::Codec> ParseCodec(std::string_view name);

}  // namespace mln::codecs
