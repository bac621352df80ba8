#include "libstream/base/aligned_buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <unistd.h>
#include <string>
#include <vector>

namespace mln {
namespace {

constexpr uintptr_t kHugePage = 2 << 20;

// A mapping of /proc/self/smaps: its address range, its size in KiB and whether it was
// advised for transparent huge pages (VmFlags "hg", set by MADV_HUGEPAGE; unlike
// THPeligible it does not hold for every mapping when THP is "always").
struct Mapping {
  uintptr_t lo = 0, hi = 0;
  uint64_t size_kib = 0;
  bool huge_advised = false;
};
std::vector<Mapping> Mappings() {
  std::ifstream smaps("/proc/self/smaps");
  std::vector<Mapping> all;
  std::string line;
  while (std::getline(smaps, line)) {
    Mapping m;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> m.lo >> dash >> m.hi && dash == '-') {
      all.push_back(m);
      continue;
    }
    if (all.empty()) continue;
    std::istringstream field(line);
    std::string key;
    field >> key;
    if (key == "Size:") field >> all.back().size_kib;
    if (key == "VmFlags:") {
      for (std::string flag; field >> flag;) all.back().huge_advised |= flag == "hg";
    }
  }
  return all;
}

// The mapping that holds `p`, if any.
std::optional<Mapping> MappingOf(const void* p) {
  const uintptr_t at = reinterpret_cast<uintptr_t>(p);
  for (const Mapping& m : Mappings()) {
    if (m.lo <= at && at < m.hi) return m;
  }
  return std::nullopt;
}

uint64_t HugeAdvisedKib() {
  uint64_t kib = 0;
  for (const Mapping& m : Mappings()) kib += m.huge_advised ? m.size_kib : 0;
  return kib;
}

// Sizes below are used by no other test, so blocks other tests left in the process-wide
// pool (when the tests share a process) cannot stand in for fresh ones.

TEST(AlignedBufferTest, LargeBlocksSitOnHugePagesAndKeepTheirSize) {
  const size_t size = (24 << 20) + 64;  // whole huge pages and a little more
  AlignedBuffer b(size);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kHugePage, 0u);
  std::optional<Mapping> m = MappingOf(b.data());
  ASSERT_TRUE(m);
  // The tail past the last whole huge page takes small pages: 24 MiB and one page, not 26.
  const uint64_t page_kib = static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) >> 10;
  EXPECT_EQ(m->size_kib, (24u << 10) + page_kib);
  EXPECT_TRUE(m->huge_advised);
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
  std::optional<Mapping> m = MappingOf(b.data());
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->huge_advised);
}

TEST(AlignedBufferTest, BlockClassesShareSlabs) {
  // One block of each class, 64 KiB to 1 MiB (1984 KiB in all): carved from the slab in
  // use and at most one new one. With a slab per class, a fresh process mapped five: ctest
  // runs each test in its own. (Other tests use some of these classes too, so when they
  // share a process, free blocks they left can make this pass without carving.)
  const uint64_t before = HugeAdvisedKib();
  AlignedBuffer a(64 << 10), b(100 << 10), c(200 << 10), d(400 << 10), e(900 << 10);
  for (AlignedBuffer* x : {&a, &b, &c, &d, &e}) std::memset(x->data(), 0x5c, x->size());
  EXPECT_LE(HugeAdvisedKib(), before + 2048);
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
