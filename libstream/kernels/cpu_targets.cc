// The two functions Highway's dynamic dispatch calls into libhwy for, defined here so the
// filters need not load libhwy.so at all (x86-64 only; elsewhere they link libhwy).
//
// Why: Debian 12's libhwy.so.1 (Highway 1.0.3) calibrates its nanobenchmark timer in a
// load-time constructor (a static initialised by platform::TimerResolution()). That costs
// every process that links it ~4.5 ms of CPU before main, measured here: an empty program
// linked with -lhwy takes 5.3 ms, without it 0.4 ms, and mln-compress --version 6.2 ms in
// all. mln's filters are short-lived processes chained over pipes, so that was most of
// their start-up (`mln-compress -d` of a 20 MB Q4_K_M model runs in ~40 ms). The filters use
// nothing else of libhwy: HWY_DYNAMIC_DISPATCH asks SupportedTargets() once and keeps the
// answer in GetChosenTarget(), and Highway's debug checks (HWY_DASSERT in -O0 builds and
// clang sanitizer builds, as scripts/fuzz makes) report through Abort().
//
// SupportedTargets() reports a Highway target only when the CPU has every feature Highway
// requires for it (the CPUID groups of Highway's own detection: SSSE3; SSE4 = SSE4.1/4.2,
// CLMUL, AES; AVX2 = AVX, AVX2, LZCNT, BMI, BMI2, FMA, F16C; AVX3 = AVX-512 F, VL, DQ, BW,
// to which mln adds CD, as later Highway releases do) and the OS saves the registers it
// uses (XCR0). Targets this build does not compile (AVX3_DL and later) are never reported,
// so asking for less than Highway might is safe: dispatch then takes a lower compiled
// target. The tests compare this with libhwy's own
// SupportedTargets() on the machine they run on (tests/unit/kernels/cpu_targets_test.cc);
// the tests themselves keep linking libhwy, whose test helpers walk every target.
#include "libstream/kernels/cpu_targets.h"

#include <hwy/base.h>
#include <hwy/targets.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace mln::kernels {

#if defined(__x86_64__)
namespace {

struct CpuidRegs {
  uint32_t a = 0, b = 0, c = 0, d = 0;
};

// All zero for a leaf the CPU does not have (__get_cpuid_count checks the highest leaf).
CpuidRegs Cpuid(uint32_t leaf, uint32_t subleaf) {
  CpuidRegs r;
  if (!__get_cpuid_count(leaf, subleaf, &r.a, &r.b, &r.c, &r.d)) return CpuidRegs{};
  return r;
}

bool Bit(uint32_t reg, int i) { return (reg >> i) & 1u; }

// XGETBV(0): which register states the OS saves on a context switch. Only valid when
// CPUID says OSXSAVE.
__attribute__((target("xsave"))) uint64_t ReadXcr0() { return __builtin_ia32_xgetbv(0); }

}  // namespace

int64_t DetectX86Targets() {
  const CpuidRegs l1 = Cpuid(1, 0);
  const CpuidRegs l7 = Cpuid(7, 0);
  const CpuidRegs ext = Cpuid(0x80000001u, 0);

  const bool ssse3 = Bit(l1.d, 25) && Bit(l1.d, 26) && Bit(l1.c, 0) && Bit(l1.c, 9);
  const bool sse4 = ssse3 && Bit(l1.c, 19) && Bit(l1.c, 20) && Bit(l1.c, 1) && Bit(l1.c, 25);
  bool avx2 = sse4 && Bit(l1.c, 28) && Bit(l7.b, 5) && Bit(ext.c, 5) && Bit(l7.b, 3) &&
              Bit(l7.b, 8) && Bit(l1.c, 12) && Bit(l1.c, 29);
  bool avx3 = avx2 && Bit(l7.b, 16) && Bit(l7.b, 31) && Bit(l7.b, 17) && Bit(l7.b, 30) &&
              Bit(l7.b, 28);

  // Without OSXSAVE the OS saves no AVX state: no AVX2 or AVX-512 then.
  const uint64_t xcr0 = Bit(l1.c, 27) ? ReadXcr0() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;     // XMM and YMM state
  const bool os_zmm = (xcr0 & 0xe0) == 0xe0;   // opmask, ZMM0-15 high halves, ZMM16-31
  avx2 = avx2 && os_ymm;
  avx3 = avx3 && avx2 && os_zmm;

  int64_t bits = 0;
  if (ssse3) bits |= HWY_SSSE3;
  if (sse4) bits |= HWY_SSE4;
  if (avx2) bits |= HWY_AVX2;
  if (avx3) bits |= HWY_AVX3;
  return bits;
}
#endif  // __x86_64__

}  // namespace mln::kernels

#if defined(__x86_64__)
namespace hwy {

// What the CPU and OS support, in HWY_TARGETS bits; the portable fallbacks are always there.
HWY_DLLEXPORT int64_t SupportedTargets() {
  return HWY_SCALAR | HWY_EMU128 | mln::kernels::DetectX86Targets();
}

// The target HWY_DYNAMIC_DISPATCH settled on, set on first use (ChosenTarget is
// thread-safe; a function-local static is initialised once).
HWY_DLLEXPORT ChosenTarget& GetChosenTarget() {
  static ChosenTarget chosen;
  return chosen;
}

// A failed Highway check (HWY_ASSERT, or HWY_DASSERT in debug builds): a bug, so one line
// naming where, then abort as libhwy does.
HWY_DLLEXPORT HWY_NORETURN void Abort(const char* file, int line, const char* format, ...) {
  std::fprintf(stderr, "Highway check failed at %s:%d: ", file, line);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
  std::abort();
}

}  // namespace hwy
#endif  // __x86_64__
