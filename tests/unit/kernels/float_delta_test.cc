#include "libstream/kernels/float_delta.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "tests/support/test_util.h"

namespace mln::kernels {
namespace {

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
