// mln's x86 target detection (libstream/kernels/cpu_targets.cc), which the filters use
// instead of libhwy.so, against Highway's own SupportedTargets() from libhwy.so, loaded here
// with dlopen: this binary does not link libhwy, so hwy::SupportedTargets() below is mln's.
#include "libstream/kernels/cpu_targets.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <hwy/highway.h>

#include <cstdint>

namespace mln::kernels {
namespace {

#if defined(__x86_64__)
// The x86 targets this build compiles kernels for (HWY_TARGETS), which are all that
// dispatch can choose among.
constexpr int64_t kCompiledX86 = HWY_TARGETS & (HWY_SSSE3 | HWY_SSE4 | HWY_AVX2 | HWY_AVX3);

int64_t LibhwySupportedTargets() {
  void* lib = dlopen(MLN_LIBHWY_PATH, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return -1;
  // dlsym on the library's own handle finds its definition, not this binary's.
  auto fn = reinterpret_cast<int64_t (*)()>(dlsym(lib, "_ZN3hwy16SupportedTargetsEv"));
  int64_t bits = fn != nullptr ? fn() : -1;
  dlclose(lib);
  return bits;
}

TEST(CpuTargetsTest, AgreesWithHighwayOnTheCompiledTargets) {
  int64_t theirs = LibhwySupportedTargets();
  ASSERT_GE(theirs, 0) << "could not load " << MLN_LIBHWY_PATH;
  int64_t ours = DetectX86Targets();
  EXPECT_EQ(ours & kCompiledX86, theirs & kCompiledX86)
      << std::hex << "mln 0x" << ours << ", libhwy 0x" << theirs;
  // The build machine runs at least SSE4 (every x86-64 server of the last decade): a
  // detection that found nothing would pass the comparison only if libhwy failed too.
  EXPECT_NE(ours & HWY_SSE4, 0);
}

TEST(CpuTargetsTest, TargetsAreNested) {
  // Each target's requirements include the lower ones', so a CPU never has a higher one
  // without the lower.
  int64_t bits = DetectX86Targets();
  if (bits & HWY_AVX3) {
    EXPECT_TRUE(bits & HWY_AVX2);
  }
  if (bits & HWY_AVX2) {
    EXPECT_TRUE(bits & HWY_SSE4);
  }
  if (bits & HWY_SSE4) {
    EXPECT_TRUE(bits & HWY_SSSE3);
  }
}

TEST(CpuTargetsTest, DispatchChoosesTheBestSupportedCompiledTarget) {
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
  int64_t supported = hwy::SupportedTargets() & HWY_TARGETS;
  ASSERT_NE(supported, 0);
  // Highway numbers better targets with lower bits; the chosen index is that of the lowest
  // supported bit among HWY_TARGETS, shifted into ChosenTarget's layout (index 0 is the
  // first-call trampoline).
  int64_t best = supported & -supported;
  size_t expected = hwy::Num0BitsBelowLS1Bit_Nonzero64(
      static_cast<uint64_t>(HWY_CHOSEN_TARGET_SHIFT(best)));
  EXPECT_EQ(hwy::GetChosenTarget().GetIndex(), expected);
  EXPECT_EQ(&hwy::GetChosenTarget(), &hwy::GetChosenTarget());
}
#endif

}  // namespace
}  // namespace mln::kernels
