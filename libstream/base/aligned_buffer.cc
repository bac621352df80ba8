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
// Recycled blocks live on transparent huge pages (see base/huge_pages.h for why):
// - from 64 KiB to 1 MiB, blocks come in power-of-two classes, carved one at a time from
//   the current 2 MiB slab, which every class shares: a slab per class cost a small run
//   up to five populated slabs (10 MiB zeroed for a 2.5 MB TFLite diff). A released block
//   waits in its class's free list, held until exit: what was once in flight, and the
//   rest of each replaced slab (under 2 MiB each time).
//   Smaller blocks are left to malloc; left to malloc, 64-256 KiB blocks (a Q4_K model's
//   attention tensors) made llama34m.Q4_K_M -d 50% slower in page faults.
// - larger ones are mapped on their own at a huge-page boundary, one huge page up to 2 MiB
//   and whole 2 MiB stretches above, and released ones wait in a best-fit pool of at most
//   kPoolMaxBytes. One pool for all of them, so a 2 MiB ask can take a free 4 MiB block: a
//   separate 2 MiB class cost mln-apply ~5 MiB of its 64 MiB budget.
constexpr size_t kPoolMinBlock = 64 << 10;
constexpr size_t kMaxClassBlock = 1 << 20;
constexpr size_t kPoolMaxBytes = 64 << 20;
constexpr size_t kHugePage = kHugePageSize;
constexpr size_t kClasses = std::countr_zero(kMaxClassBlock) - std::countr_zero(kPoolMinBlock) + 1;

// The class of a block of `size` bytes (kPoolMinBlock to kMaxClassBlock): the smallest
// whose blocks hold it. A class block's capacity is its class's size, so it maps back.
size_t ClassOf(size_t size) { return std::bit_width(std::bit_ceil(size) / kPoolMinBlock) - 1; }

// ReleaseBlock runs in destructors, so it must not allocate: the lists are reserved ahead
// for every block that can come back to them.
struct Pool {
  Pool() { blocks.reserve(kPoolMaxBytes / kHugePage); }
  std::mutex mu;
  std::vector<std::pair<void*, size_t>> blocks;  // mapped blocks: address, capacity
  size_t bytes = 0;
  std::array<std::vector<void*>, kClasses> free;  // per class, kPoolMinBlock << class
  std::array<size_t, kClasses> carved{};           // blocks of the class ever carved
  uint8_t* slab_next = nullptr;                    // the current slab's uncarved rest
  size_t slab_left = 0;
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

// Counts one more block of class `c` as carved, first making room for it in the class's
// free list (ReleaseBlock then never allocates). Doubling keeps that linear.
void CountCarved(Pool& pool, size_t c) {
  std::vector<void*>& list = pool.free[c];
  if (list.capacity() < pool.carved[c] + 1) {
    list.reserve(std::max(pool.carved[c] + 1, 2 * list.capacity()));
  }
  ++pool.carved[c];
}

// `size` bytes (a class's block size, a multiple of kPoolMinBlock) from the current slab,
// or null when it has no room.
void* Carve(Pool& pool, size_t size) {
  if (pool.slab_left < size) return nullptr;
  void* p = pool.slab_next;
  pool.slab_next += size;
  pool.slab_left -= size;
  return p;
}

// Hands what is left of the current slab to the class free lists, largest pieces first,
// so none of it is lost when a new slab takes its place.
void RetireSlab(Pool& pool) {
  while (pool.slab_left >= kPoolMinBlock) {
    size_t piece = std::bit_floor(std::min(pool.slab_left, kMaxClassBlock));
    size_t c = ClassOf(piece);
    CountCarved(pool, c);
    pool.free[c].push_back(Carve(pool, piece));
  }
  pool.slab_left = 0;
}

// A block of class `c` (kPoolMinBlock << c bytes): a free one, else a piece of the current
// slab, else a piece of a new slab, mapped outside the lock: populating it takes a while,
// and the other pipeline threads must not wait for it.
void* ClassBlock(Pool& pool, size_t c, std::unique_lock<std::mutex>& lock) {
  if (!pool.free[c].empty()) {
    void* p = pool.free[c].back();
    pool.free[c].pop_back();
    return p;
  }
  const size_t size = kPoolMinBlock << c;
  CountCarved(pool, c);  // before mapping: nothing leaks if it throws
  if (void* p = Carve(pool, size)) return p;
  lock.unlock();
  auto* slab = static_cast<uint8_t*>(MapHugeBlock(kHugePage));
  lock.lock();
  // Another thread may have installed a slab meanwhile: its rest is kept all the same. If
  // the free lists cannot grow for it, the new slab goes back rather than leak.
  try {
    RetireSlab(pool);
  } catch (...) {
    munmap(slab, kHugePage);
    throw;
  }
  pool.slab_next = slab;
  pool.slab_left = kHugePage;
  return Carve(pool, size);
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
  std::unique_lock lock(pool.mu);
  if (rounded <= kMaxClassBlock) {
    size_t c = ClassOf(rounded);
    *capacity = kPoolMinBlock << c;
    return ClassBlock(pool, c, lock);
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
  lock.unlock();  // mapping and populating need no lock, and take a while
  // One huge page up to 2 MiB; above, whole 4 KiB pages rather than whole huge pages: a
  // tail under 2 MiB takes small pages, so memory stays what was asked for (a 4 MiB + 64 B
  // frame does not pin 6 MiB).
  rounded = rounded <= kHugePage ? kHugePage
                                 : (rounded + PageSize() - 1) / PageSize() * PageSize();
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
  if (capacity <= kMaxClassBlock) {
    pool.free[ClassOf(capacity)].push_back(p);
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
