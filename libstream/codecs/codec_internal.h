// Pieces the payload codecs share (codec.cc, block_fields.cc, palette.cc, index_bitmap.cc);
// not for filters.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "libstream/base/aligned_buffer.h"
#include "libstream/base/endian.h"
#include "libstream/base/status.h"
#include "libstream/codecs/context_model.h"

namespace mln::codecs::internal {

/// A decoded payload never exceeds what a reader accepts for a stored one; a hostile header
/// cannot make a decoder allocate more.
inline constexpr uint64_t kMaxDecoded = 256ull << 20;

/// zstd-compresses `in` into `dst` (capacity `cap`) with this thread's context; nullopt
/// when the result would not be smaller than `cap`.
std::optional<size_t> ZstdCompressInto(std::span<const uint8_t> in, int level, uint8_t* dst,
                                       size_t cap);
/// Decompresses one zstd frame to exactly `out_size` bytes; `what` names the payload.
Result<void> ZstdDecompress(std::span<const uint8_t> in, uint8_t* out, size_t out_size,
                            const char* what);
/// Order-0 entropy of `plane` in bits per byte, from a strided sample.
double SampledEntropy(std::span<const uint8_t> plane);
/// At or above this a plane is stored as it is rather than spending a zstd pass on it.
inline constexpr double kIncompressibleBits = 7.9;
/// From this level on a coded group is kept for any gain; below it, only when it saves at
/// least 1/32 of its bytes (PackGroup), since decoding it is slower than copying it.
inline constexpr int kKeepEveryGainLevel = 10;
/// How the planes or fields of one payload are coded.
struct GroupCoding {
  int level = 1;                 ///< zstd level
  bool keep_every_gain = false;  ///< keep a coded group however little it saves
  bool context_model = false;    ///< float planes also try the context model (slow both ways)
};
/// The coding of a payload at `level`; patch ops keep every gain (a patch is compressed
/// once and sent many times).
GroupCoding CodingFor(int level, bool patch_op);
/// A per-thread scratch buffer of `bytes`, reused across chunks (no page faults per chunk).
AlignedBuffer& PlaneScratch(size_t bytes);

/// How a plane or field group is stored (the method byte of byteplane and fields tables):
/// as it is, one zstd frame, or the context model (context_model.h; byte planes only).
inline constexpr uint8_t kGroupRaw = 0, kGroupZstd = 1, kGroupContext = 2;

/// Appends `group` to `out` (sized to `limit`) at `pos`: zstd-coded as `coding` says, or as
/// it is when it looks random or would not save the least gain `coding` asks. Writes the
/// method byte to `method` and the stored length (u64 LE) to `stored_length`, and advances
/// `pos`; false when the group would pass `limit` (the whole payload would not be smaller
/// than its input). With `context_strides` (candidate strides of a float plane) and
/// `coding.context_model`, the context model competes with zstd: kept when smaller, and on
/// groups over 256 KiB only when at least 1/16 smaller (it decodes far slower).
bool PackGroup(std::span<const uint8_t> group, const GroupCoding& coding, AlignedBuffer& out,
               size_t& pos, size_t limit, uint8_t* method, uint8_t* stored_length,
               std::span<const uint32_t> context_strides = {});

/// Names a payload's group in the errors UnpackGroup reports: "<payload>: <group> past the
/// end", "<payload>: raw <group> of wrong size", "<payload>: unknown <method> method".
struct GroupName {
  const char* payload;  ///< "palette payload"
  const char* group;    ///< "indices"
  const char* method;   ///< "index"
};

/// The decoding side of PackGroup: takes the group whose method byte is at `method` and
/// stored length (u64 LE) at `stored_length` from `in` at `pos`, advancing `pos`, and
/// returns where its `size` decoded bytes are: in `in` for a raw group, else in the buffer
/// `dst()` returns (at least `size` bytes; asked only for a coded group), decompressed.
/// A group past the end of `in`, a raw group of another size, a coded one that does not
/// decode to exactly `size` bytes or an unknown method fails with Errc::kBadData. The
/// context model is a known method only where `context_model` says so (byte planes).
template <typename Dst>
Result<const uint8_t*> UnpackGroup(std::span<const uint8_t> in, size_t& pos,
                                   const uint8_t* method, const uint8_t* stored_length,
                                   size_t size, Dst dst, const GroupName& name,
                                   bool context_model = false) {
  const uint64_t len = LoadLE<uint64_t>(stored_length);
  auto fail = [&](const std::string& what) {
    return Fail(Errc::kBadData, std::string(name.payload) + ": " + what);
  };
  if (len > in.size() - pos) return fail(std::string(name.group) + " past the end");
  std::span<const uint8_t> stored = in.subspan(pos, len);
  pos += len;
  if (*method == kGroupRaw) {
    if (len != size) return fail(std::string("raw ") + name.group + " of wrong size");
    return stored.data();
  }
  if (*method != kGroupZstd && !(context_model && *method == kGroupContext)) {
    return fail(std::string("unknown ") + name.method + " method");
  }
  uint8_t* out = dst();
  if (*method == kGroupContext) {
    MLN_RETURN_IF_ERROR(ContextDecode(stored, out, size, name.payload));
  } else {
    MLN_RETURN_IF_ERROR(ZstdDecompress(stored, out, size, name.payload));
  }
  return static_cast<const uint8_t*>(out);
}

/// Ends a grouped payload: appends `tail` (the bytes that fill no whole element or block)
/// raw at `pos` and sizes `out` to its end; false when that would reach `limit` (the
/// payload would not be smaller than its input).
bool FinishWithTail(std::span<const uint8_t> tail, AlignedBuffer& out, size_t pos,
                    size_t limit);

}  // namespace mln::codecs::internal
