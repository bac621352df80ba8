// SIMD block quantizers with Highway runtime dispatch, bit-identical to quant_blocks_ref.cc.
//
// Q8_0, Q4_0, TQ1_0 and TQ2_0 vectorize within a block: their reductions are max, which
// any order gives exactly. Q4_K's search (make_qkx2_quants) sums in a fixed sequential
// order, so it is vectorized across sub-blocks instead: lane k runs the scalar algorithm
// for sub-block k, operation for operation, and data-dependent branches become selects.
// That keeps every rounding step of the reference. Compiled with -ffp-contract=off.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "libstream/kernels/quant_blocks.h"
#include "libstream/kernels/quant_blocks_internal.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "libstream/kernels/quant_blocks.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mln::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 lanes of f32 inside one 32-element block keeps the Q4_0 nibble pairing simple.
using DF = hn::CappedTag<float, 16>;
using DI = hn::RebindToSigned<DF>;

template <class V>
V RoundHalfAway(DF df, V v) {  // roundf / lroundf
  const V t = hn::Trunc(v);
  const V frac = hn::Abs(hn::Sub(v, t));
  const V one = hn::CopySign(hn::Set(df, 1.0f), v);
  return hn::Add(t, hn::IfThenElseZero(hn::Ge(frac, hn::Set(df, 0.5f)), one));
}

// What x86 code compiled from the reference makes of a non-finite float converted to an
// integer: cvttss2si gives INT_MIN, whose low byte (and low 32 bits of lroundf's LONG_MIN)
// is 0. Finite values reach here only in range, so zeroing the rest reproduces ggml exactly
// on blocks whose scale underflows (subnormal weights).
template <class V>
V ZeroIfNotFinite(DF df, V v) {
  return hn::IfThenElseZero(hn::Lt(hn::Abs(v), hn::Set(df, 2147483648.0f)), v);
}

float AbsMax(DF df, const float* x, size_t n) {
  const size_t N = hn::Lanes(df);
  auto vmax = hn::Zero(df);
  for (size_t j = 0; j < n; j += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(df, x + j)));
  return hn::GetLane(hn::MaxOfLanes(df, vmax));
}

void StoreHalf(float f, uint8_t* p) {
  uint16_t h = F32ToF16(f);
  std::memcpy(p, &h, 2);
}

void Q8_0(const float* x, size_t nb, uint8_t* y) {
  const DF df;
  const DI di;
  const hn::Rebind<int8_t, DF> d8;
  const size_t N = hn::Lanes(df);
  for (size_t i = 0; i < nb; ++i, x += 32, y += 34) {
    const float amax = AbsMax(df, x, 32);
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    StoreHalf(d, y);
    const auto vid = hn::Set(df, id);
    int8_t* q = reinterpret_cast<int8_t*>(y + 2);
    for (size_t j = 0; j < 32; j += N) {
      auto r = ZeroIfNotFinite(df, RoundHalfAway(df, hn::Mul(hn::LoadU(df, x + j), vid)));
      hn::StoreU(hn::DemoteTo(d8, hn::ConvertTo(di, r)), d8, q + j);
    }
  }
}

