// Which of Highway's x86 targets this CPU and OS can run, without libhwy.so (why: see
// cpu_targets.cc). The filters get hwy::SupportedTargets() and hwy::GetChosenTarget() from
// the mln_cpu_targets library built from cpu_targets.cc; tests link libhwy itself.
#pragma once

#include <cstdint>

namespace mln::kernels {

#if defined(__x86_64__)
/// HWY_SSSE3, HWY_SSE4, HWY_AVX2 and HWY_AVX3 bits, each set when the CPU has every feature
/// Highway requires for that target and the OS saves the registers it uses.
int64_t DetectX86Targets();
#endif

}  // namespace mln::kernels
