// Fresh memory that is about to be written in bulk (payload blocks, zstd's match tables)
// is mapped at once on transparent huge pages where the kernel allows them.
//
// Why: on the VMs mln is measured on, the first write to each fresh 4 KiB page costs
// ~14 us (the hypervisor shadows the guest's page tables), even after MADV_POPULATE_WRITE:
// merging two 8 MiB planes into fresh memory took 60 ms, and 1 ms into touched memory.
// Backed by 2 MiB pages and populated in one call, the first merge takes 1 ms as well. With
// THP off (transparent_hugepage=never) the hint does nothing and pages are 4 KiB as before.
#pragma once

#include <cstddef>

namespace mln {

inline constexpr size_t kHugePageSize = 2 << 20;

/// The kernel's page size (4 KiB on x86-64; 16 or 64 KiB on some arm64 kernels).
size_t PageSize();

/// Asks for huge pages on [p, p + size) (only its 2 MiB-aligned part can get them) and maps
/// the range now. Both are hints: failure leaves ordinary pages, faulted in on first use.
void BackWithHugePages(void* p, size_t size);

/// Maps the whole pages inside [p, p + size) now, in one call rather than one fault each.
void PopulatePages(void* p, size_t size);

/// A malloc/free pair in ZSTD_customMem's shape: blocks of a huge page and more start on a
/// huge-page boundary and are backed as above, smaller ones are plain malloc.
void* HugeAwareAlloc(void* opaque, size_t size);
void HugeAwareFree(void* opaque, void* p);

}  // namespace mln
