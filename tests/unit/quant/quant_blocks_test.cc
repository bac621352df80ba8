// Every compiled SIMD target of the block quantizers against the scalar specification.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "libstream/kernels/quant_blocks.h"
#include "tests/support/test_util.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/unit/quant/quant_blocks_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"

HWY_BEFORE_NAMESPACE();
namespace mln::kernels {
namespace HWY_NAMESPACE {

constexpr QuantType kAll[] = {QuantType::kQ8_0, QuantType::kQ4_0, QuantType::kQ4_K,
                              QuantType::kTQ1_0, QuantType::kTQ2_0};

std::vector<float> Data(size_t n, uint64_t seed, int kind) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(n + 1);
  for (size_t i = 0; i < n + 1; ++i) {
    switch (kind) {
      case 0: v[i] = g(rng) * 0.02f; break;
      case 1: v[i] = 0.0f; break;
      case 2: v[i] = static_cast<float>(static_cast<int>(i % 33) - 16) * 0.25f; break;  // ties
      case 3: v[i] = (i % 97 == 0) ? 1e4f : g(rng) * 1e-3f; break;                       // outliers
      default: v[i] = std::fabs(g(rng)) + 1.0f; break;                                   // all > 0
    }
  }
  return v;
}

// Block counts 0, 1, and odd counts that leave a partial group of Q4_K lanes; the input is
// offset by one float so nothing is aligned.
void TestQuantizeMatchesReference() {
  for (QuantType t : kAll) {
    const size_t blk = QuantBlockElems(t), bytes = QuantBlockBytes(t);
    for (size_t nb : {0u, 1u, 2u, 3u, 5u, 17u, 64u}) {
      for (int kind = 0; kind < 5; ++kind) {
        auto data = Data(nb * blk, nb * 31 + kind, kind);
        const float* x = data.data() + 1;
        std::vector<uint8_t> want(nb * bytes + 1), got(nb * bytes + 1);
        ref::QuantizeBlocks(t, x, nb * blk, want.data());
        QuantizeBlocks(t, x, nb * blk, got.data() + 1);
        ASSERT_EQ(0, std::memcmp(want.data(), got.data() + 1, nb * bytes))
            << "type " << static_cast<int>(t) << " blocks " << nb << " kind " << kind;
      }
    }
  }
}

void TestTernaryMatchesReference() {
  for (QuantType t : {QuantType::kTQ1_0, QuantType::kTQ2_0}) {
    for (size_t nb : {1u, 3u, 16u}) {
      for (int kind = 0; kind < 5; ++kind) {
        auto data = Data(nb * 256, nb + kind, kind);
        double sum = SumAbs(data.data(), nb * 256, 0.0);
        float gamma = std::max(1e-5f, static_cast<float>(sum / (nb * 256)));
        std::vector<uint8_t> want(nb * QuantBlockBytes(t)), got(want.size());
        ref::QuantizeTernary(t, data.data(), nb * 256, gamma, want.data());
        QuantizeTernary(t, data.data(), nb * 256, gamma, got.data());
        ASSERT_EQ(want, got) << "ternary type " << static_cast<int>(t) << " blocks " << nb
                             << " kind " << kind;
      }
    }
  }
}

// Conversions on random bit patterns (f16: every one; f32: NaN excluded, where only the
// payload may differ), with odd lengths for the tails.
void TestConversionsMatchReference() {
  std::vector<uint16_t> h(65536 + 3);
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint16_t>(i * 40503u);
  for (size_t n : {0u, 1u, 7u, 17u, 65539u}) {
    // n + 1: an empty vector's data() may be null, which memcmp must not see.
    std::vector<float> a(n + 1), b(n + 1);
    ref::F16ToF32Row(h.data(), n, a.data());
    F16ToF32Row(h.data(), n, b.data());
    ASSERT_EQ(0, std::memcmp(a.data(), b.data(), n * 4)) << "f16 n " << n;
    ref::BF16ToF32Row(h.data(), n, a.data());
    BF16ToF32Row(h.data(), n, b.data());
    ASSERT_EQ(0, std::memcmp(a.data(), b.data(), n * 4)) << "bf16 n " << n;
  }
  std::mt19937_64 rng(9);
  std::vector<float> f(100003);
  for (float& x : f) {
    do {
      uint32_t u = static_cast<uint32_t>(rng());
      if (rng() % 2) u = (u & 0x807FFFFFu) | ((100u + rng() % 60u) << 23);  // near f16's range
      std::memcpy(&x, &u, 4);
    } while (std::isnan(x));
  }
  std::vector<uint16_t> a(f.size()), b(f.size());
  ref::F32ToF16Row(f.data(), f.size(), a.data());
  F32ToF16Row(f.data(), f.size(), b.data());
  ASSERT_EQ(a, b);
}

}  // namespace HWY_NAMESPACE
}  // namespace mln::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
// Outside namespace mln: Highway's test macros name `testing::`, which must be GoogleTest's.
namespace mln_quant_blocks_test {
using namespace mln::kernels;  // NOLINT: HWY_EXPORT finds the per-target functions here
HWY_BEFORE_TEST(QuantBlocksTarget);
HWY_EXPORT_AND_TEST_P(QuantBlocksTarget, TestQuantizeMatchesReference);
HWY_EXPORT_AND_TEST_P(QuantBlocksTarget, TestTernaryMatchesReference);
HWY_EXPORT_AND_TEST_P(QuantBlocksTarget, TestConversionsMatchReference);

// BitNet absmean semantics, checked by dequantizing: every weight comes back as exactly
// fp16(gamma) times -1, 0 or 1, the block scale is fp16(gamma), and the trit is the
// nearest of the three to w / gamma (ties to even).
TEST(Ternary, DequantizesToScaleTimesTrits) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> g(0.0f, 0.05f);
  const size_t n = 4 * 256;
  std::vector<float> w(n);
  for (float& f : w) f = g(rng);
  w[3] = 0.0f;
  const float gamma = static_cast<float>(SumAbs(w.data(), n, 0.0) / n);
  w[5] = gamma * 0.5f;   // a tie: rounds to even, 0
  w[6] = gamma * 1.5f;   // a tie: rounds to 2, clipped to 1
  w[7] = -gamma * 10.f;  // clipped to -1
  for (QuantType t : {QuantType::kTQ1_0, QuantType::kTQ2_0}) {
    std::vector<uint8_t> q(n / 256 * QuantBlockBytes(t));
    QuantizeTernary(t, w.data(), n, gamma, q.data());
    std::vector<float> back(n);
    DequantizeBlocks(t, q.data(), n, back.data());
    const float d = F16ToF32(F32ToF16(gamma));
    for (size_t i = 0; i < n; ++i) {
      float trit = std::nearbyint(w[i] * (1.0f / gamma));
      trit = std::max(-1.0f, std::min(1.0f, trit));
      ASSERT_EQ(back[i], trit * d) << "type " << static_cast<int>(t) << " element " << i;
    }
    EXPECT_EQ(back[5], 0.0f);
    EXPECT_EQ(back[6], d);
    EXPECT_EQ(back[7], -d);
  }
}

