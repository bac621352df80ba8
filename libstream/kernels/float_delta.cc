#include "libstream/kernels/float_delta.h"

#include <cstring>
#include <type_traits>
#include <vector>

namespace mln::kernels {
namespace {

// Order-preserving bijection between float bit patterns and unsigned integers: negative
// values have all bits flipped, positive ones only the sign, so -0 and +0 stay distinct
// and neighbours differ by one.
// Branch-free: signs of trained weights are random, so a branch would mispredict half the
// time.
template <typename U>
U Key(U bits) {
  constexpr unsigned kTop = sizeof(U) * 8 - 1;
  const U sign_fill = U(0) - U(bits >> kTop);  // all ones for negative values
  return U(bits ^ (sign_fill | U(U(1) << kTop)));
}
template <typename U>
U Unkey(U key) {
  constexpr unsigned kTop = sizeof(U) * 8 - 1;
  const U neg_fill = U(U(key >> kTop) - U(1));  // all ones when the key is below the middle
  return U(key ^ (neg_fill | U(U(1) << kTop)));
}
template <typename U>
U ZigZag(U d) {  // d is a two's complement difference
  using S = std::make_signed_t<U>;
  return U(U(d << 1) ^ U(S(d) >> (sizeof(U) * 8 - 1)));
}
template <typename U>
U UnZigZag(U z) {
  return U((z >> 1) ^ U(0 - (z & 1)));
}

template <typename U>
U Load(const uint8_t* p, size_t i) {
  U v;
  std::memcpy(&v, p + i * sizeof(U), sizeof(U));
  return v;
}
template <typename U>
void Store(uint8_t* p, size_t i, U v) {
  std::memcpy(p + i * sizeof(U), &v, sizeof(U));
}

// Start position of each exponent group, from the base alone (so both sides agree).
template <typename U>
std::vector<size_t> GroupStarts(const uint8_t* base, size_t n, FloatLayout l) {
  const U mask = U((1u << l.exp_bits) - 1);
  std::vector<size_t> start(size_t{1} << l.exp_bits, 0);
  for (size_t i = 0; i < n; ++i) ++start[(Load<U>(base, i) >> l.exp_shift) & mask];
  size_t sum = 0;
  for (size_t& s : start) {
    size_t c = s;
    s = sum;
    sum += c;
  }
  return start;
}

template <typename U>
void Encode(const uint8_t* base, const uint8_t* target, size_t n, FloatLayout l, uint8_t* delta) {
  std::vector<size_t> next = GroupStarts<U>(base, n, l);
  const U mask = U((1u << l.exp_bits) - 1);
  for (size_t i = 0; i < n; ++i) {
    U b = Load<U>(base, i);
    U d = U(Key(Load<U>(target, i)) - Key(b));
    Store<U>(delta, next[(b >> l.exp_shift) & mask]++, ZigZag(d));
  }
}

template <typename U>
void Decode(const uint8_t* base, const uint8_t* delta, size_t n, FloatLayout l, uint8_t* target) {
  std::vector<size_t> next = GroupStarts<U>(base, n, l);
  const U mask = U((1u << l.exp_bits) - 1);
  for (size_t i = 0; i < n; ++i) {
    U b = Load<U>(base, i);
    U d = UnZigZag(Load<U>(delta, next[(b >> l.exp_shift) & mask]++));
    Store<U>(target, i, Unkey(U(Key(b) + d)));
  }
}

}  // namespace

void EncodeFloatDelta(const uint8_t* base, const uint8_t* target, size_t n, FloatLayout layout,
                      uint8_t* delta) {
  if (layout.width == 2) Encode<uint16_t>(base, target, n, layout, delta);
  else Encode<uint32_t>(base, target, n, layout, delta);
}

void DecodeFloatDelta(const uint8_t* base, const uint8_t* delta, size_t n, FloatLayout layout,
                      uint8_t* target) {
  if (layout.width == 2) Decode<uint16_t>(base, delta, n, layout, target);
  else Decode<uint32_t>(base, delta, n, layout, target);
}

}  // namespace mln::kernels
