#include "libstream/base/aligned_buffer.h"

#include <sys/mman.h>

#include "libstream/base/huge_pages.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace mln::internal {
namespace {

// Frame payloads are a few MiB each and are allocated on one pipeline thread and freed on
// another. glibc then spreads them over per-thread arenas that keep freed memory, and a
// 1 GiB parse peaked near 200 MiB; forcing mmap instead doubles the time in page faults.
// Recycling the blocks keeps peak memory at what is in flight, with pages already mapped.
//
// Every recycled block lives on transparent huge pages (see base/huge_pages.h for why):
// - from 64 KiB to 2 MiB, blocks come in power-of-two classes carved from 2 MiB slabs, and
//   a released block waits in its class's free list (held until exit: at most what was
//   once in flight);
// - above 2 MiB, each block is mapped on its own at a huge-page boundary and released ones
//   wait in a best-fit pool of at most kPoolMaxBytes.
constexpr size_t kPoolMinBlock = 64 << 10;
constexpr size_t kPoolMaxBytes = 64 << 20;
constexpr size_t kHugePage = kHugePageSize;
constexpr size_t kSmallPage = 4 << 10;
constexpr size_t kClasses = std::countr_zero(kHugePage) - std::countr_zero(kPoolMinBlock) + 1;

struct Pool {
  std::mutex mu;
  std::vector<std::pair<void*, size_t>> blocks;  // above kHugePage: address, capacity
  size_t bytes = 0;
  std::array<std::vector<void*>, kClasses> free;  // per class, kPoolMinBlock << class
  std::array<uint8_t*, kClasses> slab{};          // the class's slab being carved
  std::array<size_t, kClasses> slab_left{};
};

Pool& GetPool() {
  static Pool* pool = new Pool();  // never destroyed: buffers may die after static teardown
  return *pool;
}

// Maps `size` bytes (whole small pages) at a kHugePage-aligned address: the kernel backs
// only aligned 2 MiB ranges with huge pages.
void* MapHugeBlock(size_t size) {
  size_t span = size + kHugePage;
  void* m = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  uintptr_t start = reinterpret_cast<uintptr_t>(m);
  uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > start) munmap(m, aligned - start);
  uintptr_t end = aligned + size;
  if (start + span > end) munmap(reinterpret_cast<void*>(end), start + span - end);
  void* p = reinterpret_cast<void*>(aligned);
  BackWithHugePages(p, size);
  return p;
}

// A block of class `c` (kPoolMinBlock << c bytes); the pool's lock is held.
void* ClassBlock(Pool& pool, size_t c) {
  if (!pool.free[c].empty()) {
    void* p = pool.free[c].back();
    pool.free[c].pop_back();
    return p;
  }
  const size_t size = kPoolMinBlock << c;
  if (pool.slab_left[c] < size) {
    pool.slab[c] = static_cast<uint8_t*>(MapHugeBlock(kHugePage));
    pool.slab_left[c] = kHugePage;
  }
  void* p = pool.slab[c];
  pool.slab[c] += size;
  pool.slab_left[c] -= size;
  return p;
}

}  // namespace

void* AcquireBlock(size_t size, size_t* capacity) {
  size_t rounded = (size + kPayloadAlignment - 1) / kPayloadAlignment * kPayloadAlignment;
  if (rounded < kPoolMinBlock) {
    void* p = std::aligned_alloc(kPayloadAlignment, std::max(rounded, kPayloadAlignment));
    if (p == nullptr) throw std::bad_alloc();
    *capacity = rounded;
    return p;
  }
  Pool& pool = GetPool();
  std::lock_guard lock(pool.mu);
  if (rounded <= kHugePage) {
    size_t c = std::bit_width(std::bit_ceil(rounded) / kPoolMinBlock) - 1;
    *capacity = kPoolMinBlock << c;
    return ClassBlock(pool, c);
  }
  // Best fit among blocks no more than twice the request, so small asks do not pin
  // large blocks.
  size_t best = pool.blocks.size();
  for (size_t i = 0; i < pool.blocks.size(); ++i) {
    size_t cap = pool.blocks[i].second;
    if (cap >= rounded && cap <= 2 * rounded &&
        (best == pool.blocks.size() || cap < pool.blocks[best].second)) {
      best = i;
    }
  }
  if (best != pool.blocks.size()) {
    auto [p, cap] = pool.blocks[best];
    pool.blocks[best] = pool.blocks.back();
    pool.blocks.pop_back();
    pool.bytes -= cap;
    *capacity = cap;
    return p;
  }
  // Whole 4 KiB pages, not whole huge pages: a tail under 2 MiB takes small pages, so
  // memory stays what was asked for (a 4 MiB + 64 B frame does not pin 6 MiB).
  rounded = (rounded + kSmallPage - 1) / kSmallPage * kSmallPage;
  void* p = MapHugeBlock(rounded);
  *capacity = rounded;
  return p;
}

void ReleaseBlock(void* p, size_t capacity) {
  if (p == nullptr) return;
  if (capacity < kPoolMinBlock) {
    std::free(p);
    return;
  }
  Pool& pool = GetPool();
  std::lock_guard lock(pool.mu);
  if (capacity <= kHugePage) {
    pool.free[std::bit_width(capacity / kPoolMinBlock) - 1].push_back(p);
    return;
  }
  if (pool.bytes + capacity <= kPoolMaxBytes) {
    pool.blocks.emplace_back(p, capacity);
    pool.bytes += capacity;
    return;
  }
  munmap(p, capacity);
}

}  // namespace mln::internal