TEST(SumAbs, DoesNotDependOnChunking) {
  std::vector<float> x(256 * 10);
  std::mt19937_64 rng(3);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (float& f : x) f = g(rng);
  double whole = SumAbs(x.data(), x.size(), 0.0);
  double parts = SumAbs(x.data(), 256 * 3, 0.0);
  parts = SumAbs(x.data() + 256 * 3, 256 * 7, parts);
  EXPECT_EQ(whole, parts);
}

// The documented order (partial sum i % 8, pairwise) is what makes gamma the same on every
// CPU; the total must also stay within rounding of the exact sum.
TEST(SumAbs, FollowsTheDocumentedOrder) {
  std::vector<float> x(256 * 4);
  std::mt19937_64 rng(11);
  std::normal_distribution<float> g(0.0f, 0.02f);
  for (float& f : x) f = g(rng) * (rng() % 7 == 0 ? 1e4f : 1.0f);  // mixed magnitudes
  double want = 0;
  long double exact = 0;
  for (size_t base = 0; base < x.size(); base += 256) {
    double p[8] = {};
    for (size_t i = 0; i < 256; ++i) {
      p[i % 8] += std::fabs(static_cast<double>(x[base + i]));
      exact += std::fabs(static_cast<long double>(x[base + i]));
    }
    want += ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
  }
  const double got = SumAbs(x.data(), x.size(), 0.0);
  EXPECT_EQ(got, want);
  EXPECT_NEAR(got, static_cast<double>(exact), static_cast<double>(exact) * 1e-14);
}

}  // namespace mln_quant_blocks_test
#endif  // HWY_ONCE
