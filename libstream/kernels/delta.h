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

/// Sparse byte-wise delta, for re-quantized blocks where most bytes stay and the others
/// move by one: a bitmap of the bytes that differ (bit i%8 of byte i/8), then target - base
/// (mod 256) of each of them in order. zstd codes this far below the 1 bit per byte its
/// Huffman stage needs for a dense delta that is mostly zeros. Scalar: the bitmap walk is
/// branchy and the work is a fraction of the entropy stage's.
/// Writes at most SparseBound(n) bytes to `out` and returns how many.
size_t EncodeSparse(const uint8_t* base, const uint8_t* target, size_t n, uint8_t* out);
inline size_t SparseBound(size_t n) { return (n + 7) / 8 + n; }
/// Makes `n` target bytes in `inout` (which holds the base bytes) from an EncodeSparse
/// payload; false when the payload does not fit `n` (a bit count that disagrees with its
/// size, or bits past n).
bool ApplySparse(const uint8_t* payload, size_t size, size_t n, uint8_t* inout);

/// Replaces each little-endian element of `width` bytes (1, 2 or 4) by its difference from
/// the one before (the first from 0), modulo 2^(8*width), in place; a tail shorter than an
/// element is left as it is. Sorted integer arrays (CSR indices of a sparse tensor) are
/// nearly random as bytes, but their differences are small and few, so zstd codes them
/// near their entropy. Scalar: a running sum is serial.
void DiffElements(uint8_t* bytes, size_t size, size_t width);
/// Inverse of DiffElements: running sums modulo 2^(8*width), in place.
void SumElements(uint8_t* bytes, size_t size, size_t width);

namespace ref {
void XorBytes(uint8_t* inout, const uint8_t* other, size_t n);
void SubBytes(uint8_t* inout, const uint8_t* base, size_t n);
void AddBytes(uint8_t* inout, const uint8_t* base, size_t n);
}  // namespace ref

}  // namespace mln::kernels
