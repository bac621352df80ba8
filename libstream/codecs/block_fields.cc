#include "libstream/codecs/block_fields.h"

#include <algorithm>
#include <cstring>

#include "libstream/base/endian.h"
#include "libstream/codecs/codec_internal.h"
#include "libstream/stream/frame.h"

namespace mln::codecs {
namespace {

using stream::Dtype;

// Payload: version, field count, block size (u16), then per field its length (u16), method
// and stored length (u64); then the field groups; then the tail that fills no whole block.
constexpr uint8_t kFieldsVersion = 1;
constexpr size_t kFieldsHead = 4;
constexpr size_t kFieldEntry = 11;
constexpr size_t kMaxFields = 32;

// Copies field bytes between the interleaved blocks and one contiguous group, `n` times
// `len` bytes at a stride of `block`. The field lengths ggml uses get a copy of fixed size
// (inlined moves) instead of a memcpy call per block.
template <size_t kLen>
void CopyFields(const uint8_t* src, size_t src_stride, uint8_t* dst, size_t dst_stride, size_t n) {
  for (size_t b = 0; b < n; ++b) std::memcpy(dst + b * dst_stride, src + b * src_stride, kLen);
}

void CopyFields(const uint8_t* src, size_t src_stride, uint8_t* dst, size_t dst_stride, size_t n,
                size_t len) {
  switch (len) {
    case 1: return CopyFields<1>(src, src_stride, dst, dst_stride, n);
    case 4: return CopyFields<4>(src, src_stride, dst, dst_stride, n);
    case 12: return CopyFields<12>(src, src_stride, dst, dst_stride, n);
    case 16: return CopyFields<16>(src, src_stride, dst, dst_stride, n);
    case 32: return CopyFields<32>(src, src_stride, dst, dst_stride, n);
    case 48: return CopyFields<48>(src, src_stride, dst, dst_stride, n);
    case 64: return CopyFields<64>(src, src_stride, dst, dst_stride, n);
    case 128: return CopyFields<128>(src, src_stride, dst, dst_stride, n);
    default:
      for (size_t b = 0; b < n; ++b) std::memcpy(dst + b * dst_stride, src + b * src_stride, len);
  }
}

void Gather(const uint8_t* blocks, size_t n, size_t block, size_t off, size_t len, uint8_t* group) {
  CopyFields(blocks + off, block, group, len, n, len);
}

void Scatter(const uint8_t* group, size_t n, size_t block, size_t off, size_t len, uint8_t* blocks) {
  CopyFields(group, len, blocks + off, block, n, len);
}

}  // namespace

std::optional<std::vector<uint16_t>> BlockFieldLayout(uint32_t dtype) {
  // Block structs as ggml-common.h declares them; "d" fp16 scales split into two bytes.
  switch (static_cast<Dtype>(dtype)) {
    case Dtype::kQ8_0: return std::vector<uint16_t>{1, 1, 32};             // d, qs
    case Dtype::kQ4_0: return std::vector<uint16_t>{1, 1, 16};             // d, qs
    case Dtype::kIQ4_NL: return std::vector<uint16_t>{1, 1, 16};           // d, qs
    case Dtype::kQ4_1: return std::vector<uint16_t>{1, 1, 1, 1, 16};       // d, m, qs
    case Dtype::kQ5_0: return std::vector<uint16_t>{1, 1, 4, 16};          // d, qh, qs
    case Dtype::kQ5_1: return std::vector<uint16_t>{1, 1, 1, 1, 4, 16};    // d, m, qh, qs
    case Dtype::kQ2_K: return std::vector<uint16_t>{16, 64, 1, 1, 1, 1};   // scales, qs, d, dmin
    case Dtype::kQ3_K: return std::vector<uint16_t>{32, 64, 12, 1, 1};     // hmask, qs, scales, d
    case Dtype::kQ4_K: return std::vector<uint16_t>{1, 1, 1, 1, 12, 128};  // d, dmin, scales, qs
    case Dtype::kQ5_K: return std::vector<uint16_t>{1, 1, 1, 1, 12, 32, 128};  // + qh
    case Dtype::kQ6_K: return std::vector<uint16_t>{128, 64, 16, 1, 1};    // ql, qh, scales, d
    case Dtype::kTQ1_0: return std::vector<uint16_t>{48, 4, 1, 1};         // qs, qh, d
    case Dtype::kTQ2_0: return std::vector<uint16_t>{64, 1, 1};            // qs, d
    default: return std::nullopt;
  }
}

bool EncodeBlockFields(std::span<const uint8_t> in, const std::vector<uint16_t>& layout,
                       const internal::GroupCoding& coding, AlignedBuffer& out) {
  size_t block = 0;
  for (uint16_t len : layout) block += len;
  if (layout.empty() || layout.size() > kMaxFields || block == 0 || block > UINT16_MAX) return false;
  const size_t n = in.size() / block;
  const size_t table = kFieldsHead + layout.size() * kFieldEntry;
  const size_t tail = in.size() - n * block;
  if (n == 0 || table + tail >= in.size()) return false;
  const size_t limit = in.size();  // anything not smaller is useless
  out.Resize(limit);
  uint8_t* head = out.data();
  head[0] = kFieldsVersion;
  head[1] = static_cast<uint8_t>(layout.size());
  StoreLE<uint16_t>(head + 2, static_cast<uint16_t>(block));
  AlignedBuffer& group = internal::PlaneScratch(n * *std::max_element(layout.begin(), layout.end()));
  size_t pos = table, off = 0;
  for (size_t f = 0; f < layout.size(); ++f) {
    const size_t len = layout[f], bytes = n * len;
    group.Resize(bytes);
    Gather(in.data(), n, block, off, len, group.data());
    off += len;
    uint8_t* entry = head + kFieldsHead + f * kFieldEntry;
    StoreLE<uint16_t>(entry, static_cast<uint16_t>(len));
    if (!internal::PackGroup(group.span(), coding, out, pos, limit, entry + 2, entry + 3)) return false;
  }
  return internal::FinishWithTail(in.subspan(n * block), out, pos, limit);
}

Result<void> DecodeBlockFields(std::span<const uint8_t> in, uint64_t decoded_size,
                               AlignedBuffer& out) {
  if (in.size() < kFieldsHead || in[0] != kFieldsVersion) {
    return Fail(Errc::kBadData, "fields payload: bad head");
  }
  const size_t fields = in[1];
  const size_t block = LoadLE<uint16_t>(in.data() + 2);
  if (fields == 0 || fields > kMaxFields || block == 0) {
    return Fail(Errc::kBadData, "fields payload: bad field count or block size");
  }
  const size_t table = kFieldsHead + fields * kFieldEntry;
  if (in.size() < table) return Fail(Errc::kBadData, "fields payload: truncated table");
  size_t sum = 0;
  for (size_t f = 0; f < fields; ++f) {
    size_t len = LoadLE<uint16_t>(in.data() + kFieldsHead + f * kFieldEntry);
    if (len == 0) return Fail(Errc::kBadData, "fields payload: empty field");
    sum += len;
  }
  if (sum != block) {
    return Fail(Errc::kBadData, "fields payload: fields add up to " + std::to_string(sum) +
                                    " bytes, block is " + std::to_string(block));
  }
  const size_t n = decoded_size / block, tail = decoded_size % block;
  out.Resize(decoded_size);
  AlignedBuffer& group = internal::PlaneScratch(0);
  size_t pos = table, off = 0;
  for (size_t f = 0; f < fields; ++f) {
    const uint8_t* entry = in.data() + kFieldsHead + f * kFieldEntry;
    const size_t len = LoadLE<uint16_t>(entry), bytes = n * len;
    MLN_TRY(const uint8_t* src,
            internal::UnpackGroup(in, pos, entry + 2, entry + 3, bytes,
                                  [&] {
                                    group.Resize(bytes);
                                    return group.data();
                                  },
                                  {"fields payload", "field", "field"}));
    if (bytes != 0) Scatter(src, n, block, off, len, out.data());
    off += len;
  }
  if (in.size() - pos != tail) return Fail(Errc::kBadData, "fields payload: bad tail length");
  if (tail != 0) std::memcpy(out.data() + n * block, in.data() + pos, tail);
  return {};
}

}  // namespace mln::codecs
