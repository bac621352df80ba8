#include "libstream/base/huge_pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace mln {

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

void PopulatePages(void* p, size_t size) {
#ifdef MADV_POPULATE_WRITE  // kernels before 5.14 refuse it: pages then fault in as used
  const uintptr_t page = PageSize();
  uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + size) & ~(page - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
#else
  (void)p;
  (void)size;
#endif
}

void BackWithHugePages(void* p, size_t size) {
#ifdef MADV_HUGEPAGE
  // madvise wants a page-aligned start; the range's first partial page keeps small pages.
  const uintptr_t page = PageSize();
  uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  uintptr_t end = reinterpret_cast<uintptr_t>(p) + size;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#endif
  // Populating matters as much as the hint: faulted in on first touch, hinted ranges still
  // took 4 KiB pages about half the time on the test VM.
  PopulatePages(p, size);
}

void* HugeAwareAlloc(void*, size_t size) {
  if (size < kHugePageSize) return std::malloc(size);
  // Starts on a huge-page boundary; the aligned 2 MiB stretches get huge pages and a tail
  // keeps small ones, so memory stays what was asked for. posix_memalign, not aligned_alloc:
  // C11 wants aligned_alloc's size to be a multiple of the alignment (ASan enforces it).
  void* p = nullptr;
  if (posix_memalign(&p, kHugePageSize, size) != 0) return nullptr;
  BackWithHugePages(p, size);
  return p;
}

void HugeAwareFree(void*, void* p) { std::free(p); }

}  // namespace mln
