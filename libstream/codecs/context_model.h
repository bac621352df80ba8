// The context-model group method (byte-plane method 2): an adaptive binary arithmetic coder
// whose predictions come from a byte's neighbours, mixed online.
//
// Why: Huffman codes each plane order-0, from a table it must store. A float tensor's
// exponent plane holds more than that. In face_landmark's output_mesh kernel (1404 output
// channels, three per landmark) the sign and exponent of a weight follow those of the same
// weight one landmark back, 864 elements earlier: coded with that byte as context the plane
// takes 216 KB against 277 KB for zstd level 1 and 263 KB for level 19, which finds only
// what repeats exactly. And a small tensor's plane pays no table: the model learns as it goes.
//
// How: each byte is coded bit by bit, high bit first, as a walk down a binary tree of 255
// nodes. Two counters predict each bit: the node alone (order 0) and the node under the byte
// `stride` places back. A mixer per bit depth weighs their stretched predictions and learns
// from each bit's outcome. The encoder picks the stride among the tensor's own (a row, a
// channel, a few output channels) by the conditional entropy of a sample. Everything is
// integer arithmetic, so every machine decodes what another encoded.
//
// Written by hand: zstd, the only entropy coder in the build, codes order 0 only (Huffman and
// FSE tables), and no packaged library offers a context-mixing model for byte planes. The
// coder under the model is base/range_coder.h's, which the Q8_0 patch delta shares.
//
// The cost is speed: about 10 MB/s of plane bytes both ways on the test VM (the 1.2 MB of
// face_landmark_with_attention's exponent planes decode in 0.12 s), where Huffman decodes at
// over 1 GB/s. So mln-compress uses it only at its strongest levels (kContextModelLevel), and
// on planes over 256 KiB only where it saves a sixteenth of what zstd keeps (codec.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "libstream/base/status.h"

namespace mln::codecs::internal {

/// From this zstd level on, byte planes of floats also try the context model.
inline constexpr int kContextModelLevel = 16;

/// The stride among `candidates` (each at least 1) whose byte that far back best predicts a
/// byte of `plane`, by the conditional entropy of a sample; 1 without candidates.
uint32_t PickContextStride(std::span<const uint8_t> plane, std::span<const uint32_t> candidates);

/// Codes `plane` with the context model at `stride` into `dst` (capacity `cap`): a 5-byte
/// head (version, stride u32 LE), then the coded bits. nullopt when that would not be
/// smaller than `cap`.
std::optional<size_t> ContextEncode(std::span<const uint8_t> plane, uint32_t stride, uint8_t* dst,
                                    size_t cap);

/// Decodes a context-model group to exactly `size` bytes at `out`. A bad head fails with
/// Errc::kBadData naming `what`; damaged coded bits decode to wrong bytes, which the frame's
/// checksum then rejects (the decoder never reads past `in` nor writes past `size`).
Result<void> ContextDecode(std::span<const uint8_t> in, uint8_t* out, size_t size,
                           const char* what);

}  // namespace mln::codecs::internal