void Q4_0(const float* x, size_t nb, uint8_t* y) {
  const DF df;
  const DI di;
  const hn::Rebind<uint8_t, DF> d8;
  const size_t N = hn::Lanes(df);
  for (size_t i = 0; i < nb; ++i, x += 32, y += 18) {
    const float amax = AbsMax(df, x, 32);
    // The reference keeps the first element of largest magnitude, with its sign.
    float max = 0.0f;
    if (amax > 0) {
      const auto vamax = hn::Set(df, amax);
      for (size_t j = 0; j < 32; j += N) {
        const intptr_t k = hn::FindFirstTrue(df, hn::Eq(hn::Abs(hn::LoadU(df, x + j)), vamax));
        if (k >= 0) {
          max = x[j + static_cast<size_t>(k)];
          break;
        }
      }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    StoreHalf(d, y);
    const auto vid = hn::Set(df, id);
    const auto half8 = hn::Set(df, 8.5f);
    const auto fifteen = hn::Set(di, 15);
    for (size_t j = 0; j < 16; j += N) {
      auto fa = ZeroIfNotFinite(df, hn::Add(hn::Mul(hn::LoadU(df, x + j), vid), half8));
      auto fb = ZeroIfNotFinite(df, hn::Add(hn::Mul(hn::LoadU(df, x + 16 + j), vid), half8));
      auto a = hn::Min(hn::ConvertTo(di, fa), fifteen);
      auto b = hn::Min(hn::ConvertTo(di, fb), fifteen);
      auto packed = hn::Or(a, hn::ShiftLeft<4>(b));
      hn::StoreU(hn::DemoteTo(d8, packed), d8, y + 2 + j);
    }
  }
}

// Trits of one 256-element block: ggml's TQ (lroundf(x * id)) or absmean (round half even,
// clipped to [-1, 1]).
void Trits(DF df, const float* x, float id, bool absmean, int8_t* q) {
  const DI di;
  const hn::Rebind<int8_t, DF> d8;
  const size_t N = hn::Lanes(df);
  const auto vid = hn::Set(df, id);
  const auto one = hn::Set(df, 1.0f), minus_one = hn::Set(df, -1.0f);
  for (size_t j = 0; j < 256; j += N) {
    auto v = hn::Mul(hn::LoadU(df, x + j), vid);
    auto r = absmean ? hn::Min(hn::Max(hn::Round(v), minus_one), one)
                     : ZeroIfNotFinite(df, RoundHalfAway(df, v));
    hn::StoreU(hn::DemoteTo(d8, hn::ConvertTo(di, r)), d8, q + j);
  }
}

void Tq(QuantType t, const float* x, size_t nb, uint8_t* y) {
  const DF df;
  HWY_ALIGN int8_t q[256];
  const size_t bytes = QuantBlockBytes(t);
  for (size_t i = 0; i < nb; ++i, x += 256, y += bytes) {
    const float d = AbsMax(df, x, 256);
    const float id = d ? 1.0f / d : 0.0f;
    Trits(df, x, id, false, q);
    if (t == QuantType::kTQ2_0) {
      internal::PackTq2(q, F32ToF16(d), y);
    } else {
      internal::PackTq1(q, F32ToF16(d), y);
    }
  }
}

void Ternary(QuantType t, const float* x, size_t n, float gamma, uint8_t* y) {
  const DF df;
  HWY_ALIGN int8_t q[256];
  const float id = 1.0f / gamma;
  const uint16_t d = F32ToF16(gamma);
  const size_t bytes = QuantBlockBytes(t);
  for (size_t i = 0; i + 256 <= n; i += 256, x += 256, y += bytes) {
    Trits(df, x, id, true, q);
    if (t == QuantType::kTQ2_0) {
      internal::PackTq2(q, d, y);
    } else {
      internal::PackTq1(q, d, y);
    }
  }
}

// ---- Q4_K --------------------------------------------------------------------------------
// Full-width vectors here: lanes are sub-blocks, so any lane count works.
using DQ = hn::CappedTag<float, 16>;
using DQI = hn::RebindToSigned<DQ>;
constexpr size_t kMaxLanes = 16;

template <class V>
hn::Vec<DQI> NearestIntV(V v) {  // ggml's nearest_int, lane-wise
  const DQ df;
  const DQI di;
  auto bits = hn::BitCast(di, hn::Add(v, hn::Set(df, 12582912.f)));
  return hn::Sub(hn::And(bits, hn::Set(di, 0x007fffff)), hn::Set(di, 0x00400000));
}

// make_qkx2_quants(32, 15, x, w, L, &the_min, Laux, -1.f, 0.1f, 20, false) for N
// sub-blocks at once. xs/ws hold element i of lane k at [i * N + k]; L receives levels the
// same way (as floats); scale and the_min one per lane.
void Qkx2Lanes(const float* xs, const float* ws, float* L, float* scale_out, float* min_out) {
  const DQ df;
  const DQI di;
  const size_t N = hn::Lanes(df);
  using V = hn::Vec<DQ>;
  const V zero = hn::Zero(df);
  const auto izero = hn::Zero(di), i15 = hn::Set(di, 15);
  HWY_ALIGN float Laux[32 * kMaxLanes];

  V min = hn::Load(df, xs), max = min;
  V sum_w = hn::Load(df, ws);
  V sum_x = hn::Mul(sum_w, min);
  for (size_t i = 1; i < 32; ++i) {
    const V x = hn::Load(df, xs + i * N), w = hn::Load(df, ws + i * N);
    min = hn::IfThenElse(hn::Lt(x, min), x, min);
    max = hn::IfThenElse(hn::Gt(x, max), x, max);
    sum_w = hn::Add(sum_w, w);
    sum_x = hn::Add(sum_x, hn::Mul(w, x));
  }
  min = hn::IfThenElse(hn::Gt(min, zero), zero, min);
  const auto flat = hn::Eq(max, min);
  const V min0 = min;

  V iscale = hn::Div(hn::Set(df, 15.0f), hn::Sub(max, min));
  V scale = hn::Div(hn::Set(df, 1.0f), iscale);
  V best_error = zero;
  for (size_t i = 0; i < 32; ++i) {
    const V x = hn::Load(df, xs + i * N), w = hn::Load(df, ws + i * N);
    auto l = hn::Max(izero, hn::Min(i15, NearestIntV(hn::Mul(iscale, hn::Sub(x, min)))));
    const V lf = hn::ConvertTo(df, l);
    hn::Store(lf, df, L + i * N);
    V diff = hn::Sub(hn::Add(hn::Mul(scale, lf), min), x);
    diff = hn::Mul(diff, diff);
    best_error = hn::Add(best_error, hn::Mul(w, diff));
  }
  for (int is = 0; is <= 20; ++is) {
    const float num = -1.f + 0.1f * is + 15;  // rmin + rdelta*is + nmax, as floats
    iscale = hn::Div(hn::Set(df, num), hn::Sub(max, min));
    V sum_l = zero, sum_l2 = zero, sum_xl = zero;
    for (size_t i = 0; i < 32; ++i) {
      const V x = hn::Load(df, xs + i * N), w = hn::Load(df, ws + i * N);
      auto l = hn::Max(izero, hn::Min(i15, NearestIntV(hn::Mul(iscale, hn::Sub(x, min)))));
      const V lf = hn::ConvertTo(df, l);
      hn::Store(lf, df, Laux + i * N);
      const V wl = hn::Mul(w, lf);
      sum_l = hn::Add(sum_l, wl);
      sum_l2 = hn::Add(sum_l2, hn::Mul(wl, lf));
      sum_xl = hn::Add(sum_xl, hn::Mul(wl, x));
    }
    const V D = hn::Sub(hn::Mul(sum_w, sum_l2), hn::Mul(sum_l, sum_l));
    const auto dpos = hn::Gt(D, zero);
    if (hn::AllFalse(df, dpos)) continue;
    V this_scale = hn::Div(hn::Sub(hn::Mul(sum_w, sum_xl), hn::Mul(sum_x, sum_l)), D);
    V this_min = hn::Div(hn::Sub(hn::Mul(sum_l2, sum_x), hn::Mul(sum_l, sum_xl)), D);
    const auto mpos = hn::Gt(this_min, zero);
    this_min = hn::IfThenElse(mpos, zero, this_min);
    this_scale = hn::IfThenElse(mpos, hn::Div(sum_xl, sum_l2), this_scale);
    V cur_error = zero;
    for (size_t i = 0; i < 32; ++i) {
      const V x = hn::Load(df, xs + i * N), w = hn::Load(df, ws + i * N);
      V diff = hn::Sub(hn::Add(hn::Mul(this_scale, hn::Load(df, Laux + i * N)), this_min), x);
      diff = hn::Mul(diff, diff);
      cur_error = hn::Add(cur_error, hn::Mul(w, diff));
    }
    const auto take = hn::And(dpos, hn::Lt(cur_error, best_error));
    if (hn::AllFalse(df, take)) continue;
    for (size_t i = 0; i < 32; ++i) {
      hn::Store(hn::IfThenElse(take, hn::Load(df, Laux + i * N), hn::Load(df, L + i * N)), df,
                L + i * N);
    }
    best_error = hn::IfThenElse(take, cur_error, best_error);
    scale = hn::IfThenElse(take, this_scale, scale);
    min = hn::IfThenElse(take, this_min, min);
  }
  // A flat sub-block (max == min) returns early in the reference: levels 0, scale 0.
  for (size_t i = 0; i < 32; ++i) {
    hn::Store(hn::IfThenElse(flat, zero, hn::Load(df, L + i * N)), df, L + i * N);
  }
  hn::Store(hn::IfThenElse(flat, zero, scale), df, scale_out);
  hn::Store(hn::Neg(hn::IfThenElse(flat, min0, min)), df, min_out);
}

void Q4_K(const float* x, size_t nb, uint8_t* y) {
  const DQ df;
  const DQI di;
  const size_t N = hn::Lanes(df);
  const size_t subs = nb * 8;
  // Per-batch state: up to N sub-blocks, i.e. one or more super-blocks (N <= 8 divides 8;
  // N == 16 covers two).
  HWY_ALIGN float xs[32 * kMaxLanes], ws[32 * kMaxLanes], Ls[32 * kMaxLanes];
  HWY_ALIGN float scales_v[kMaxLanes], mins_v[kMaxLanes];
  // Results for the super-blocks of the current batch.
  const size_t batch_subs = N >= 8 ? N : 8;
  std::vector<float> scales(batch_subs), mins(batch_subs);
  std::vector<uint8_t> L(batch_subs * 32);

  for (size_t s0 = 0; s0 < subs; s0 += batch_subs) {
    const size_t batch = std::min(batch_subs, subs - s0);  // whole super-blocks
    for (size_t g = 0; g < batch; g += N) {
      const size_t lanes = std::min(N, batch - g);
      for (size_t k = 0; k < N; ++k) {
        const float* src = x + (s0 + g + k) * 32;
        for (size_t i = 0; i < 32; ++i) xs[i * N + k] = k < lanes ? src[i] : 0.0f;
      }
      // weights[l] = av_x + |x[l]| with av_x = sqrtf(sum_x2 / 32), summed in order.
      auto sum_x2 = hn::Zero(df);
      for (size_t i = 0; i < 32; ++i) {
        auto v = hn::Load(df, xs + i * N);
        sum_x2 = hn::Add(sum_x2, hn::Mul(v, v));
      }
      auto av_x = hn::Sqrt(hn::Div(sum_x2, hn::Set(df, 32.0f)));
      for (size_t i = 0; i < 32; ++i) {
        hn::Store(hn::Add(av_x, hn::Abs(hn::Load(df, xs + i * N))), df, ws + i * N);
      }
      Qkx2Lanes(xs, ws, Ls, scales_v, mins_v);
      for (size_t k = 0; k < lanes; ++k) {
        scales[g + k] = scales_v[k];
        mins[g + k] = mins_v[k];
        for (size_t i = 0; i < 32; ++i) L[(g + k) * 32 + i] = static_cast<uint8_t>(Ls[i * N + k]);
      }
    }
    for (size_t b = 0; b < batch / 8; ++b) {
      const float* xb = x + (s0 + b * 8) * 32;
      uint8_t* Lb = L.data() + b * 256;
      uint8_t sc12[12];
      uint16_t dh, dminh;
      internal::Q4KScales(scales.data() + b * 8, mins.data() + b * 8, sc12, &dh, &dminh);
      for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        internal::GetScaleMinK4(j, sc12, &sc, &m);
        const float d = F16ToF32(dh) * sc;
        if (!d) continue;
        const float dm = F16ToF32(dminh) * m;
        const auto vd = hn::Set(df, d), vdm = hn::Set(df, dm);
        HWY_ALIGN int32_t li[kMaxLanes];
        // Lane counts are powers of two of at most 16 here, so N divides 32.
        for (size_t ii = 0; ii < 32; ii += N) {
          const size_t cnt = N;
          auto v = hn::Div(hn::Add(hn::LoadU(df, xb + 32 * j + ii), vdm), vd);
          auto l = hn::Max(hn::Zero(di), hn::Min(hn::Set(di, 15), NearestIntV(v)));
          hn::Store(l, di, li);
          for (size_t k = 0; k < cnt; ++k) Lb[32 * j + ii + k] = static_cast<uint8_t>(li[k]);
        }
      }
      internal::PackQ4K(Lb, sc12, dh, dminh, y + (s0 / 8 + b) * 144);
    }
  }
}

