// Scalar specification of the block quantizers: ports of ggml's reference quantizers
// (ggml/src/ggml-quants.c: quantize_row_{q8_0,q4_0,q4_K,tq1_0,tq2_0}_ref, make_qkx2_quants,
// nearest_int; ggml-impl.h: ggml_compute_fp32_to_fp16). The float operations keep ggml's
// order and rounding exactly; this file is compiled with -ffp-contract=off because an FMA
// would change the result (libggml-base.so is built for baseline x86-64, without FMA).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "libstream/kernels/quant_blocks.h"
#include "libstream/kernels/quant_blocks_internal.h"

namespace mln::kernels {

size_t QuantBlockElems(QuantType t) {
  switch (t) {
    case QuantType::kQ4_0: case QuantType::kQ8_0: return 32;
    case QuantType::kQ4_K: case QuantType::kTQ1_0: case QuantType::kTQ2_0: return 256;
  }
  return 0;
}

size_t QuantBlockBytes(QuantType t) {
  switch (t) {
    case QuantType::kQ4_0: return 18;
    case QuantType::kQ8_0: return 34;
    case QuantType::kQ4_K: return 144;
    case QuantType::kTQ1_0: return 54;
    case QuantType::kTQ2_0: return 66;
  }
  return 0;
}

namespace {
uint32_t Bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
float FromBits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
}  // namespace

// ggml_compute_fp32_to_fp16 (the portable branch, which is what libggml-base uses): round
// to nearest even through float arithmetic, NaN to 0x7E00.
uint16_t F32ToF16(float f) {
  const float scale_to_inf = FromBits(0x77800000u);
  const float scale_to_zero = FromBits(0x08800000u);
  float base = (std::fabs(f) * scale_to_inf) * scale_to_zero;
  const uint32_t w = Bits(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = FromBits((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = Bits(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<uint16_t>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

// ggml_compute_fp16_to_fp32: exact.
float F16ToF32(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const uint32_t exp_offset = 0xE0u << 23;
  const float exp_scale = FromBits(0x7800000u);
  const float normalized_value = FromBits((two_w >> 4) + exp_offset) * exp_scale;
  const uint32_t magic_mask = 126u << 23;
  const float magic_bias = 0.5f;
  const float denormalized_value = FromBits((two_w >> 17) | magic_mask) - magic_bias;
  const uint32_t denormalized_cutoff = 1u << 27;
  const uint32_t result =
      sign | (two_w < denormalized_cutoff ? Bits(denormalized_value) : Bits(normalized_value));
  return FromBits(result);
}

// Eight independent sums per group instead of one chain: a single chain of double adds
// waits on each add's latency (about 4 cycles an element), and this pass is the serial
// part of ternary quantization. Plain C++ keeps the order fixed on every SIMD target, so
// gamma does not depend on the CPU.
void GroupAbsSums(const float* x, size_t n, double* sums) {
  for (size_t g = 0; g + 256 <= n; g += 256) {
    double s[8] = {};
    for (size_t i = 0; i < 256; i += 8) {
      for (size_t j = 0; j < 8; ++j) s[j] += std::fabs(static_cast<double>(x[g + i + j]));
    }
    *sums++ = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  }
}

double SumAbs(const float* x, size_t n, double acc) {
  double sums[64];
  for (size_t g = 0; g + 256 <= n; g += 256 * 64) {
    const size_t groups = std::min<size_t>(64, (n - g) / 256);
    GroupAbsSums(x + g, groups * 256, sums);
    for (size_t i = 0; i < groups; ++i) acc += sums[i];
  }
  return acc;
}

namespace internal {

void PackTq2(const int8_t* q, uint16_t d, uint8_t* out) {
  for (size_t j = 0; j < 64; j += 32) {
    for (size_t m = 0; m < 32; ++m) {
      uint8_t b = 0;
      for (size_t n = 0; n < 4; ++n) b += ((q[m + n * 32] + 1) & 3) << (2 * n);
      out[j + m] = b;
    }
    q += 128;
  }
  std::memcpy(out + 64, &d, 2);
}

void PackTq1(const int8_t* q, uint16_t d, uint8_t* out) {
  uint8_t* qs = out;       // 48 bytes of 5 trits
  uint8_t* qh = out + 48;  // 4 bytes of 4 trits
  // 32 bytes of 5 trits, along 32.
  for (size_t m = 0; m < 32; ++m) {
    uint8_t b = 0;
    for (size_t n = 0; n < 5; ++n) b = static_cast<uint8_t>(b * 3 + (q[m + n * 32] + 1));
    qs[m] = static_cast<uint8_t>((static_cast<uint16_t>(b) * 256 + (243 - 1)) / 243);
  }
  q += 160;
  // 16 bytes of 5 trits, along 16.
  for (size_t m = 0; m < 16; ++m) {
    uint8_t b = 0;
    for (size_t n = 0; n < 5; ++n) b = static_cast<uint8_t>(b * 3 + (q[m + n * 16] + 1));
    qs[32 + m] = static_cast<uint8_t>((static_cast<uint16_t>(b) * 256 + (243 - 1)) / 243);
  }
  q += 80;
  // 4 bytes of 4 trits, the first shifted to the most significant trit.
  for (size_t j = 0; j < 4; ++j) {
    uint8_t b = 0;
    for (size_t m = 0; m < 4; ++m) b = static_cast<uint8_t>(b * 3 + (q[j + m * 4] + 1));
    b = static_cast<uint8_t>(b * 3);
    qh[j] = static_cast<uint8_t>((static_cast<uint16_t>(b) * 256 + (243 - 1)) / 243);
  }
  std::memcpy(out + 52, &d, 2);
}

void PackQ4K(const uint8_t* L, const uint8_t* scales12, uint16_t d, uint16_t dmin,
             uint8_t* out) {
  std::memcpy(out, &d, 2);
  std::memcpy(out + 2, &dmin, 2);
  std::memcpy(out + 4, scales12, 12);
  uint8_t* q = out + 16;
  for (int j = 0; j < 256; j += 64) {
    for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    q += 32;
  }
}

void GetScaleMinK4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

void Q4KScales(const float* scales, const float* mins, uint8_t* scales12, uint16_t* d,
               uint16_t* dmin) {
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  std::memset(scales12, 0, 12);
  for (int j = 0; j < 8; ++j) {
    uint8_t ls = static_cast<uint8_t>(NearestInt(inv_scale * scales[j]));
    uint8_t lm = static_cast<uint8_t>(NearestInt(inv_min * mins[j]));
    ls = ls < 63 ? ls : 63;
    lm = lm < 63 ? lm : 63;
    if (j < 4) {
      scales12[j] = ls;
      scales12[j + 4] = lm;
    } else {
      scales12[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      scales12[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      scales12[j - 0] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  *d = F32ToF16(max_scale / 63.f);
  *dmin = F32ToF16(max_min / 63.f);
}

}  // namespace internal

namespace ref {

void F16ToF32Row(const uint16_t* in, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = F16ToF32(in[i]);
}

void BF16ToF32Row(const uint16_t* in, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = FromBits(static_cast<uint32_t>(in[i]) << 16);
}

void F32ToF16Row(const float* in, size_t n, uint16_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = F32ToF16(in[i]);
}

namespace {

using internal::NearestInt;

void Q8_0(const float* x, size_t nb, uint8_t* y) {
  for (size_t i = 0; i < nb; ++i, x += 32, y += 34) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    uint16_t dh = F32ToF16(d);
    std::memcpy(y, &dh, 2);
    for (int j = 0; j < 32; ++j) y[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::roundf(x[j] * id)));
  }
}

void Q4_0(const float* x, size_t nb, uint8_t* y) {
  for (size_t i = 0; i < nb; ++i, x += 32, y += 18) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    uint16_t dh = F32ToF16(d);
    std::memcpy(y, &dh, 2);
    for (int j = 0; j < 16; ++j) {
      const float x0 = x[j] * id;
      const float x1 = x[16 + j] * id;
      const uint8_t xi0 = std::min<int>(15, static_cast<int8_t>(x0 + 8.5f));
      const uint8_t xi1 = std::min<int>(15, static_cast<int8_t>(x1 + 8.5f));
      y[2 + j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
  }
}

// make_qkx2_quants(32, 15, x, weights, L, &the_min, Laux, -1.f, 0.1f, 20, false): the
// weighted least-squares search over 21 candidate scales that Q4_K uses per 32 weights.
float MakeQkx2Quants(const float* x, const float* weights, uint8_t* L, float* the_min) {
  constexpr int n = 32, nmax = 15, nstep = 20;
  constexpr float rmin = -1.f, rdelta = 0.1f;
  uint8_t Laux[32];
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    int l = NearestInt(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = diff * diff;
    float w = weights[i];
    best_error += w * diff;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = NearestInt(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<uint8_t>(l);
      float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = diff * diff;
        float w = weights[i];
        cur_error += w * diff;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

void Q4_K(const float* x, size_t nb, uint8_t* y) {
  uint8_t L[256];
  float weights[32], mins[8], scales[8];
  for (size_t i = 0; i < nb; ++i, x += 256, y += 144) {
    for (int j = 0; j < 8; ++j) {
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
      float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = MakeQkx2Quants(x + 32 * j, weights, L + 32 * j, &mins[j]);
    }
    uint8_t sc12[12];
    uint16_t dh, dminh;
    internal::Q4KScales(scales, mins, sc12, &dh, &dminh);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      internal::GetScaleMinK4(j, sc12, &sc, &m);
      const float d = F16ToF32(dh) * sc;
      if (!d) continue;
      const float dm = F16ToF32(dminh) * m;
      for (int ii = 0; ii < 32; ++ii) {
        int l = NearestInt((x[32 * j + ii] + dm) / d);
        L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(15, l)));
      }
    }
    internal::PackQ4K(L, sc12, dh, dminh, y);
  }
}

// TQ1_0 / TQ2_0: per-256 absmax, trits by lroundf (half away from zero).
void Tq(QuantType t, const float* x, size_t nb, uint8_t* y) {
  int8_t q[256];
  const size_t bytes = QuantBlockBytes(t);
  for (size_t i = 0; i < nb; ++i, x += 256, y += bytes) {
    float amax = 0.0f;
    for (int j = 0; j < 256; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax;
    const float id = d ? 1.0f / d : 0.0f;
    for (int j = 0; j < 256; ++j) q[j] = static_cast<int8_t>(std::lroundf(x[j] * id));
    if (t == QuantType::kTQ2_0) {
      internal::PackTq2(q, F32ToF16(d), y);
    } else {
      internal::PackTq1(q, F32ToF16(d), y);
    }
  }
}

}  // namespace

void QuantizeBlocks(QuantType t, const float* x, size_t n, uint8_t* out) {
  size_t nb = n / QuantBlockElems(t);
  switch (t) {
    case QuantType::kQ8_0: Q8_0(x, nb, out); break;
    case QuantType::kQ4_0: Q4_0(x, nb, out); break;
    case QuantType::kQ4_K: Q4_K(x, nb, out); break;
    case QuantType::kTQ1_0: case QuantType::kTQ2_0: Tq(t, x, nb, out); break;
  }
}

void QuantizeTernary(QuantType t, const float* x, size_t n, float gamma, uint8_t* out) {
  const float id = 1.0f / gamma;
  const uint16_t d = F32ToF16(gamma);
  int8_t q[256];
  const size_t bytes = QuantBlockBytes(t);
  for (size_t i = 0; i + 256 <= n; i += 256, x += 256, out += bytes) {
    for (int j = 0; j < 256; ++j) {
      float r = std::nearbyint(x[j] * id);  // round half to even, as torch.round
      q[j] = static_cast<int8_t>(r > 1.0f ? 1 : (r < -1.0f ? -1 : r));
    }
    if (t == QuantType::kTQ2_0) {
      internal::PackTq2(q, d, out);
    } else {
      internal::PackTq1(q, d, out);
    }
  }
}

void DequantizeBlocks(QuantType t, const uint8_t* in, size_t n, float* y) {
  size_t nb = n / QuantBlockElems(t);
  auto half = [](const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return F16ToF32(h);
  };
  switch (t) {
    case QuantType::kQ8_0:
      for (size_t i = 0; i < nb; ++i, in += 34) {
        const float d = half(in);
        for (int j = 0; j < 32; ++j) *y++ = static_cast<int8_t>(in[2 + j]) * d;
      }
      break;
    case QuantType::kQ4_0:
      for (size_t i = 0; i < nb; ++i, in += 18, y += 32) {
        const float d = half(in);
        for (int j = 0; j < 16; ++j) {
          y[j] = ((in[2 + j] & 0x0F) - 8) * d;
          y[j + 16] = ((in[2 + j] >> 4) - 8) * d;
        }
      }
      break;
    case QuantType::kQ4_K:
      for (size_t i = 0; i < nb; ++i, in += 144) {
        const float d = half(in), min = half(in + 2);
        const uint8_t* q = in + 16;
        int is = 0;
        uint8_t sc, m;
        for (int j = 0; j < 256; j += 64) {
          internal::GetScaleMinK4(is + 0, in + 4, &sc, &m);
          const float d1 = d * sc, m1 = min * m;
          internal::GetScaleMinK4(is + 1, in + 4, &sc, &m);
          const float d2 = d * sc, m2 = min * m;
          for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
          for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
          q += 32;
          is += 2;
        }
      }
      break;
    case QuantType::kTQ1_0: {
      static const uint8_t pow3[6] = {1, 3, 9, 27, 81, 243};
      for (size_t i = 0; i < nb; ++i, in += 54) {
        const float d = half(in + 52);
        const uint8_t* qs = in;
        const uint8_t* qh = in + 48;
        for (size_t n5 = 0; n5 < 5; ++n5) {
          for (size_t m = 0; m < 32; ++m) {
            uint8_t q = static_cast<uint8_t>(qs[m] * pow3[n5]);
            int16_t xi = static_cast<int16_t>((static_cast<uint16_t>(q) * 3) >> 8);
            *y++ = static_cast<float>(xi - 1) * d;
          }
        }
        for (size_t n5 = 0; n5 < 5; ++n5) {
          for (size_t m = 0; m < 16; ++m) {
            uint8_t q = static_cast<uint8_t>(qs[32 + m] * pow3[n5]);
            int16_t xi = static_cast<int16_t>((static_cast<uint16_t>(q) * 3) >> 8);
            *y++ = static_cast<float>(xi - 1) * d;
          }
        }
        for (size_t n4 = 0; n4 < 4; ++n4) {
          for (size_t j = 0; j < 4; ++j) {
            uint8_t q = static_cast<uint8_t>(qh[j] * pow3[n4]);
            int16_t xi = static_cast<int16_t>((static_cast<uint16_t>(q) * 3) >> 8);
            *y++ = static_cast<float>(xi - 1) * d;
          }
        }
      }
      break;
    }
    case QuantType::kTQ2_0:
      for (size_t i = 0; i < nb; ++i, in += 66) {
        const float d = half(in + 64);
        for (size_t j = 0; j < 64; j += 32) {
          for (size_t l = 0; l < 4; ++l) {
            for (size_t m = 0; m < 32; ++m) {
              int8_t q = static_cast<int8_t>((in[j + m] >> (l * 2)) & 3);
              *y++ = static_cast<float>(q - 1) * d;
            }
          }
        }
      }
      break;
  }
}

}  // namespace ref
}  // namespace mln::kernels
