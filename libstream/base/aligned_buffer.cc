#include "libstream/base/aligned_buffer.h"

#include <sys/mman.h>

#include "libstream/base/huge_pages.h"

#include <mutex>
#include <vector>

namespace mln::internal {
namespace {

// Frame payloads are a few MiB each and are allocated on one pipeline thread and freed on
// another. glibc then spreads them over per-thread arenas that keep freed memory, and a
// 1 GiB parse peaked near 200 MiB; forcing mmap instead doubles the time in page faults.
// Recycling the blocks keeps peak memory at what is in flight, with pages already mapped.
constexpr size_t kPoolMinBlock = 64 << 10;
constexpr size_t kPoolMaxBytes = 64 << 20;
// Blocks from a huge page up are mapped on their own at a huge-page boundary and backed
// by huge pages (see base/huge_pages.h for why).
constexpr size_t kHugePage = kHugePageSize;
constexpr size_t kSmallPage = 4 << 10;

struct Pool {
  std::mutex mu;
  std::vector<std::pair<void*, size_t>> blocks;
  size_t bytes = 0;
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

void FreeBlock(void* p, size_t capacity) {
  if (capacity >= kHugePage) {
    munmap(p, capacity);
  } else {
    std::free(p);
  }
}

}  // namespace

void* AcquireBlock(size_t size, size_t* capacity) {
  size_t rounded = (size + kPayloadAlignment - 1) / kPayloadAlignment * kPayloadAlignment;
  if (rounded >= kPoolMinBlock) {
    Pool& pool = GetPool();
    std::lock_guard lock(pool.mu);
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
  }
  if (rounded >= kHugePage) {
    // Whole 4 KiB pages, not whole huge pages: a tail under 2 MiB takes small pages, so
    // memory stays what was asked for (a 4 MiB + 64 B frame does not pin 6 MiB).
    rounded = (rounded + kSmallPage - 1) / kSmallPage * kSmallPage;
    void* p = MapHugeBlock(rounded);
    *capacity = rounded;
    return p;
  }
  void* p = std::aligned_alloc(kPayloadAlignment, rounded);
  if (p == nullptr) throw std::bad_alloc();
  *capacity = rounded;
  // One call maps the block's pages; touched one by one, each page was a fault, and they
  // were a fifth of mln-compress -d's time on quantized models.
  if (rounded >= kPoolMinBlock) PopulatePages(p, rounded);
  return p;
}

void ReleaseBlock(void* p, size_t capacity) {
  if (p == nullptr) return;
  if (capacity >= kPoolMinBlock) {
    Pool& pool = GetPool();
    std::lock_guard lock(pool.mu);
    if (pool.bytes + capacity <= kPoolMaxBytes) {
      pool.blocks.emplace_back(p, capacity);
      pool.bytes += capacity;
      return;
    }
  }
  FreeBlock(p, capacity);
}

}  // namespace mln::internal