// ---- conversions ------------------------------------------------------------------------
// f16 -> f32 is exact; f32 -> f16 rounds to nearest even (F16C on x86), as ggml's portable
// converter does for every non-NaN value.
void F16ToF32Impl(const uint16_t* in, size_t n, float* out) {
#if !(HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2)
  // Highway emulates f16 below AVX2 (F16C) and does not keep NaN payloads or every
  // subnormal as ggml does: use the reference conversion there.
  return ref::F16ToF32Row(in, n, out);
#endif
  const DF df;
  const hn::Rebind<hwy::float16_t, DF> dh;
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(in) + i)),
               df, out + i);
  }
  for (; i < n; ++i) out[i] = F16ToF32(in[i]);
}

void F32ToF16Impl(const float* in, size_t n, uint16_t* out) {
#if !(HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2)
  return ref::F32ToF16Row(in, n, out);  // as F16ToF32Impl
#endif
  const DF df;
  const hn::Rebind<hwy::float16_t, DF> dh;
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::DemoteTo(dh, hn::LoadU(df, in + i)), dh,
               reinterpret_cast<hwy::float16_t*>(out) + i);
  }
  for (; i < n; ++i) out[i] = F32ToF16(in[i]);
}

void BF16ToF32Impl(const uint16_t* in, size_t n, float* out) {
  const DF df;
  const hn::RebindToUnsigned<DF> du;
  const hn::Rebind<uint16_t, DF> d16;
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    auto wide = hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, in + i)));
    hn::StoreU(hn::BitCast(df, wide), df, out + i);
  }
  for (; i < n; ++i) {
    uint32_t u = static_cast<uint32_t>(in[i]) << 16;
    std::memcpy(out + i, &u, 4);
  }
}

