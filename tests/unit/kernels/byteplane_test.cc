// Every compiled SIMD target against the scalar specification.
#include <vector>

#include "libstream/kernels/byteplane.h"
#include "tests/support/test_util.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/unit/kernels/byteplane_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"

HWY_BEFORE_NAMESPACE();
namespace mln::kernels {
namespace HWY_NAMESPACE {

// Sizes around vector lengths and block edges, and a source offset by one byte.
void TestSplitMergeMatchReference() {
  for (size_t width : {2u, 4u}) {
    for (bool rotate : {false, true}) {
      for (size_t n : {0u, 1u, 15u, 16u, 17u, 31u, 32u, 33u, 63u, 64u, 65u, 1023u, 1024u, 1025u,
                       5000u}) {
        std::vector<uint8_t> data = testing::RandomBytes(n * width + 1, n * 7 + width);
        const uint8_t* in = data.data() + 1;  // unaligned on purpose
        std::vector<std::vector<uint8_t>> want(width, std::vector<uint8_t>(n + 1));
        std::vector<std::vector<uint8_t>> got(width, std::vector<uint8_t>(n + 1));
        std::vector<uint8_t*> wp, gp;
        for (size_t b = 0; b < width; ++b) {
          wp.push_back(want[b].data());
          gp.push_back(got[b].data() + 1);  // unaligned planes too
        }
        ref::SplitPlanes(in, n, width, rotate, wp.data());
        SplitPlanes(in, n, width, rotate, gp.data());
        for (size_t b = 0; b < width; ++b) {
          ASSERT_EQ(0, std::memcmp(want[b].data(), got[b].data() + 1, n))
              << "split plane " << b << " width " << width << " rotate " << rotate << " n " << n;
        }
        std::vector<uint8_t> back(n * width + 1);
        std::vector<const uint8_t*> cp(gp.begin(), gp.end());
        MergePlanes(cp.data(), n, width, rotate, back.data() + 1);
        ASSERT_EQ(0, std::memcmp(back.data() + 1, in, n * width))
            << "merge width " << width << " rotate " << rotate << " n " << n;
      }
    }
  }
}

void TestRotationPutsTheExponentInTheTopPlane() {
  // f32 1.0f = 0x3F800000: exponent 127 = 0x7F, sign 0. Rotated left by one: 0x7F000000.
  float one = 1.0f;
  uint8_t bytes[4];
  std::memcpy(bytes, &one, 4);
  uint8_t p0[1], p1[1], p2[1], p3[1];
  uint8_t* planes[4] = {p0, p1, p2, p3};
  SplitPlanes(bytes, 1, 4, true, planes);
  EXPECT_EQ(p3[0], 0x7F);
  EXPECT_EQ(p0[0] | p1[0] | p2[0], 0);
}

}  // namespace HWY_NAMESPACE
}  // namespace mln::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
// Outside namespace mln: Highway's test macros name `testing::`, which must be GoogleTest's.
namespace mln_kernels_test {
using namespace mln::kernels;  // NOLINT: HWY_EXPORT finds the per-target functions here
HWY_BEFORE_TEST(BytePlaneTest);
HWY_EXPORT_AND_TEST_P(BytePlaneTest, TestSplitMergeMatchReference);
HWY_EXPORT_AND_TEST_P(BytePlaneTest, TestRotationPutsTheExponentInTheTopPlane);
}  // namespace mln_kernels_test
#endif
