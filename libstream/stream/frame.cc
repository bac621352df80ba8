#include "libstream/stream/frame.h"

#include <array>

#include "libstream/codecs/codec.h"
#include "libstream/crypto/digest.h"

namespace mln::stream {
namespace {

struct DtypeRow {
  uint32_t id;
  DtypeInfo info;
};

// Block sizes and bytes per block as ggml defines them (ggml.c type_traits, v0.5.0; ids
// 4-5, 31-33 and 36-38 are retired there). Types without a ggml id follow their formats.
constexpr std::array kDtypes = {
    DtypeRow{0, {"f32", 1, 4}},        DtypeRow{1, {"f16", 1, 2}},
    DtypeRow{2, {"q4_0", 32, 18}},     DtypeRow{3, {"q4_1", 32, 20}},
    DtypeRow{6, {"q5_0", 32, 22}},     DtypeRow{7, {"q5_1", 32, 24}},
    DtypeRow{8, {"q8_0", 32, 34}},     DtypeRow{9, {"q8_1", 32, 36}},
    DtypeRow{10, {"q2_K", 256, 84}},   DtypeRow{11, {"q3_K", 256, 110}},
    DtypeRow{12, {"q4_K", 256, 144}},  DtypeRow{13, {"q5_K", 256, 176}},
    DtypeRow{14, {"q6_K", 256, 210}},  DtypeRow{15, {"q8_K", 256, 292}},
    DtypeRow{16, {"iq2_xxs", 256, 66}}, DtypeRow{17, {"iq2_xs", 256, 74}},
    DtypeRow{18, {"iq3_xxs", 256, 98}}, DtypeRow{19, {"iq1_s", 256, 50}},
    DtypeRow{20, {"iq4_nl", 32, 18}},  DtypeRow{21, {"iq3_s", 256, 110}},
    DtypeRow{22, {"iq2_s", 256, 82}},  DtypeRow{23, {"iq4_xs", 256, 136}},
    DtypeRow{24, {"i8", 1, 1}},        DtypeRow{25, {"i16", 1, 2}},
    DtypeRow{26, {"i32", 1, 4}},       DtypeRow{27, {"i64", 1, 8}},
    DtypeRow{28, {"f64", 1, 8}},       DtypeRow{29, {"iq1_m", 256, 56}},
    DtypeRow{30, {"bf16", 1, 2}},      DtypeRow{34, {"tq1_0", 256, 54}},
    DtypeRow{35, {"tq2_0", 256, 66}},  DtypeRow{39, {"mxfp4", 32, 17}},
    DtypeRow{40, {"nvfp4", 64, 36}},   DtypeRow{41, {"q1_0", 128, 18}},
    DtypeRow{42, {"q2_0", 64, 18}},
    DtypeRow{100, {"u8", 1, 1}},       DtypeRow{101, {"bool", 1, 1}},
    DtypeRow{102, {"u16", 1, 2}},      DtypeRow{103, {"u32", 1, 4}},
    DtypeRow{104, {"u64", 1, 8}},      DtypeRow{105, {"f8_e4m3", 1, 1}},
    DtypeRow{106, {"f8_e5m2", 1, 1}},
};

}  // namespace

std::optional<DtypeInfo> GetDtypeInfo(uint32_t dtype) {
  for (const auto& row : kDtypes) {
    if (row.id == dtype) return row.info;
  }
  return std::nullopt;
}

std::string DtypeName(uint32_t dtype) {
  if (auto info = GetDtypeInfo(dtype)) return std::string(info->name);
  if (dtype == static_cast<uint32_t>(Dtype::kUnknown)) return "bytes";  // no element type
  return "type" + std::to_string(dtype);
}

std::optional<std::string_view> FrameHeader::Attr(std::string_view key) const {
  for (const auto& a : attrs) {
    if (a.key == key) return a.value;
  }
  return std::nullopt;
}

void FrameHeader::SetAttr(std::string key, std::string value) {
  for (auto& a : attrs) {
    if (a.key == key) {
      a.value = std::move(value);
      return;
    }
  }
  attrs.push_back({std::move(key), std::move(value)});
}

void SealFrame(Frame& frame) {
  frame.header.codec = static_cast<uint8_t>(Codec::kRaw);
  frame.header.decoded_size = frame.payload.size();
  frame.header.checksum = crypto::Xxh3(frame.payload.span());
}

namespace {

// Checks decoded payload bytes against the header's size and XXH3; `stage` says whether they
// came out of a codec, so a mismatch names where it was found.
Result<void> CheckDecoded(const FrameHeader& h, std::span<const uint8_t> bytes, const char* stage) {
  if (h.decoded_size != bytes.size()) {
    return Fail(Errc::kBadData, std::string("payload size mismatch") + stage + ": header says " +
                                    std::to_string(h.decoded_size) + " bytes, frame holds " +
                                    std::to_string(bytes.size()));
  }
  uint64_t got = crypto::Xxh3(bytes);
  if (got != h.checksum) {
    return Fail(Errc::kBadData, std::string("checksum mismatch") + stage + ": expected " +
                                    crypto::ToHex64(h.checksum) + ", got " + crypto::ToHex64(got));
  }
  return {};
}

}  // namespace

Result<void> VerifyFrame(const Frame& frame) {
  const FrameHeader& h = frame.header;
  if (h.codec == static_cast<uint8_t>(Codec::kRaw)) return CheckDecoded(h, frame.payload.span(), "");
  AlignedBuffer decoded;
  MLN_RETURN_IF_ERROR(codecs::DecodePayload(h.codec, frame.payload.span(), h.decoded_size, decoded));
  return CheckDecoded(h, decoded.span(), " after decoding");
}

std::string KindName(uint16_t kind) {
  switch (static_cast<FrameKind>(kind)) {
    case FrameKind::kSource: return "source";
    case FrameKind::kBytes: return "bytes";
    case FrameKind::kTensor: return "tensor";
    case FrameKind::kSignature: return "signature";
    case FrameKind::kPatch: return "patch";
    case FrameKind::kDelta: return "delta";
    case FrameKind::kBundle: return "bundle";
    case FrameKind::kTrailer: return "trailer";
  }
  return "kind" + std::to_string(kind);
}

}  // namespace mln::stream