void QuantizeBlocksImpl(QuantType t, const float* x, size_t n, uint8_t* out) {
  const size_t nb = n / QuantBlockElems(t);
  switch (t) {
    case QuantType::kQ8_0: Q8_0(x, nb, out); break;
    case QuantType::kQ4_0: Q4_0(x, nb, out); break;
    case QuantType::kQ4_K: Q4_K(x, nb, out); break;
    case QuantType::kTQ1_0: case QuantType::kTQ2_0: Tq(t, x, nb, out); break;
  }
}

void QuantizeTernaryImpl(QuantType t, const float* x, size_t n, float gamma, uint8_t* out) {
  Ternary(t, x, n, gamma, out);
}

}  // namespace HWY_NAMESPACE
}  // namespace mln::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mln::kernels {

HWY_EXPORT(QuantizeBlocksImpl);
HWY_EXPORT(QuantizeTernaryImpl);
HWY_EXPORT(F16ToF32Impl);
HWY_EXPORT(F32ToF16Impl);
HWY_EXPORT(BF16ToF32Impl);

void F16ToF32Row(const uint16_t* in, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(F16ToF32Impl)(in, n, out);
}
void F32ToF16Row(const float* in, size_t n, uint16_t* out) {
  HWY_DYNAMIC_DISPATCH(F32ToF16Impl)(in, n, out);
}
void BF16ToF32Row(const uint16_t* in, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(BF16ToF32Impl)(in, n, out);
}

void QuantizeBlocks(QuantType t, const float* x, size_t n, uint8_t* out) {
  HWY_DYNAMIC_DISPATCH(QuantizeBlocksImpl)(t, x, n, out);
}

void QuantizeTernary(QuantType t, const float* x, size_t n, float gamma, uint8_t* out) {
  HWY_DYNAMIC_DISPATCH(QuantizeTernaryImpl)(t, x, n, gamma, out);
}

void DequantizeBlocks(QuantType t, const uint8_t* in, size_t n, float* out) {
  ref::DequantizeBlocks(t, in, n, out);  // memory-bound already; the reference is the kernel
}

}  // namespace mln::kernels
#endif  // HWY_ONCE
