#include "libstream/delta/zstd_prefix.h"

#include <zstd.h>

#include <algorithm>
#include <bit>
#include <memory>
#include <string>

namespace mln::delta {
namespace {

// zstd.h gives ZSTD_WINDOWLOG_MIN only to static linkers; its value is 10.
constexpr int kMinWindowLog = 10;

struct CctxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DctxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

Result<AlignedBuffer> CompressWithPrefix(std::span<const uint8_t> in,
                                         std::span<const uint8_t> prefix, int level) {
  std::unique_ptr<ZSTD_CCtx, CctxFree> c(ZSTD_createCCtx());
  if (!c) return Fail(Errc::kOs, "cannot allocate a zstd context");
  // The window must reach from the end of the new bytes back to the start of the prefix.
  uint64_t span = std::max<uint64_t>(in.size() + prefix.size(), 1);
  int window = std::clamp(static_cast<int>(std::bit_width(span - 1)), kMinWindowLog, 30);
  size_t rc = ZSTD_CCtx_setParameter(c.get(), ZSTD_c_compressionLevel, level);
  if (!ZSTD_isError(rc)) rc = ZSTD_CCtx_setParameter(c.get(), ZSTD_c_windowLog, window);
  if (!ZSTD_isError(rc) && !prefix.empty()) {
    rc = ZSTD_CCtx_refPrefix(c.get(), prefix.data(), prefix.size());
  }
  if (ZSTD_isError(rc)) {
    return Fail(Errc::kInternal, std::string("zstd setup: ") + ZSTD_getErrorName(rc));
  }
  AlignedBuffer out(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compress2(c.get(), out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(n)) return Fail(Errc::kInternal, std::string("zstd: ") + ZSTD_getErrorName(n));
  out.Resize(n);
  return out;
}

Result<AlignedBuffer> DecompressWithPrefix(std::span<const uint8_t> in,
                                           std::span<const uint8_t> prefix, uint64_t out_size) {
  std::unique_ptr<ZSTD_DCtx, DctxFree> d(ZSTD_createDCtx());
  if (!d) return Fail(Errc::kOs, "cannot allocate a zstd context");
  // Windows up to 1 GiB, as CompressWithPrefix writes at most; the output buffer is ours,
  // so a hostile frame cannot make zstd allocate a window.
  size_t rc = ZSTD_DCtx_setParameter(d.get(), ZSTD_d_windowLogMax, 30);
  if (!ZSTD_isError(rc) && !prefix.empty()) {
    rc = ZSTD_DCtx_refPrefix(d.get(), prefix.data(), prefix.size());
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
  size_t n = ZSTD_decompressDCtx(d.get(), out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(n) || n != out_size) {
    return Fail(Errc::kBadData, std::string("binary delta does not decode: ") +
                                    (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short output"));
  }
  return out;
}

}  // namespace mln::delta
