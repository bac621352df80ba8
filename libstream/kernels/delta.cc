// SIMD byte-wise deltas with Highway runtime dispatch (one compiled copy per target).
#include "libstream/kernels/delta.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "libstream/kernels/delta.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mln::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class Op, class ScalarOp>
void Combine(uint8_t* inout, const uint8_t* other, size_t n, Op op, ScalarOp scalar) {
  const hn::ScalableTag<uint8_t> d;
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    for (size_t k = 0; k < 4; ++k) {
      auto a = hn::LoadU(d, inout + i + k * lanes);
      auto b = hn::LoadU(d, other + i + k * lanes);
      hn::StoreU(op(a, b), d, inout + i + k * lanes);
    }
  }
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(op(hn::LoadU(d, inout + i), hn::LoadU(d, other + i)), d, inout + i);
  }
  for (; i < n; ++i) inout[i] = scalar(inout[i], other[i]);
}

void XorBytes(uint8_t* inout, const uint8_t* other, size_t n) {
  Combine(inout, other, n, [](auto a, auto b) { return hn::Xor(a, b); },
          [](uint8_t a, uint8_t b) { return static_cast<uint8_t>(a ^ b); });
}

void SubBytes(uint8_t* inout, const uint8_t* base, size_t n) {
  Combine(inout, base, n, [](auto a, auto b) { return hn::Sub(a, b); },
          [](uint8_t a, uint8_t b) { return static_cast<uint8_t>(a - b); });
}

void AddBytes(uint8_t* inout, const uint8_t* base, size_t n) {
  Combine(inout, base, n, [](auto a, auto b) { return hn::Add(a, b); },
          [](uint8_t a, uint8_t b) { return static_cast<uint8_t>(a + b); });
}

}  // namespace HWY_NAMESPACE
}  // namespace mln::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mln::kernels {

HWY_EXPORT(XorBytes);
HWY_EXPORT(SubBytes);
HWY_EXPORT(AddBytes);

void XorBytes(uint8_t* inout, const uint8_t* other, size_t n) {
  HWY_DYNAMIC_DISPATCH(XorBytes)(inout, other, n);
}
void SubBytes(uint8_t* inout, const uint8_t* base, size_t n) {
  HWY_DYNAMIC_DISPATCH(SubBytes)(inout, base, n);
}
void AddBytes(uint8_t* inout, const uint8_t* base, size_t n) {
  HWY_DYNAMIC_DISPATCH(AddBytes)(inout, base, n);
}

}  // namespace mln::kernels
#endif  // HWY_ONCE
