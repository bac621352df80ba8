#include "libstream/base/aligned_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

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

struct Pool {
  std::mutex mu;
  std::vector<std::pair<void*, size_t>> blocks;
  size_t bytes = 0;
};

Pool& GetPool() {
  static Pool* pool = new Pool();  // never destroyed: buffers may die after static teardown
  return *pool;
}

// Maps a fresh block's pages in one call. Touched one by one, each page was a fault, and
// on the test machine's VM a fault costs several microseconds: they were a fifth of
// mln-compress -d's time on quantized models. A hint: kernels before 5.14 refuse it.
void Populate(void* p, size_t size) {
#ifdef MADV_POPULATE_WRITE
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + size) & ~(page - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
#else
  (void)p;
  (void)size;
#endif
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
  void* p = std::aligned_alloc(kPayloadAlignment, rounded);
  if (p == nullptr) throw std::bad_alloc();
  *capacity = rounded;
  if (rounded >= kPoolMinBlock) Populate(p, rounded);
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
  std::free(p);
}

}  // namespace mln::internal
