#include "libstream/codecs/palette.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "libstream/base/endian.h"
#include "libstream/codecs/codec_internal.h"

namespace mln::codecs {
namespace {

// Payload: a 8-byte head (version, element width, index bits, 0, u16 value count, u16 0),
// the values (width bytes each, little-endian), one method byte and u64 stored length for
// the packed indices, the packed indices, then the tail that fills no whole element, raw.
constexpr uint8_t kPaletteVersion = 1;
constexpr size_t kPaletteHead = 8;
constexpr size_t kGroupEntry = 9;

// Smallest index width, in bits, that packs whole indices into a byte and holds `count`.
uint8_t IndexBits(size_t count) {
  if (count <= 2) return 1;
  if (count <= 4) return 2;
  if (count <= 16) return 4;
  return 8;
}

// Distinct 32-bit elements with their palette index: open addressing over 1024 slots, so a
// table of up to 257 keys stays at most a quarter full. The key space is too large for
// the direct table 16-bit elements use.
class ValueSet {
 public:
  ValueSet() { slots_.fill(kEmpty); }
  // Inserts `v`; returns false once more than kMaxPaletteValues distinct values were seen.
  bool Insert(uint32_t v) {
    size_t s = Find(v);
    if (slots_[s] != kEmpty) return true;
    if (count_ == kMaxPaletteValues) return false;
    keys_[s] = v;
    slots_[s] = static_cast<uint16_t>(count_++);
    return true;
  }
  // The index of a value inserted before and renumbered by Number.
  uint8_t IndexOf(uint32_t v) const { return static_cast<uint8_t>(slots_[Find(v)]); }
  // Renumbers the values by their rank in `sorted`.
  void Number(const std::vector<uint32_t>& sorted) {
    for (size_t i = 0; i < sorted.size(); ++i) slots_[Find(sorted[i])] = static_cast<uint16_t>(i);
  }
  std::vector<uint32_t> Values() const {
    std::vector<uint32_t> values;
    for (size_t s = 0; s < kSlots; ++s) {
      if (slots_[s] != kEmpty) values.push_back(keys_[s]);
    }
    std::sort(values.begin(), values.end());
    return values;
  }

 private:
  static constexpr size_t kSlots = 1024;
  static constexpr uint16_t kEmpty = 0xFFFF;
  size_t Find(uint32_t v) const {
    size_t s = (v * 0x9E3779B1u) >> 22;  // Fibonacci hashing to 10 bits
    while (slots_[s] != kEmpty && keys_[s] != v) s = (s + 1) % kSlots;
    return s;
  }
  std::array<uint32_t, kSlots> keys_{};
  std::array<uint16_t, kSlots> slots_{};
  size_t count_ = 0;
};

// The distinct values of 16-bit elements, by a bitmap of all 65536.
std::optional<std::vector<uint32_t>> FindPalette16(const uint8_t* p, size_t n) {
  std::array<uint64_t, 1024> seen{};
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    uint16_t v = LoadLE<uint16_t>(p + 2 * i);
    uint64_t bit = uint64_t{1} << (v & 63);
    if ((seen[v >> 6] & bit) != 0) continue;
    if (++count > kMaxPaletteValues) return std::nullopt;
    seen[v >> 6] |= bit;
  }
  std::vector<uint32_t> values;
  for (uint32_t w = 0; w < seen.size(); ++w) {
    for (uint64_t bits = seen[w]; bits != 0; bits &= bits - 1) {
      values.push_back(w * 64 + static_cast<uint32_t>(__builtin_ctzll(bits)));
    }
  }
  return values;
}

// Writes each element's index, packed `bits` to a byte from the low bits up, to `packed`.
void PackIndices(const uint8_t* p, size_t n, size_t width, const std::vector<uint32_t>& values,
                 uint8_t bits, uint8_t* packed) {
  const size_t per_byte = 8 / bits;
  auto pack = [&](auto index_of) {
    for (size_t i = 0, b = 0; i < n; i += per_byte, ++b) {
      uint8_t byte = 0;
      const size_t m = std::min(per_byte, n - i);
      for (size_t j = 0; j < m; ++j) byte |= index_of(p + (i + j) * width) << (j * bits);
      packed[b] = byte;
    }
  };
  if (width == 2) {
    // Only the palette's own entries are written and read, so the table needs no clearing.
    thread_local std::array<uint8_t, 65536> index;
    for (size_t i = 0; i < values.size(); ++i) index[values[i]] = static_cast<uint8_t>(i);
    pack([&](const uint8_t* e) { return index[LoadLE<uint16_t>(e)]; });
  } else {
    ValueSet set;
    for (uint32_t v : values) set.Insert(v);
    set.Number(values);
    pack([&](const uint8_t* e) { return set.IndexOf(LoadLE<uint32_t>(e)); });
  }
}

// Expands packed index bytes through a table that maps each possible byte straight to the
// elements it stands for (8 / bits of them), so decoding is one table load and one
// fixed-size copy per byte. A table lookup has no Highway counterpart worth the dispatch at
// these sizes: the copies are already store-bound.
template <size_t kSpan>
void ExpandBytes(const uint8_t* packed, size_t bytes, const uint8_t* table, uint8_t* out) {
  for (size_t b = 0; b < bytes; ++b) std::memcpy(out + b * kSpan, table + packed[b] * kSpan, kSpan);
}

void ExpandBytes(const uint8_t* packed, size_t bytes, const uint8_t* table, size_t span,
                 uint8_t* out) {
  switch (span) {
    case 2: return ExpandBytes<2>(packed, bytes, table, out);
    case 4: return ExpandBytes<4>(packed, bytes, table, out);
    case 8: return ExpandBytes<8>(packed, bytes, table, out);
    case 16: return ExpandBytes<16>(packed, bytes, table, out);
    case 32: return ExpandBytes<32>(packed, bytes, table, out);
    default:
      for (size_t b = 0; b < bytes; ++b) std::memcpy(out + b * span, table + packed[b] * span, span);
  }
}

}  // namespace

