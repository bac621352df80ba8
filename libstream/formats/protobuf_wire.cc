#include "libstream/formats/protobuf_wire.h"

#include <string>

#include "libstream/base/endian.h"

namespace mln::formats::pb {

Result<uint64_t> ReadVarint(std::span<const uint8_t> data, size_t* pos) {
  uint64_t v = 0;
  for (size_t i = 0; i < kMaxVarintBytes; ++i) {
    if (*pos >= data.size()) {
      return Fail(Errc::kBadData, "varint runs past the end of the message");
    }
    uint8_t b = data[(*pos)++];
    // The 10th byte holds bit 63 only; anything more would not fit in 64 bits.
    if (i == kMaxVarintBytes - 1 && (b & 0x7e) != 0) {
      return Fail(Errc::kBadData, "varint overflows 64 bits");
    }
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) return v;
  }
  return Fail(Errc::kBadData, "varint longer than 10 bytes");
}

Result<std::optional<Field>> WireReader::Next() {
  if (pos_ >= data_.size()) return std::nullopt;
  Field f;
  f.tag_offset = base_ + pos_;
  auto fail = [&](std::string what) {
    return Fail(Error{Errc::kBadData, std::move(what), {}, std::nullopt, f.tag_offset});
  };
  auto tag = ReadVarint(data_, &pos_);
  if (!tag) return fail("protobuf tag: " + tag.error().message);
  if (*tag >> 3 == 0 || *tag >> 3 > 0x1fffffff) {
    return fail("protobuf field number " + std::to_string(*tag >> 3) +
                " is outside 1..536870911");
  }
  f.number = static_cast<uint32_t>(*tag >> 3);
  uint32_t wire = static_cast<uint32_t>(*tag & 7);
  std::string field = "protobuf field " + std::to_string(f.number);
  size_t left = data_.size() - pos_;
  switch (wire) {
    case 0: {
      size_t at = pos_;
      auto v = ReadVarint(data_, &pos_);
      if (!v) return fail(field + ": " + v.error().message);
      f.type = WireType::kVarint;
      f.value = *v;
      f.bytes = data_.subspan(at, pos_ - at);
      return f;
    }
    case 1:
    case 5: {
      size_t n = wire == 1 ? 8 : 4;
      if (left < n) {
        return fail(field + ": fixed" + std::to_string(n * 8) + " value needs " +
                    std::to_string(n) + " bytes, " + std::to_string(left) + " left");
      }
      f.type = wire == 1 ? WireType::kFixed64 : WireType::kFixed32;
      f.bytes = data_.subspan(pos_, n);
      f.value = n == 8 ? LoadLE<uint64_t>(f.bytes.data()) : LoadLE<uint32_t>(f.bytes.data());
      pos_ += n;
      return f;
    }
    case 2: {
      auto len = ReadVarint(data_, &pos_);
      if (!len) return fail(field + " length: " + len.error().message);
      left = data_.size() - pos_;
      if (*len > left) {
        return fail(field + ": length " + std::to_string(*len) +
                    " runs past the end of the enclosing message (" + std::to_string(left) +
                    " bytes left)");
      }
      f.type = WireType::kLen;
      f.bytes = data_.subspan(pos_, static_cast<size_t>(*len));
      pos_ += static_cast<size_t>(*len);
      return f;
    }
    case 3:
    case 4:
      return fail(field + ": wire type " + std::to_string(wire) +
                  " (group) is not used by ONNX and not supported");
    default:
      return fail(field + ": invalid wire type " + std::to_string(wire));
  }
}

}  // namespace mln::formats::pb
