// libFuzzer target; the work is mln::fuzz::FuzzPatchApply (libstream/fuzz/fuzz_entry.h).
#include "libstream/fuzz/fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return mln::fuzz::FuzzPatchApply(data, size);
}
