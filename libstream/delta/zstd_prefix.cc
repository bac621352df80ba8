#include "libstream/delta/zstd_prefix.h"

// For ZSTD_createCCtx_advanced (a custom allocator): declared only under this macro, but
// exported by the shared libzstd 1.5 that Debian 12 ships.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <memory>
#include <string>

#include "libstream/base/huge_pages.h"

namespace mln::delta {
namespace {

// zstd.h gives ZSTD_WINDOWLOG_MIN only to static linkers; its value is 10.
constexpr int kMinWindowLog = 10;

struct CctxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct CdictFree {
  void operator()(ZSTD_CDict* d) const { ZSTD_freeCDict(d); }
};
struct DctxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// A level-19 context over a MiB-sized prefix has tens of MiB of match tables, which zstd
// clears when a thread first uses them: on huge pages that is a few dozen faults instead of
// thousands.
constexpr ZSTD_customMem kTableMemory{HugeAwareAlloc, HugeAwareFree, nullptr};

// One context per thread, kept for the thread's life. A fresh context at level 19 cost an
// allocation and a memset of its tables (with the page faults that brings) on every op,
// which dominated the diff of models with many small non-tensor ranges; a reused context
// keeps its workspace, and zstd does not clear tables it knows are still valid. The reset
// before each use drops the previous op's parameters and prefix, so each frame depends on
// its own inputs only: zstd's output does not depend on what a context did before (tested).
// Memory stays one context per pipeline thread.
ZSTD_CCtx* ThreadCctx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CctxFree> c(
      ZSTD_createCCtx_advanced(kTableMemory));
  if (c) ZSTD_CCtx_reset(c.get(), ZSTD_reset_session_and_parameters);
  return c.get();
}

ZSTD_DCtx* ThreadDctx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DctxFree> d(ZSTD_createDCtx());
  if (d) ZSTD_DCtx_reset(d.get(), ZSTD_reset_session_and_parameters);
  return d.get();
}

// The window must reach from the end of the new bytes back to the start of the prefix.
int WindowLog(size_t in_size, size_t prefix_size) {
  uint64_t span = std::max<uint64_t>(in_size + prefix_size, 1);
  return std::clamp(static_cast<int>(std::bit_width(span - 1)), kMinWindowLog, 30);
}

// Sets the level and window of every CompressWithPrefix frame on `c`.
size_t SetPrefixParams(ZSTD_CCtx* c, int level, size_t in_size, size_t prefix_size) {
  size_t rc = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
  if (!ZSTD_isError(rc)) {
    rc = ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, WindowLog(in_size, prefix_size));
  }
  return rc;
}

Result<AlignedBuffer> CompressIn(ZSTD_CCtx* c, std::span<const uint8_t> in, size_t rc) {
  if (ZSTD_isError(rc)) {
    return Fail(Errc::kInternal, std::string("zstd setup: ") + ZSTD_getErrorName(rc));
  }
  AlignedBuffer out(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compress2(c, out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(n)) return Fail(Errc::kInternal, std::string("zstd: ") + ZSTD_getErrorName(n));
  out.Resize(n);
  return out;
}

// The table sizes ZSTD_compress2 picks for a CompressWithPrefix frame: the level's row for
// this input and prefix size, our window, then zstd's own trimming to what they span.
ZSTD_compressionParameters PrefixParams(int level, size_t in_size, size_t prefix_size) {
  ZSTD_compressionParameters p = ZSTD_getCParams(level, in_size, prefix_size);
  p.windowLog = static_cast<unsigned>(WindowLog(in_size, prefix_size));
  return ZSTD_adjustCParams(p, in_size, prefix_size);
}

bool SameTables(const ZSTD_compressionParameters& a, const ZSTD_compressionParameters& b) {
  return a.chainLog == b.chainLog && a.hashLog == b.hashLog && a.searchLog == b.searchLog &&
         a.minMatch == b.minMatch && a.targetLength == b.targetLength &&
         a.strategy == b.strategy;
}

}  // namespace

Result<AlignedBuffer> CompressWithPrefix(std::span<const uint8_t> in,
                                         std::span<const uint8_t> prefix, int level) {
  ZSTD_CCtx* c = ThreadCctx();
  if (c == nullptr) return Fail(Errc::kOs, "cannot allocate a zstd context");
  size_t rc = SetPrefixParams(c, level, in.size(), prefix.size());
  if (!ZSTD_isError(rc) && !prefix.empty()) {
    rc = ZSTD_CCtx_refPrefix(c, prefix.data(), prefix.size());
  }
  return CompressIn(c, in, rc);
}

struct SharedPrefix::Tables {
  ZSTD_compressionParameters params;
  std::unique_ptr<ZSTD_CDict, CdictFree> cdict;
};

SharedPrefix::SharedPrefix(AlignedBuffer bytes, int level, bool share_tables)
    : bytes_(std::move(bytes)), level_(level), share_tables_(share_tables) {}
SharedPrefix::~SharedPrefix() = default;

