// The scalar specification of the float delta (kernels/float_delta.h): one pass, one
// counter per exponent group. The kernel must give the same bytes.
#include <vector>

#include "libstream/kernels/float_delta.h"
#include "libstream/kernels/float_delta_internal.h"

namespace mln::kernels::ref {
namespace {

using internal::Group;
using internal::Key;
using internal::Load;
using internal::Store;
using internal::Unkey;
using internal::UnZigZag;
using internal::ZigZag;

// Start position of each exponent group, from the base alone (so both sides agree).
template <typename U>
std::vector<size_t> GroupStarts(const uint8_t* base, size_t n, FloatLayout l) {
  std::vector<size_t> start(size_t{1} << l.exp_bits, 0);
  for (size_t i = 0; i < n; ++i) ++start[Group(Load<U>(base, i), l)];
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
  for (size_t i = 0; i < n; ++i) {
    U b = Load<U>(base, i);
    U d = U(Key(Load<U>(target, i)) - Key(b));
    Store<U>(delta, next[Group(b, l)]++, ZigZag(d));
  }
}

template <typename U>
void Decode(const uint8_t* base, const uint8_t* delta, size_t n, FloatLayout l, uint8_t* target) {
  std::vector<size_t> next = GroupStarts<U>(base, n, l);
  for (size_t i = 0; i < n; ++i) {
    U b = Load<U>(base, i);
    U d = UnZigZag(Load<U>(delta, next[Group(b, l)]++));
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

}  // namespace mln::kernels::ref
