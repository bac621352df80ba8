#include "libstream/base/aligned_buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace mln {
namespace {

constexpr uintptr_t kHugePage = 2 << 20;

// The /proc/self/smaps entry of the mapping that holds `p`: its size in KiB and whether
// the kernel may back it with transparent huge pages.
struct Mapping {
  bool found = false;
  uint64_t size_kib = 0;
  bool thp_eligible = false;
};
Mapping MappingOf(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const uintptr_t at = reinterpret_cast<uintptr_t>(p);
  Mapping m;
  bool inside = false;
  std::string line;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> lo >> dash >> hi && dash == '-') {
      if (inside) break;
      inside = lo <= at && at < hi;
      m.found = m.found || inside;
      continue;
    }
    if (!inside) continue;
    std::istringstream field(line);
    std::string key;
    uint64_t value = 0;
    field >> key >> value;
    if (key == "Size:") m.size_kib = value;
    if (key == "THPeligible:") m.thp_eligible = value == 1;
  }
  return m;
}

bool ThpAvailable() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode;
  std::getline(f, mode);
  return !mode.empty() && mode.find("[never]") == std::string::npos;
}

TEST(AlignedBufferTest, LargeBlocksSitOnHugePagesAndKeepTheirSize) {
  const size_t size = (4 << 20) + 64;  // a 4 MiB chunk and a little more
  AlignedBuffer b(size);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kHugePage, 0u);
  Mapping m = MappingOf(b.data());
  ASSERT_TRUE(m.found);
  // The tail past the last whole huge page takes small pages: 4 MiB + 4 KiB, not 6 MiB.
  EXPECT_EQ(m.size_kib, (4 << 10) + 4u);
  if (!ThpAvailable()) GTEST_SKIP() << "transparent huge pages are off on this kernel";
  EXPECT_TRUE(m.thp_eligible);
}

TEST(AlignedBufferTest, MidSizedBlocksShareHugePagesWithoutOverlapping) {
  // Three 300 KiB payloads: each gets a 512 KiB piece of a 2 MiB slab.
  AlignedBuffer a(300 << 10), b(300 << 10), c(300 << 10);
  const AlignedBuffer* all[] = {&a, &b, &c};
  for (const AlignedBuffer* x : all) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(x->data()) % kPayloadAlignment, 0u);
    for (const AlignedBuffer* y : all) {
      if (x == y) continue;
      auto gap = reinterpret_cast<intptr_t>(x->data()) - reinterpret_cast<intptr_t>(y->data());
      EXPECT_GE(std::abs(gap), intptr_t{512} << 10) << "pieces overlap";
    }
  }
  std::memset(a.data(), 0xa1, a.size());
  std::memset(b.data(), 0xb2, b.size());
  std::memset(c.data(), 0xc3, c.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a.data()[i], 0xa1);
    ASSERT_EQ(b.data()[i], 0xb2);
    ASSERT_EQ(c.data()[i], 0xc3);
  }
  if (!ThpAvailable()) GTEST_SKIP() << "transparent huge pages are off on this kernel";
  EXPECT_TRUE(MappingOf(b.data()).thp_eligible);
}

TEST(AlignedBufferTest, GrowingAcrossTheHugeBlockSizeKeepsThePrefix) {
  AlignedBuffer b(1 << 20);
  for (size_t i = 0; i < b.size(); ++i) b.data()[i] = static_cast<uint8_t>(i * 7 + 3);
  b.Resize(5 << 20);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kHugePage, 0u);
  for (size_t i = 0; i < (1 << 20); ++i) {
    ASSERT_EQ(b.data()[i], static_cast<uint8_t>(i * 7 + 3)) << "byte " << i;
  }
  b.data()[b.size() - 1] = 0x5a;  // the whole new size is writable
  EXPECT_EQ(b.data()[b.size() - 1], 0x5a);
}

TEST(AlignedBufferTest, ReleasedBlocksAreReused) {
  for (size_t size : {size_t{3} << 20, size_t{300} << 10}) {
    const uint8_t* first = nullptr;
    {
      AlignedBuffer b(size);
      first = b.data();
    }
    AlignedBuffer again(size);
    EXPECT_EQ(again.data(), first) << size << " bytes";
  }
}

}  // namespace
}  // namespace mln