std::optional<std::vector<uint32_t>> FindPalette(std::span<const uint8_t> in, size_t width) {
  if (width != 2 && width != 4) return std::nullopt;
  const size_t n = in.size() / width;
  if (n == 0) return std::nullopt;
  if (width == 2) return FindPalette16(in.data(), n);
  ValueSet set;
  for (size_t i = 0; i < n; ++i) {
    if (!set.Insert(LoadLE<uint32_t>(in.data() + 4 * i))) return std::nullopt;
  }
  return set.Values();
}

bool EncodePalette(std::span<const uint8_t> in, size_t width, const internal::GroupCoding& coding,
                   AlignedBuffer& out) {
  auto values = FindPalette(in, width);
  if (!values) return false;
  const size_t n = in.size() / width, tail = in.size() - n * width;
  const uint8_t bits = IndexBits(values->size());
  const size_t packed_size = (n * bits + 7) / 8;
  const size_t table = kPaletteHead + values->size() * width + kGroupEntry;
  const size_t limit = in.size();  // anything not smaller is useless
  if (table + tail >= limit) return false;
  out.Resize(limit);
  uint8_t* head = out.data();
  head[0] = kPaletteVersion;
  head[1] = static_cast<uint8_t>(width);
  head[2] = bits;
  head[3] = 0;
  StoreLE<uint16_t>(head + 4, static_cast<uint16_t>(values->size()));
  StoreLE<uint16_t>(head + 6, 0);
  uint8_t* value_table = head + kPaletteHead;
  for (size_t i = 0; i < values->size(); ++i) {
    if (width == 2) {
      StoreLE<uint16_t>(value_table + 2 * i, static_cast<uint16_t>((*values)[i]));
    } else {
      StoreLE<uint32_t>(value_table + 4 * i, (*values)[i]);
    }
  }
  AlignedBuffer& packed = internal::PlaneScratch(packed_size);
  PackIndices(in.data(), n, width, *values, bits, packed.data());
  uint8_t* entry = value_table + values->size() * width;
  size_t pos = table;
  if (!internal::PackGroup(packed.span(), coding, out, pos, limit, entry, entry + 1)) return false;
  return internal::FinishWithTail(in.subspan(n * width), out, pos, limit);
}

Result<void> DecodePalette(std::span<const uint8_t> in, uint64_t decoded_size,
                           AlignedBuffer& out) {
  if (in.size() < kPaletteHead || in[0] != kPaletteVersion) {
    return Fail(Errc::kBadData, "palette payload: bad head");
  }
  const size_t width = in[1], bits = in[2], count = LoadLE<uint16_t>(in.data() + 4);
  if ((width != 2 && width != 4) || (bits != 1 && bits != 2 && bits != 4 && bits != 8) ||
      in[3] != 0 || LoadLE<uint16_t>(in.data() + 6) != 0) {
    return Fail(Errc::kBadData, "palette payload: unknown width or index bits");
  }
  if (count == 0 || count > (size_t{1} << bits)) {
    return Fail(Errc::kBadData, "palette payload: " + std::to_string(count) +
                                    " values do not fit " + std::to_string(bits) + "-bit indices");
  }
  const size_t table_end = kPaletteHead + count * width + kGroupEntry;
  if (in.size() < table_end) return Fail(Errc::kBadData, "palette payload: truncated table");
  const uint8_t* values = in.data() + kPaletteHead;
  const uint8_t* entry = values + count * width;
  const size_t n = decoded_size / width, tail = decoded_size % width;
  const size_t per_byte = 8 / bits, packed_size = (n * bits + 7) / 8;
  size_t pos = table_end;
  MLN_TRY(const uint8_t* packed,
          internal::UnpackGroup(in, pos, entry, entry + 1, packed_size,
                                [&] { return internal::PlaneScratch(packed_size).data(); },
                                {"palette payload", "indices", "index"}));
  if (in.size() - pos != tail) return Fail(Errc::kBadData, "palette payload: bad tail length");

  // Every byte value's expansion, and whether all its indices are in the table.
  const size_t span = per_byte * width;
  std::array<uint8_t, 256 * 32> expansion;
  std::array<bool, 256> valid;
  const size_t mask = (size_t{1} << bits) - 1;
  for (size_t byte = 0; byte < 256; ++byte) {
    valid[byte] = true;
    for (size_t j = 0; j < per_byte; ++j) {
      size_t index = (byte >> (j * bits)) & mask;
      if (index >= count) {
        valid[byte] = false;
        index = 0;
      }
      std::memcpy(expansion.data() + byte * span + j * width, values + index * width, width);
    }
  }
  const size_t whole = n / per_byte, rest = n - whole * per_byte;
  bool in_table = true;
  for (size_t b = 0; b < packed_size; ++b) in_table &= valid[packed[b]];
  // The last byte's unused high indices must be 0, as the encoder writes them.
  if (rest != 0 && (packed[whole] >> (rest * bits)) != 0) in_table = false;
  if (!in_table) return Fail(Errc::kBadData, "palette payload: an index is outside the value table");
  out.Resize(decoded_size);
  ExpandBytes(packed, whole, expansion.data(), span, out.data());
  if (rest != 0) std::memcpy(out.data() + whole * span, expansion.data() + packed[whole] * span, rest * width);
  if (tail != 0) std::memcpy(out.data() + n * width, in.data() + pos, tail);
  return {};
}

}  // namespace mln::codecs
