// Byte-plane transforms for float weights: element bytes are regrouped so that plane b
// holds byte b of every element. Exponent bytes of trained weights are highly skewed and
// compress well on their own; mantissa bytes are near-random and are best left alone.
//
// Inputs and outputs need no alignment (frame payloads are 64-byte aligned, planes and
// tails are not). Dispatch is once per call (per chunk of MiBs), never per vector.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mln::kernels {

/// Splits `n` elements of `width` bytes (2 or 4) at `in` into `width` planes of `n` bytes.
/// With `rotate`, each element is first rotated left by one bit as a little-endian
/// integer, which puts the whole 8-bit exponent of f32 and bf16 into the top byte.
void SplitPlanes(const uint8_t* in, size_t n, size_t width, bool rotate, uint8_t* const* planes);
/// The exact inverse of SplitPlanes.
void MergePlanes(const uint8_t* const* planes, size_t n, size_t width, bool rotate, uint8_t* out);

namespace ref {
/// Scalar specifications that the SIMD versions are tested against on every target.
void SplitPlanes(const uint8_t* in, size_t n, size_t width, bool rotate, uint8_t* const* planes);
void MergePlanes(const uint8_t* const* planes, size_t n, size_t width, bool rotate, uint8_t* out);
}  // namespace ref

}  // namespace mln::kernels
