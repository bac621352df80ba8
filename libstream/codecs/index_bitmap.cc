#include "libstream/codecs/index_bitmap.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "libstream/base/endian.h"

namespace mln::codecs {
namespace {

// Payload: an 8-byte head (version, element width, 0, 0, u32 run count R), two entries of a
// method byte and a u64 stored length (the run table, then the bitmap), the two groups,
// then the tail that fills no whole element, raw. The run table holds R first values, then
// R spans (last minus first), each `width` bytes little-endian; the bitmap holds, run after
// run, span / 8 + 1 bytes whose bit k (from the low bit of byte k / 8) says whether
// first + k is an element.
constexpr uint8_t kBitmapVersion = 1;
constexpr size_t kBitmapHead = 8;
constexpr size_t kGroupEntry = 9;

// A rise of more than this starts a new run: its zero bits would cost more than the run
// table entry (2 x width bytes before coding) that a new run costs.
constexpr uint64_t kMaxGap = 64;
// Runs of fewer elements than this on average do not pay for their table entries; the
// scan gives up as soon as the count of runs says so.
constexpr size_t kMinAverageRun = 4;

uint64_t Element(const uint8_t* p, size_t width) {
  switch (width) {
    case 1: return p[0];
    case 2: return LoadLE<uint16_t>(p);
    default: return LoadLE<uint32_t>(p);
  }
}

void StoreElement(uint8_t* p, size_t width, uint64_t v) {
  switch (width) {
    case 1: p[0] = static_cast<uint8_t>(v); break;
    case 2: StoreLE<uint16_t>(p, static_cast<uint16_t>(v)); break;
    default: StoreLE<uint32_t>(p, static_cast<uint32_t>(v)); break;
  }
}

bool StartsRun(uint64_t prev, uint64_t v) { return v <= prev || v - prev > kMaxGap; }

// Bytes of the bitmap of a run spanning `span` values past its first.
uint64_t RunBytes(uint64_t span) { return span / 8 + 1; }

// The run count and bitmap size of `n` elements; nullopt as soon as the runs are too short
// on average or the bitmap would be larger than the elements.
struct RunCount {
  size_t runs = 0;
  uint64_t bitmap_bytes = 0;
};
std::optional<RunCount> CountRuns(const uint8_t* p, size_t n, size_t width) {
  RunCount c;
  const size_t max_runs = n / kMinAverageRun;
  uint64_t first = Element(p, width), prev = first;
  for (size_t i = 1; i <= n; ++i) {
    uint64_t v = i < n ? Element(p + i * width, width) : 0;
    if (i == n || StartsRun(prev, v)) {
      c.bitmap_bytes += RunBytes(prev - first);
      if (++c.runs > max_runs) return std::nullopt;
      first = v;
    }
    prev = v;
  }
  if (c.bitmap_bytes > n * width) return std::nullopt;
  return c;
}

template <size_t kWidth>
Result<void> ExpandRuns(const uint8_t* table, size_t runs, const uint8_t* bitmap, size_t n,
                        uint8_t* out) {
  constexpr uint64_t kMaxValue = (uint64_t{1} << (8 * kWidth)) - 1;
  size_t emitted = 0;
  const uint8_t* spans = table + runs * kWidth;
  for (size_t r = 0; r < runs; ++r) {
    const uint64_t first = Element(table + r * kWidth, kWidth);
    const uint64_t span = Element(spans + r * kWidth, kWidth);
    if (span > kMaxValue - first) {
      return Fail(Errc::kBadData, "bitmap payload: run " + std::to_string(r) +
                                      " passes the largest " + std::to_string(8 * kWidth) +
                                      "-bit value");
    }
    const uint64_t bytes = RunBytes(span);
    // The first and last bits are the run's ends; nothing may follow the last.
    if ((bitmap[0] & 1) == 0 || (bitmap[span / 8] >> (span % 8)) != 1) {
      return Fail(Errc::kBadData, "bitmap payload: run " + std::to_string(r) +
                                      " does not start and end with a set bit");
    }
    for (uint64_t at = 0; at < bytes; at += 8) {
      uint64_t word = 0;
      std::memcpy(&word, bitmap + at, std::min<uint64_t>(8, bytes - at));
      const size_t count = static_cast<size_t>(__builtin_popcountll(word));
      if (count > n - emitted) {
        return Fail(Errc::kBadData, "bitmap payload: more elements than the decoded size holds");
      }
      const uint64_t base = first + at * 8;
      for (; word != 0; word &= word - 1) {
        StoreElement(out + emitted++ * kWidth, kWidth,
                     base + static_cast<uint64_t>(__builtin_ctzll(word)));
      }
    }
    bitmap += bytes;
  }
  if (emitted != n) {
    return Fail(Errc::kBadData, "bitmap payload: " + std::to_string(emitted) +
                                    " elements, the decoded size holds " + std::to_string(n));
  }
  return {};
}

}  // namespace

bool EncodeIndexBitmap(std::span<const uint8_t> in, size_t width,
                       const internal::GroupCoding& coding, AlignedBuffer& out) {
  if (width != 1 && width != 2 && width != 4) return false;
  const size_t n = in.size() / width, tail = in.size() - n * width;
  if (n == 0) return false;
  const uint8_t* p = in.data();
  auto count = CountRuns(p, n, width);
  if (!count) return false;
  const size_t limit = in.size();  // anything not smaller is useless
  const size_t table_start = kBitmapHead + 2 * kGroupEntry;
  if (table_start + tail >= limit) return false;

  AlignedBuffer table(2 * count->runs * width);
  AlignedBuffer& bitmap = internal::PlaneScratch(count->bitmap_bytes);
  std::memset(bitmap.data(), 0, bitmap.size());
  uint8_t* firsts = table.data();
  uint8_t* spans = table.data() + count->runs * width;
  uint8_t* bits = bitmap.data();
  uint64_t first = Element(p, width), prev = first;
  size_t run = 0;
  for (size_t i = 0; i <= n; ++i) {
    uint64_t v = i < n ? Element(p + i * width, width) : 0;
    if (i == n || (i > 0 && StartsRun(prev, v))) {
      StoreElement(firsts + run * width, width, first);
      StoreElement(spans + run * width, width, prev - first);
      bits += RunBytes(prev - first);
      ++run;
      first = v;
    }
    if (i < n) bits[(v - first) / 8] |= static_cast<uint8_t>(1u << ((v - first) % 8));
    prev = v;
  }

  out.Resize(limit);
  uint8_t* head = out.data();
  head[0] = kBitmapVersion;
  head[1] = static_cast<uint8_t>(width);
  head[2] = 0;
  head[3] = 0;
  StoreLE<uint32_t>(head + 4, static_cast<uint32_t>(count->runs));
  size_t pos = table_start;
  uint8_t* entry = head + kBitmapHead;
  if (!internal::PackGroup(table.span(), coding, out, pos, limit, entry, entry + 1) ||
      !internal::PackGroup(bitmap.span(), coding, out, pos, limit, entry + kGroupEntry,
                           entry + kGroupEntry + 1)) {
    return false;
  }
  return internal::FinishWithTail(in.subspan(n * width), out, pos, limit);
}

Result<void> DecodeIndexBitmap(std::span<const uint8_t> in, uint64_t decoded_size,
                               AlignedBuffer& out) {
  const size_t table_start = kBitmapHead + 2 * kGroupEntry;
  if (in.size() < table_start || in[0] != kBitmapVersion) {
    return Fail(Errc::kBadData, "bitmap payload: bad head");
  }
  const size_t width = in[1];
  if ((width != 1 && width != 2 && width != 4) || in[2] != 0 || in[3] != 0) {
    return Fail(Errc::kBadData, "bitmap payload: unknown width or flags");
  }
  const size_t n = decoded_size / width, tail = decoded_size % width;
  const uint64_t runs = LoadLE<uint32_t>(in.data() + 4);
  // At least one element per run, and a table no larger than the elements it describes.
  if ((runs == 0) != (n == 0) || runs > n / 2 + 1) {
    return Fail(Errc::kBadData, "bitmap payload: " + std::to_string(runs) + " runs for " +
                                    std::to_string(n) + " elements");
  }
  size_t pos = table_start;
  const uint8_t* entry = in.data() + kBitmapHead;
  AlignedBuffer table_buffer;
  MLN_TRY(const uint8_t* table,
          internal::UnpackGroup(in, pos, entry, entry + 1, 2 * runs * width,
                                [&] {
                                  table_buffer.Resize(2 * runs * width);
                                  return table_buffer.data();
                                },
                                {"bitmap payload", "run table", "run table"}));
  // The bitmap's size follows from the spans; the encoder never makes one larger than the
  // elements, so neither may a payload (a hostile span cannot make this allocate more).
  uint64_t bitmap_bytes = 0;
  for (size_t r = 0; r < runs; ++r) {
    bitmap_bytes += RunBytes(Element(table + (runs + r) * width, width));
    if (bitmap_bytes > n * width) {
      return Fail(Errc::kBadData, "bitmap payload: the runs' bitmap is larger than the elements");
    }
  }
  MLN_TRY(const uint8_t* bitmap,
          internal::UnpackGroup(in, pos, entry + kGroupEntry, entry + kGroupEntry + 1,
                                bitmap_bytes,
                                [&] { return internal::PlaneScratch(bitmap_bytes).data(); },
                                {"bitmap payload", "bitmap", "bitmap"}));
  if (in.size() - pos != tail) return Fail(Errc::kBadData, "bitmap payload: bad tail length");
  out.Resize(decoded_size);
  switch (width) {
    case 1: MLN_RETURN_IF_ERROR(ExpandRuns<1>(table, runs, bitmap, n, out.data())); break;
    case 2: MLN_RETURN_IF_ERROR(ExpandRuns<2>(table, runs, bitmap, n, out.data())); break;
    default: MLN_RETURN_IF_ERROR(ExpandRuns<4>(table, runs, bitmap, n, out.data())); break;
  }
  if (tail != 0) std::memcpy(out.data() + n * width, in.data() + pos, tail);
  return {};
}

}  // namespace mln::codecs
