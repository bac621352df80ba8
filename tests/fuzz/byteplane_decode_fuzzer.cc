// libFuzzer target; the work is mln::fuzz::FuzzBytePlaneDecode (libstream/fuzz/fuzz_entry.h).
#include "libstream/fuzz/fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return mln::fuzz::FuzzBytePlaneDecode(data, size);
}
