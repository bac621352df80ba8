#include "libstream/base/aligned_buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include <string>

namespace mln {
namespace {

constexpr uintptr_t kHugePage = 2 << 20;

// The /proc/self/smaps entry of the mapping that holds `p`: its size in KiB and whether
// it was advised for transparent huge pages (VmFlags "hg", set by MADV_HUGEPAGE; unlike
// THPeligible it does not hold for every mapping when THP is "always").
struct Mapping {
  bool found = false;
  uint64_t size_kib = 0;
  bool huge_advised = false;
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
    field >> key;
    if (key == "Size:") field >> m.size_kib;
    if (key == "VmFlags:") {
      for (std::string flag; field >> flag;) m.huge_advised = m.huge_advised || flag == "hg";
    }
  }
  return m;
}

// Sizes below are used by no other test, so blocks other tests left in the process-wide
// pool (when the tests share a process) cannot stand in for fresh ones.

TEST(AlignedBufferTest, LargeBlocksSitOnHugePagesAndKeepTheirSize) {
  const size_t size = (24 << 20) + 64;  // whole huge pages and a little more
  AlignedBuffer b(size);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kHugePage, 0u);
  Mapping m = MappingOf(b.data());
  ASSERT_TRUE(m.found);
  // The tail past the last whole huge page takes small pages: 24 MiB and one page, not 26.
  const uint64_t page_kib = static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) >> 10;
  EXPECT_EQ(m.size_kib, (24u << 10) + page_kib);
  EXPECT_TRUE(m.huge_advised);
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
  EXPECT_TRUE(MappingOf(b.data()).huge_advised);
}

TEST(AlignedBufferTest, GrowingAcrossTheHugeBlockSizeKeepsThePrefix) {
  AlignedBuffer b(1 << 20);
  for (size_t i = 0; i < b.size(); ++i) b.data()[i] = static_cast<uint8_t>(i * 7 + 3);
  b.Resize(13 << 20);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kHugePage, 0u);
  for (size_t i = 0; i < (1 << 20); ++i) {
    ASSERT_EQ(b.data()[i], static_cast<uint8_t>(i * 7 + 3)) << "byte " << i;
  }
  b.data()[b.size() - 1] = 0x5a;  // the whole new size is writable
  EXPECT_EQ(b.data()[b.size() - 1], 0x5a);
}

TEST(AlignedBufferTest, ReleasedBlocksAreReused) {
  for (size_t size : {size_t{11} << 20, size_t{700} << 10}) {
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