size_t SharedPrefix::footprint() const {
  std::lock_guard lock(mu_);
  size_t n = bytes_.size();
  for (const auto& t : tables_) n += ZSTD_sizeof_CDict(t->cdict.get());
  return n;
}

// The CDict whose tables a frame of `in` may start from, or null where it must load the
// prefix itself because the CDict's tables would differ. zstd sizes a
// CDict's tables for an input of unknown size, which it takes as 513 bytes
// (ZSTD_adjustCParams_internal, ZSTD_cpm_createCDict), and copies them into the context
// as they are; for an input large next to the prefix, the prefix-only frame may size them
// larger, and sharing would change the output.
const SharedPrefix::Tables* SharedPrefix::TablesFor(std::span<const uint8_t> in) {
  constexpr size_t kCdictSizeGuess = 513;
  // Indexing a prefix this small costs less than building tables apart and copying them.
  constexpr size_t kMinShared = 16u << 10;
  if (!share_tables_ || bytes_.size() < kMinShared || in.empty()) return nullptr;
  ZSTD_compressionParameters want = PrefixParams(level_, in.size(), bytes_.size());
  ZSTD_compressionParameters cdict_params = ZSTD_adjustCParams(want, kCdictSizeGuess, bytes_.size());
  if (!SameTables(want, cdict_params)) return nullptr;
  std::lock_guard lock(mu_);
  for (const auto& t : tables_) {
    if (SameTables(t->params, want)) return t.get();
  }
  std::unique_ptr<ZSTD_CCtx_params, size_t (*)(ZSTD_CCtx_params*)> cp(ZSTD_createCCtxParams(),
                                                                     ZSTD_freeCCtxParams);
  if (!cp) return nullptr;
  ZSTD_parameters p{};
  p.cParams = want;
  if (ZSTD_isError(ZSTD_CCtxParams_init_advanced(cp.get(), p)) ||
      ZSTD_isError(ZSTD_CCtxParams_setParameter(cp.get(), ZSTD_c_compressionLevel, level_))) {
    return nullptr;
  }
  auto t = std::make_unique<Tables>();
  t->params = want;
  t->cdict.reset(ZSTD_createCDict_advanced2(bytes_.data(), bytes_.size(), ZSTD_dlm_byRef,
                                            ZSTD_dct_rawContent, cp.get(),
                                            kTableMemory));
  if (!t->cdict) return nullptr;
  tables_.push_back(std::move(t));
  return tables_.back().get();
}

Result<AlignedBuffer> SharedPrefix::Compress(std::span<const uint8_t> in) {
  const Tables* tables = TablesFor(in);
  if (tables == nullptr) return CompressWithPrefix(in, bytes_.span(), level_);
  ZSTD_CCtx* c = ThreadCctx();
  if (c == nullptr) return Fail(Errc::kOs, "cannot allocate a zstd context");
  size_t rc = SetPrefixParams(c, level_, in.size(), bytes_.size());
  // Copy the tables rather than search them beside the context's own (attach): attached,
  // the matches found, and so the bytes, would differ from CompressWithPrefix's.
  if (!ZSTD_isError(rc)) rc = ZSTD_CCtx_setParameter(c, ZSTD_c_forceAttachDict, ZSTD_dictForceCopy);
  if (!ZSTD_isError(rc)) rc = ZSTD_CCtx_refCDict(c, tables->cdict.get());
  return CompressIn(c, in, rc);
}

Result<AlignedBuffer> DecompressWithPrefix(std::span<const uint8_t> in,
                                           std::span<const uint8_t> prefix, uint64_t out_size) {
  ZSTD_DCtx* d = ThreadDctx();
  if (d == nullptr) return Fail(Errc::kOs, "cannot allocate a zstd context");
  // Windows up to 1 GiB, as CompressWithPrefix writes at most; the output buffer is ours,
  // so a hostile frame cannot make zstd allocate a window.
  size_t rc = ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 30);
  if (!ZSTD_isError(rc) && !prefix.empty()) {
    rc = ZSTD_DCtx_refPrefix(d, prefix.data(), prefix.size());
  }
  if (ZSTD_isError(rc)) {
    return Fail(Errc::kInternal, std::string("zstd setup: ") + ZSTD_getErrorName(rc));
  }
  unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
  if (declared != out_size) {
    return Fail(Errc::kBadData, "binary delta declares " +
                                    (declared == ZSTD_CONTENTSIZE_ERROR ||
                                             declared == ZSTD_CONTENTSIZE_UNKNOWN
                                         ? std::string("no valid size")
                                         : std::to_string(declared) + " bytes") +
                                    ", the op expects " + std::to_string(out_size));
  }
  AlignedBuffer out(out_size);
  size_t n = ZSTD_decompressDCtx(d, out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(n) || n != out_size) {
    return Fail(Errc::kBadData, std::string("binary delta does not decode: ") +
                                    (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short output"));
  }
  return out;
}

}  // namespace mln::delta
