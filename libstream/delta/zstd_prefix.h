// Binary deltas of non-tensor bytes through zstd's prefix API (what `zstd --patch-from`
// uses): the base range is a raw-content dictionary the new bytes are matched against.
// Each op has its own bounded base range, so no size limit applies to the whole file.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "libstream/base/aligned_buffer.h"
#include "libstream/base/status.h"

namespace mln::delta {

/// One zstd frame of `in`, matched against `prefix`, at `level`.
Result<AlignedBuffer> CompressWithPrefix(std::span<const uint8_t> in,
                                         std::span<const uint8_t> prefix, int level);
/// Decodes a CompressWithPrefix frame into exactly `out_size` bytes; anything else (a
/// corrupt frame, another size) fails with Errc::kBadData.
Result<AlignedBuffer> DecompressWithPrefix(std::span<const uint8_t> in,
                                           std::span<const uint8_t> prefix, uint64_t out_size);

/// A prefix that many inputs are compressed against (mln-diff: one base window that many
/// small non-tensor ranges of the new file look into). At level 19 zstd spends most of a
/// small input's time indexing the prefix; here the index of a prefix of 16 KiB or more is
/// built once per set of table sizes (a raw-content ZSTD_CDict) and copied into each
/// compression. Compress(in) returns exactly CompressWithPrefix(in, bytes(), level): the
/// tables are shared only where zstd would size them the same for both, and each frame
/// decodes with DecompressWithPrefix.
/// Safe to call from several threads.
class SharedPrefix {
 public:
  /// Without `share_tables`, Compress is CompressWithPrefix: for a prefix used once,
  /// building tables apart would cost one copy of them more.
  SharedPrefix(AlignedBuffer bytes, int level, bool share_tables = true);
  ~SharedPrefix();
  SharedPrefix(const SharedPrefix&) = delete;
  SharedPrefix& operator=(const SharedPrefix&) = delete;

  std::span<const uint8_t> bytes() const { return bytes_.span(); }
  Result<AlignedBuffer> Compress(std::span<const uint8_t> in);
  /// Memory held: the prefix and the tables built so far.
  size_t footprint() const;

 private:
  struct Tables;
  const Tables* TablesFor(std::span<const uint8_t> in);

  AlignedBuffer bytes_;
  int level_;
  bool share_tables_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Tables>> tables_;
};

}  // namespace mln::delta
