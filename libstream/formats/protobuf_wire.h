// A zero-copy reader of the protobuf wire format, enough to find ONNX's tensor bytes.
//
// Why not libprotobuf: its parser copies every bytes field (a 2 GB model is copied once
// more into the heap), and it needs the generated onnx.pb.{h,cc}. mln only needs the file
// offset and size of a few fields, so this reader hands out spans into the caller's buffer
// (usually a read-only mapping) and never allocates.
//
// Wire format (protobuf.dev/programming-guides/encoding): a message is a sequence of
// records `tag value`, tag = varint (field_number << 3 | wire_type). Wire types: 0 varint,
// 1 fixed64, 2 length-delimited (varint length + bytes), 5 fixed32. 3 and 4 are the
// deprecated groups, which ONNX never uses; they are refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "libstream/base/status.h"

namespace mln::formats::pb {

/// A varint is at most 10 bytes (64 bits, 7 per byte).
inline constexpr size_t kMaxVarintBytes = 10;
/// Messages nested deeper than this are refused (protobuf's own default recursion limit).
inline constexpr int kMaxDepth = 100;

enum class WireType : uint8_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

/// One record of a message.
struct Field {
  uint32_t number = 0;
  WireType type = WireType::kVarint;
  /// The value of a varint, fixed64 or fixed32 record (fixed values little-endian decoded).
  uint64_t value = 0;
  /// kLen: the payload; otherwise the value's own bytes. Points into the reader's buffer.
  std::span<const uint8_t> bytes;
  /// Offset of the tag's first byte, from the start of the whole buffer (the file).
  uint64_t tag_offset = 0;
};

/// Decodes one varint from `data` at `*pos`, advancing `*pos`. Fails with Errc::kBadData on
/// a varint that runs past the end, is longer than 10 bytes or overflows 64 bits.
Result<uint64_t> ReadVarint(std::span<const uint8_t> data, size_t* pos);

/// Iterates over the records of one message. Every length is checked against the bytes
/// left in the message before a span is formed, so a hostile length cannot reach outside.
class WireReader {
 public:
  /// `message` is the message's bytes; `base_offset` is the offset of its first byte in
  /// the file, used for Field::tag_offset and error offsets.
  WireReader(std::span<const uint8_t> message, uint64_t base_offset)
      : data_(message), base_(base_offset) {}

  /// The next record, or nullopt at the end of the message. Errors (Errc::kBadData) name
  /// the field number and carry the file offset of the bad record.
  Result<std::optional<Field>> Next();

  /// Offset in the file of the first byte not yet read.
  uint64_t offset() const { return base_ + pos_; }

 private:
  std::span<const uint8_t> data_;
  uint64_t base_;
  size_t pos_ = 0;
};

/// Interprets a kLen field's payload as UTF-8 text (no validation; for names and keys).
inline std::string_view AsText(const Field& f) {
  return {reinterpret_cast<const char*>(f.bytes.data()), f.bytes.size()};
}

}  // namespace mln::formats::pb
