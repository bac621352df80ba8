// Byte-wise delta kernels for patches: XOR for floats (a fine-tune leaves sign, exponent
// and high mantissa bytes equal, so the XOR is mostly zero bytes) and wrapping byte
// subtraction for integer and quantized blocks (a value that moves by one becomes 0x01 or
// 0xFF, where XOR would scatter carries over several bits).
//
// No alignment is needed. Dispatch is once per call (per chunk of MiBs).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mln::kernels {

/// inout[i] ^= other[i].
void XorBytes(uint8_t* inout, const uint8_t* other, size_t n);
/// inout[i] -= base[i] (mod 256): turns new bytes into a delta against base.
void SubBytes(uint8_t* inout, const uint8_t* base, size_t n);
/// inout[i] += base[i] (mod 256): turns a delta back into new bytes.
void AddBytes(uint8_t* inout, const uint8_t* base, size_t n);

namespace ref {
void XorBytes(uint8_t* inout, const uint8_t* other, size_t n);
void SubBytes(uint8_t* inout, const uint8_t* base, size_t n);
void AddBytes(uint8_t* inout, const uint8_t* base, size_t n);
}  // namespace ref

}  // namespace mln::kernels
