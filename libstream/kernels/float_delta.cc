// The float delta's decode in two passes per block: a scalar gather of each element's delta
// from its exponent group, then the arithmetic on whole vectors (Highway runtime dispatch).
// In one pass, the ~25 scalar instructions per element bounded the loop, not memory.
#include "libstream/kernels/float_delta.h"

#include <algorithm>

#include "libstream/kernels/float_delta_internal.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "libstream/kernels/float_delta.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mln::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Lanes: contiguous parts of the elements, each with a counter per group of its own, whose
// gathers interleave so that the store-to-load chains through the counters overlap (most
// neighbours share an exponent, hence a counter). Within a group the delta keeps element
// order, so lane k's elements of a group follow those of lanes 0..k-1: its counters start
// where theirs end.
constexpr size_t kLanes = 2;  // 4 were slower: more streams, and spills
constexpr size_t kMaxGroups = 256;  // 8 exponent bits at most
// Elements per lane gathered before the arithmetic pass: all lanes' deltas stay in L1.
constexpr size_t kBlock = 1024;

template <typename U>
struct Plan {
  size_t bound[kLanes + 1];  // lane k covers elements [bound[k], bound[k + 1])
  size_t common;             // elements every lane has (the shortest one's count)
  size_t next[kLanes][kMaxGroups];  // where lane k's next element of group g is in the delta
};

// The counters' start values, from the base alone (as the encoder's): a histogram per lane,
// then an exclusive prefix sum in group-major, lane-minor order.
template <typename U>
void PlanLanes(const uint8_t* base, size_t n, FloatLayout l, Plan<U>& p) {
  for (size_t k = 0; k <= kLanes; ++k) p.bound[k] = n / kLanes * k + std::min(k, n % kLanes);
  p.common = n / kLanes;
  std::fill_n(&p.next[0][0], kLanes * kMaxGroups, 0);
  for (size_t i = 0; i < p.common; ++i) {
    for (size_t k = 0; k < kLanes; ++k) {
      ++p.next[k][internal::Group(internal::Load<U>(base, p.bound[k] + i), l)];
    }
  }
  for (size_t k = 0; k < kLanes; ++k) {
    for (size_t i = p.bound[k] + p.common; i < p.bound[k + 1]; ++i) {
      ++p.next[k][internal::Group(internal::Load<U>(base, i), l)];
    }
  }
  size_t sum = 0;
  for (size_t g = 0; g < (size_t{1} << l.exp_bits); ++g) {
    for (size_t k = 0; k < kLanes; ++k) {
      size_t c = p.next[k][g];
      p.next[k][g] = sum;
      sum += c;
    }
  }
}

// target[i] = Unkey(Key(base[i]) + UnZigZag(z[i])) for `count` elements; the vector form of
// internal::Key, Unkey and UnZigZag.
template <typename U>
void Finish(const uint8_t* base, const U* z, size_t count, uint8_t* target) {
  const hn::ScalableTag<U> d;
  const size_t lanes = hn::Lanes(d);
  constexpr int kTop = sizeof(U) * 8 - 1;
  const auto top = hn::Set(d, U(U(1) << kTop));
  const auto one = hn::Set(d, U(1));
  const auto zero = hn::Zero(d);
  size_t i = 0;
  for (; i + lanes <= count; i += lanes) {
    auto b = hn::LoadU(d, reinterpret_cast<const U*>(base) + i);
    auto zz = hn::LoadU(d, z + i);
    auto key = hn::Xor(b, hn::Or(hn::Sub(zero, hn::ShiftRight<kTop>(b)), top));
    auto delta = hn::Xor(hn::ShiftRight<1>(zz), hn::Sub(zero, hn::And(zz, one)));
    auto sum = hn::Add(key, delta);
    auto out = hn::Xor(sum, hn::Or(hn::Sub(hn::ShiftRight<kTop>(sum), one), top));
    hn::StoreU(out, d, reinterpret_cast<U*>(target) + i);
  }
  for (; i < count; ++i) {
    U b = internal::Load<U>(base, i);
    internal::Store<U>(target, i, internal::Unkey(U(internal::Key(b) + internal::UnZigZag(z[i]))));
  }
}

template <typename U>
void Decode(const uint8_t* base, const uint8_t* delta, size_t n, FloatLayout l, uint8_t* target) {
  Plan<U> p;
  PlanLanes<U>(base, n, l, p);
  HWY_ALIGN U z[kLanes][kBlock];
  // Gathers lane k's deltas for its elements [from, from + count) into z[k].
  auto gather = [&](size_t k, size_t from, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      z[k][i] = internal::Load<U>(delta, p.next[k][internal::Group(internal::Load<U>(base, from + i), l)]++);
    }
  };
  for (size_t i0 = 0; i0 < p.common; i0 += kBlock) {
    const size_t count = std::min(kBlock, p.common - i0);
    for (size_t i = 0; i < count; ++i) {
      for (size_t k = 0; k < kLanes; ++k) {
        const U b = internal::Load<U>(base, p.bound[k] + i0 + i);
        z[k][i] = internal::Load<U>(delta, p.next[k][internal::Group(b, l)]++);
      }
    }
    for (size_t k = 0; k < kLanes; ++k) {
      const size_t at = (p.bound[k] + i0) * sizeof(U);
      Finish<U>(base + at, z[k], count, target + at);
    }
  }
  for (size_t k = 0; k < kLanes; ++k) {  // the one element a longer lane has more
    const size_t from = p.bound[k] + p.common, count = p.bound[k + 1] - from;
    gather(k, from, count);
    Finish<U>(base + from * sizeof(U), z[k], count, target + from * sizeof(U));
  }
}

void DecodeFloatDelta(const uint8_t* base, const uint8_t* delta, size_t n, FloatLayout layout,
                      uint8_t* target) {
  if (layout.width == 2) Decode<uint16_t>(base, delta, n, layout, target);
  else Decode<uint32_t>(base, delta, n, layout, target);
}

}  // namespace HWY_NAMESPACE
}  // namespace mln::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mln::kernels {

HWY_EXPORT(DecodeFloatDelta);

// Encoding runs once per patch, in mln-diff, where the codec dominates: the one-lane
// specification is fast enough there.
void EncodeFloatDelta(const uint8_t* base, const uint8_t* target, size_t n, FloatLayout layout,
                      uint8_t* delta) {
  ref::EncodeFloatDelta(base, target, n, layout, delta);
}

void DecodeFloatDelta(const uint8_t* base, const uint8_t* delta, size_t n, FloatLayout layout,
                      uint8_t* target) {
  HWY_DYNAMIC_DISPATCH(DecodeFloatDelta)(base, delta, n, layout, target);
}

}  // namespace mln::kernels
#endif  // HWY_ONCE
