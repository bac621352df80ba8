// mln_fault_gen OUT MIB [TENSORS]: writes a synthetic GGUF of about MIB MiB (f32 tensors of
// smooth pseudo-random weights, so byte planes compress like real ones) for the fault tests,
// which need a model far larger than a chunk without /work/shared or fetched fixtures.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tests/support/test_util.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: mln_fault_gen OUT MIB [TENSORS]\n");
    return 64;
  }
  const uint64_t mib = std::strtoull(argv[2], nullptr, 10);
  const uint64_t tensors = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 8;
  if (mib == 0 || tensors == 0) return 64;
  const uint64_t per = (mib << 20) / tensors / 4096 * 4096;  // bytes per tensor, 4 KiB rows
  mln::testing::GgufBuilder b;
  b.KvString("general.architecture", "fault").KvU32("fault.tensors", tensors);
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (uint64_t t = 0; t < tensors; ++t) {
    std::vector<uint8_t> data(per);
    for (uint64_t i = 0; i < per / 4; ++i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      float w = std::ldexp(static_cast<float>(state >> 40) - 8388608.0f, -26);
      std::memcpy(data.data() + 4 * i, &w, 4);
    }
    b.Tensor("blk." + std::to_string(t) + ".weight", {1024, static_cast<int64_t>(per / 4096)},
             0, std::move(data));
  }
  std::vector<uint8_t> file = b.Build();
  FILE* f = std::fopen(argv[1], "wb");
  if (f == nullptr || std::fwrite(file.data(), 1, file.size(), f) != file.size() ||
      std::fclose(f) != 0) {
    std::perror(argv[1]);
    return 73;
  }
  return 0;
}
