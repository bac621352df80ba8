// Element transforms the float delta kernel and its scalar reference share
// (kernels/float_delta.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "libstream/kernels/float_delta.h"

namespace mln::kernels::internal {

// Order-preserving bijection between float bit patterns and unsigned integers: negative
// values have all bits flipped, positive ones only the sign, so -0 and +0 stay distinct
// and neighbours differ by one.
// Branch-free: signs of trained weights are random, so a branch would mispredict half the
// time.
template <typename U>
inline U Key(U bits) {
  constexpr unsigned kTop = sizeof(U) * 8 - 1;
  const U sign_fill = U(0) - U(bits >> kTop);  // all ones for negative values
  return U(bits ^ (sign_fill | U(U(1) << kTop)));
}
template <typename U>
inline U Unkey(U key) {
  constexpr unsigned kTop = sizeof(U) * 8 - 1;
  const U neg_fill = U(U(key >> kTop) - U(1));  // all ones when the key is below the middle
  return U(key ^ (neg_fill | U(U(1) << kTop)));
}
template <typename U>
inline U ZigZag(U d) {  // d is a two's complement difference
  using S = std::make_signed_t<U>;
  return U(U(d << 1) ^ U(S(d) >> (sizeof(U) * 8 - 1)));
}
template <typename U>
inline U UnZigZag(U z) {
  return U((z >> 1) ^ U(0 - (z & 1)));
}

template <typename U>
inline U Load(const uint8_t* p, size_t i) {
  U v;
  std::memcpy(&v, p + i * sizeof(U), sizeof(U));
  return v;
}
template <typename U>
inline void Store(uint8_t* p, size_t i, U v) {
  std::memcpy(p + i * sizeof(U), &v, sizeof(U));
}

// The exponent group of a base element.
template <typename U>
inline size_t Group(U bits, FloatLayout l) {
  return (bits >> l.exp_shift) & ((1u << l.exp_bits) - 1);
}

}  // namespace mln::kernels::internal
