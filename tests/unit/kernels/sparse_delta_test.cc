#include <gtest/gtest.h>

#include <vector>

#include "libstream/kernels/delta.h"
#include "tests/support/test_util.h"

namespace mln::kernels {
namespace {

// Sparse deltas at every density, and lengths that are not whole bitmap bytes.
TEST(SparseDelta, RoundTripsAtEveryDensity) {
  for (size_t n : {0u, 1u, 7u, 8u, 9u, 1000u, 4099u}) {
    for (unsigned every : {1u, 3u, 17u, 100000u}) {
      auto base = testing::RandomBytes(n, n + 1);
      auto target = base;
      for (size_t i = 0; i < n; i += every) target[i] = static_cast<uint8_t>(target[i] + 1 + i % 5);
      std::vector<uint8_t> payload(SparseBound(n));
      size_t size = EncodeSparse(base.data(), target.data(), n, payload.data());
      size_t changed = (n + every - 1) / every;
      EXPECT_EQ(size, (n + 7) / 8 + changed) << "n " << n << " every " << every;
      auto made = base;
      ASSERT_TRUE(ApplySparse(payload.data(), size, n, made.data()));
      EXPECT_EQ(made, target) << "n " << n << " every " << every;
    }
  }
}

// A payload whose bit count disagrees with its size, or with bits past the end, is refused
// rather than read past its end.
TEST(SparseDelta, RefusesPayloadsThatDoNotFit) {
  std::vector<uint8_t> base(20, 0), target(20, 0);
  target[3] = 1;
  std::vector<uint8_t> payload(SparseBound(20));
  size_t size = EncodeSparse(base.data(), target.data(), 20, payload.data());
  auto made = base;
  EXPECT_FALSE(ApplySparse(payload.data(), size - 1, 20, made.data()));  // value missing
  EXPECT_FALSE(ApplySparse(payload.data(), 2, 20, made.data()));         // bitmap cut
  payload[2] |= 0x80;  // bit 23: past n = 20
  EXPECT_FALSE(ApplySparse(payload.data(), size + 1, 20, made.data()));
}

}  // namespace
}  // namespace mln::kernels
