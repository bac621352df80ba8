// The delta of a re-quantized Q8_0 tensor, coded by an adaptive binary range coder with
// contexts that know how Q8_0 quantizes.
//
// A Q8_0 block is an f16 scale d and 32 int8 values q = round(x / d), d = max|x| / 127.
// When the float weights move a little (a fine-tune, then quantizing again), most q stay,
// some move by one, and d moves by a few ulps, which shifts every q by about
// q * (d_old / d_new - 1) in a known direction. A byte-wise delta fed to a generic
// compressor sees ~0.6 bits of information per byte but pays about a bit (Huffman cannot
// go below one bit per symbol) and knows nothing of that shift. Here each q's change is
// coded with probabilities learnt per context of (expected shift, |q_old|): the applier
// decodes the block's new d first, so it knows both. On a real re-quantized model this
// takes the Q8_0 tensors from 1.43 MB (zstd -19 of the byte-wise delta) to about 1.05 MB.
//
// Hand-written because no library offers it: the coder is base/range_coder.h's, the model
// is this file's.
//
// Bytes after the last whole block (alignment padding an op took in) are coded as a
// byte-wise difference.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mln::kernels {

inline constexpr size_t kQ8BlockBytes = 34;  ///< ggml block_q8_0: f16 d + int8 qs[32]

/// Codes `target` (n bytes) against `base` (n bytes) into `out`, which holds `cap` bytes.
/// Returns the bytes written, or 0 when the code would not fit in `cap` (then another op
/// serves better).
size_t EncodeQ8Delta(const uint8_t* base, const uint8_t* target, size_t n, uint8_t* out,
                     size_t cap);

/// Makes `target` (n bytes) from `base` and a payload of EncodeQ8Delta. Any payload
/// decodes to n bytes without reading outside it; a damaged one gives wrong bytes, which
/// the op's checksum catches. Returns false when the payload is not a Q8_0 delta at all.
bool DecodeQ8Delta(const uint8_t* base, const uint8_t* payload, size_t payload_size, size_t n,
                   uint8_t* target);

}  // namespace mln::kernels
