// Every compiled SIMD target of the byte-wise delta kernels against the scalar reference.
#include <vector>

#include "libstream/kernels/delta.h"
#include "tests/support/test_util.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/unit/kernels/delta_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"

HWY_BEFORE_NAMESPACE();
namespace mln::kernels {
namespace HWY_NAMESPACE {

// Sizes around vector lengths and the 4x unrolled loop, from unaligned addresses.
void TestDeltasMatchReferenceAndInvert() {
  for (size_t n : {0u, 1u, 15u, 16u, 17u, 63u, 64u, 65u, 127u, 128u, 129u, 255u, 256u, 1000u,
                   4099u}) {
    std::vector<uint8_t> a = testing::RandomBytes(n + 1, n * 3 + 1);
    std::vector<uint8_t> b = testing::RandomBytes(n + 1, n * 5 + 2);
    using Kernel = void (*)(uint8_t*, const uint8_t*, size_t);
    struct Case { Kernel simd, ref; const char* name; };
    for (Case c : {Case{XorBytes, ref::XorBytes, "xor"}, Case{SubBytes, ref::SubBytes, "sub"},
                   Case{AddBytes, ref::AddBytes, "add"}}) {
      std::vector<uint8_t> want(a.begin() + 1, a.end()), got = a;
      c.ref(want.data(), b.data() + 1, n);
      c.simd(got.data() + 1, b.data() + 1, n);
      if (n == 0) continue;  // memcmp of an empty vector's null data() is undefined
      ASSERT_EQ(0, std::memcmp(want.data(), got.data() + 1, n)) << c.name << " n " << n;
    }
    // sub then add, and xor twice, give the input back.
    if (n == 0) continue;
    std::vector<uint8_t> t(a.begin() + 1, a.end());
    SubBytes(t.data(), b.data() + 1, n);
    AddBytes(t.data(), b.data() + 1, n);
    ASSERT_EQ(0, std::memcmp(t.data(), a.data() + 1, n)) << "sub/add n " << n;
    XorBytes(t.data(), b.data() + 1, n);
    XorBytes(t.data(), b.data() + 1, n);
    ASSERT_EQ(0, std::memcmp(t.data(), a.data() + 1, n)) << "xor/xor n " << n;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace mln::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mln_kernels_test {
using namespace mln::kernels;  // NOLINT: HWY_EXPORT finds the per-target functions here
HWY_BEFORE_TEST(DeltaKernelTest);
HWY_EXPORT_AND_TEST_P(DeltaKernelTest, TestDeltasMatchReferenceAndInvert);

TEST(ElementDeltaTest, DiffAndSumAreInverse) {
  for (size_t width : {1, 2, 4}) {
    for (size_t n : {0, 1, 2, 3, 7, 64, 1001}) {
      auto bytes = mln::testing::RandomBytes(n, 11 + n + width);
      auto work = bytes;
      DiffElements(work.data(), work.size(), width);
      if (n >= 2 * width) {
        EXPECT_NE(work, bytes) << "width " << width << " n " << n;
      }
      SumElements(work.data(), work.size(), width);
      EXPECT_EQ(work, bytes) << "width " << width << " n " << n;
    }
  }
}

TEST(ElementDeltaTest, DifferencesAreLittleEndianAndWrap) {
  std::vector<uint8_t> v = {3, 0, 5, 0, 2, 1, 9};  // u16: 3, 5, 258, then a 1-byte tail
  DiffElements(v.data(), v.size(), 2);
  EXPECT_EQ(v, (std::vector<uint8_t>{3, 0, 2, 0, 253, 0, 9}));
  std::vector<uint8_t> w = {5, 0, 0, 0, 1, 0, 0, 0};  // u32: 5, 1 -> 5, 1 - 5 (mod 2^32)
  DiffElements(w.data(), w.size(), 4);
  EXPECT_EQ(w, (std::vector<uint8_t>{5, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff}));
}
}  // namespace mln_kernels_test
#endif
