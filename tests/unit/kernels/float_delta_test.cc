// The float delta: every compiled SIMD target of the decoder against the scalar reference,
// then properties of the transform itself.
#include "libstream/kernels/float_delta.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "tests/support/test_util.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/unit/kernels/float_delta_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"

HWY_BEFORE_NAMESPACE();
namespace mln::kernels {
namespace HWY_NAMESPACE {

// Base and target like a fine-tune's: small weights moved by a few ulps, so long runs of
// one exponent group (the counters' worst case), with some random bit patterns mixed in.
void FineTuneLike(FloatLayout l, size_t n, uint64_t seed, std::vector<uint8_t>& base,
                  std::vector<uint8_t>& target) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> weight(0.0f, 0.02f);
  std::uniform_int_distribution<int> step(-3, 3), rare(0, 99);
  base.assign(n * l.width, 0);
  target.assign(n * l.width, 0);
  for (size_t i = 0; i < n; ++i) {
    float w = weight(rng);
    uint32_t bits;
    std::memcpy(&bits, &w, 4);
    if (l.width == 2) bits >>= 16;  // the bf16 of it; as f16 bits, just as narrow groups
    uint32_t moved = bits + static_cast<uint32_t>(step(rng));
    if (rare(rng) == 0) moved = static_cast<uint32_t>(rng());
    std::memcpy(&base[i * l.width], &bits, l.width);
    std::memcpy(&target[i * l.width], &moved, l.width);
  }
}

// Sizes around the lanes, the vector lengths and the gather blocks, from unaligned
// addresses, out of place and in place, on every layout.
void TestDecodeMatchesReference() {
  constexpr FloatLayout kLayouts[] = {{2, 10, 5}, {2, 7, 8}, {4, 23, 8}};
  for (FloatLayout l : kLayouts) {
    for (size_t n : {0u, 1u, 2u, 3u, 4u, 5u, 31u, 32u, 33u, 1023u, 1024u, 1025u, 2047u, 2048u,
                     2049u, 2050u, 4095u, 4097u, 10000u, 65537u}) {
      for (int kind = 0; kind < 2; ++kind) {
        std::vector<uint8_t> base, target;
        if (kind == 0) {
          FineTuneLike(l, n, n + l.exp_bits, base, target);
        } else {
          base = testing::RandomBytes(n * l.width, 2 * n + l.width);
          target = testing::RandomBytes(n * l.width, 9 * n + l.width);
        }
        std::vector<uint8_t> delta(n * l.width + 1), want(n * l.width);
        ref::EncodeFloatDelta(base.data(), target.data(), n, l, delta.data() + 1);
        ref::DecodeFloatDelta(base.data(), delta.data() + 1, n, l, want.data());
        ASSERT_EQ(want, target);
        std::vector<uint8_t> got(n * l.width + 1);
        DecodeFloatDelta(base.data(), delta.data() + 1, n, l, got.data() + 1);
        ASSERT_TRUE(std::equal(want.begin(), want.end(), got.begin() + 1))
            << "width " << l.width << " exp_bits " << l.exp_bits << " n " << n << " kind " << kind;
        std::vector<uint8_t> in_place(n * l.width + 1);
        std::copy(base.begin(), base.end(), in_place.begin() + 1);
        DecodeFloatDelta(in_place.data() + 1, delta.data() + 1, n, l, in_place.data() + 1);
        ASSERT_TRUE(std::equal(want.begin(), want.end(), in_place.begin() + 1))
            << "in place: width " << l.width << " n " << n << " kind " << kind;
        std::vector<uint8_t> encoded(n * l.width);
        EncodeFloatDelta(base.data(), target.data(), n, l, encoded.data());
        ASSERT_TRUE(std::equal(encoded.begin(), encoded.end(), delta.begin() + 1));
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace mln::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mln_float_delta_test {
using namespace mln::kernels;  // NOLINT: HWY_EXPORT finds the per-target functions here
HWY_BEFORE_TEST(FloatDeltaKernelTest);
HWY_EXPORT_AND_TEST_P(FloatDeltaKernelTest, TestDecodeMatchesReference);
}  // namespace mln_float_delta_test

namespace mln::kernels {namespace {

constexpr FloatLayout kF16{2, 10, 5}, kBF16{2, 7, 8}, kF32{4, 23, 8};

// Any bit patterns (NaNs with payloads, infinities, -0, subnormals) come back exactly.
TEST(FloatDelta, RandomBitPatternsRoundTrip) {
  for (FloatLayout l : {kF16, kBF16, kF32}) {
    for (size_t n : {0u, 1u, 7u, 1000u, 65537u}) {
      auto base = testing::RandomBytes(n * l.width, n + l.width);
      auto target = testing::RandomBytes(n * l.width, n + 7 * l.width);
      std::vector<uint8_t> delta(n * l.width), back(n * l.width);
      EncodeFloatDelta(base.data(), target.data(), n, l, delta.data());
      DecodeFloatDelta(base.data(), delta.data(), n, l, back.data());
      ASSERT_EQ(back, target) << "width " << l.width << " n " << n;
    }
  }
}

// mln-apply decodes over the base buffer to save a chunk of memory per op in flight.
TEST(FloatDelta, DecodesInPlaceOverTheBase) {
  for (FloatLayout l : {kF16, kBF16, kF32}) {
    for (size_t n : {1u, 7u, 65537u}) {
      auto base = testing::RandomBytes(n * l.width, 3 * n + l.width);
      auto target = testing::RandomBytes(n * l.width, 5 * n + l.width);
      std::vector<uint8_t> delta(n * l.width);
      EncodeFloatDelta(base.data(), target.data(), n, l, delta.data());
      DecodeFloatDelta(base.data(), delta.data(), n, l, base.data());
      ASSERT_EQ(base, target) << "width " << l.width << " n " << n;
    }
  }
}

TEST(FloatDelta, SpecialValuesRoundTrip) {
  const float specials[] = {0.0f, -0.0f, std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::denorm_min(), -1e-40f, 1.0f, -2.5f,
                            std::numeric_limits<float>::max()};
  std::vector<float> base, target;
  for (float a : specials) {
    for (float b : specials) {
      base.push_back(a);
      target.push_back(b);
    }
  }
  std::vector<uint8_t> delta(base.size() * 4);
  std::vector<float> back(base.size());
  auto* b = reinterpret_cast<const uint8_t*>(base.data());
  EncodeFloatDelta(b, reinterpret_cast<const uint8_t*>(target.data()), base.size(), kF32,
                   delta.data());
  DecodeFloatDelta(b, delta.data(), base.size(), kF32, reinterpret_cast<uint8_t*>(back.data()));
  ASSERT_EQ(0, std::memcmp(back.data(), target.data(), back.size() * 4));
}

// The point of the transform: one ulp either way is a tiny number with zero high bytes,
// across zero too, and the elements come out grouped by the base exponent.
TEST(FloatDelta, SmallMovesAreSmallNumbersGroupedByExponent) {
  std::vector<float> base = {1.0f, 1024.0f, 1.5f, -0.0f, 0.0f, 3.0f};
  std::vector<float> target = {std::nextafter(1.0f, 2.0f), std::nextafter(1024.0f, 0.0f), 1.5f,
                               0.0f, -0.0f, std::nextafter(3.0f, 4.0f)};
  std::vector<uint32_t> delta(base.size());
  EncodeFloatDelta(reinterpret_cast<const uint8_t*>(base.data()),
                   reinterpret_cast<const uint8_t*>(target.data()), base.size(), kF32,
                   reinterpret_cast<uint8_t*>(delta.data()));
  // Groups by exponent field, ascending: {-0.0 (exp 0), 0.0 (exp 0)}, {1.0, 1.5 (127)},
  // {3.0 (128)}, {1024 (137)}; within a group, element order.
  // zigzag: +1 ulp -> 2, -1 ulp -> 1, none -> 0; -0 and +0 are neighbours.
  std::vector<uint32_t> want = {2, 1, 2, 0, 2, 1};
  EXPECT_EQ(delta, want);
}

}  // namespace
}  // namespace mln::kernels
#endif  // HWY_ONCE
