// The float delta of a fine-tune: each new weight as its distance from the base weight in
// units in the last place, grouped by the base weight's exponent.
//
// A fine-tune moves most weights by a few ulps, and how many depends on the weight's
// magnitude (the same absolute step is more ulps for a small weight). So the delta of
// every element is the difference of order-preserving integer keys of the two floats,
// zigzag-coded so small moves either way are small numbers with zero high bytes, and the
// elements are stably grouped by the base weight's exponent, which the applier knows
// before it decodes: each group then has one narrow distribution, which the byte-plane
// codec's entropy stage codes far better than XOR bytes or a mixed stream.
//
// The grouping is a data-dependent scatter that SIMD does not speed up, and most
// neighbours share an exponent, so a one-pass decoder waits on one group counter's
// store-to-load chain and runs ~25 scalar instructions per element. The decoder instead
// gathers each block's deltas in two interleaved lanes with counters of their own, then
// does the arithmetic on whole vectors (Highway); it gives the bytes of ref:: below.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mln::kernels {

/// Element layouts the float delta knows: F16 (5 exponent bits at bit 10), BF16 (8 at 7),
/// F32 (8 at 23).
struct FloatLayout {
  size_t width;      ///< bytes per element: 2 or 4
  unsigned exp_shift;
  unsigned exp_bits;
};

/// delta[...] = grouped zigzag(key(target[i]) - key(base[i])), n elements of `layout`.
void EncodeFloatDelta(const uint8_t* base, const uint8_t* target, size_t n, FloatLayout layout,
                      uint8_t* delta);
/// The exact inverse: target from base and delta. `target` may not alias `delta`; it may be
/// `base` itself (decoding in place), as each value reads its base value before writing it.
void DecodeFloatDelta(const uint8_t* base, const uint8_t* delta, size_t n, FloatLayout layout,
                      uint8_t* target);

namespace ref {
/// The one-lane scalar specification of the two functions above; same contracts.
void EncodeFloatDelta(const uint8_t* base, const uint8_t* target, size_t n, FloatLayout layout,
                      uint8_t* delta);
void DecodeFloatDelta(const uint8_t* base, const uint8_t* delta, size_t n, FloatLayout layout,
                      uint8_t* target);
}  // namespace ref

}  // namespace mln::kernels
