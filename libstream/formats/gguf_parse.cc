#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#include "libstream/base/checked_math.h"
#include "libstream/base/endian.h"
#include "libstream/formats/gguf.h"
#include "libstream/formats/json_text.h"

namespace mln::formats {
namespace {

constexpr uint8_t kGgufMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 4;         // nested arrays are legal GGUF; bound the recursion
constexpr size_t kJsonArrayHead = 8;      // elements of an array kept for display
// Smallest encodings, used to reject counts the remaining input cannot hold before any
// allocation: a KV is key length (8) + type (4) + at least 1 value byte; a tensor info is
// name length (8) + n_dims (4) + type (4) + offset (8).
constexpr uint64_t kMinKvBytes = 13;
constexpr uint64_t kMinTensorInfoBytes = 24;

// Reads the header through `src`, keeping a copy of every byte (the stream must carry the
// header verbatim) and refusing sizes the input or the header budget cannot hold.
class Cursor {
 public:
  Cursor(ByteSource& src, uint64_t max_header, std::vector<uint8_t>* raw)
      : src_(src), max_header_(max_header), raw_(raw) {}

  uint64_t position() const { return src_.position(); }

  // Bytes that may still belong to the header.
  uint64_t Remaining() const {
    uint64_t pos = src_.position();
    uint64_t budget = pos >= max_header_ ? 0 : max_header_ - pos;
    if (auto size = src_.size()) budget = std::min(budget, *size > pos ? *size - pos : 0);
    return budget;
  }

  Result<void> Bytes(void* dst, uint64_t n, const char* what) {
    if (n > Remaining()) {
      return Fail(Error{Errc::kBadData,
                        std::string(what) + " needs " + std::to_string(n) + " bytes, only " +
                            std::to_string(Remaining()) + " remain in the header",
                        {}, std::nullopt, position()});
    }
    MLN_RETURN_IF_ERROR(src_.ReadExact(dst, n, what));
    if (raw_) raw_->insert(raw_->end(), static_cast<uint8_t*>(dst), static_cast<uint8_t*>(dst) + n);
    return {};
  }

  template <typename T>
  Result<T> Get(const char* what) {
    uint8_t b[sizeof(T)];
    MLN_RETURN_IF_ERROR(Bytes(b, sizeof b, what));
    return LoadLE<T>(b);
  }

  Result<std::string> String(const char* what) {
    uint64_t at = position();
    MLN_TRY(uint64_t len, Get<uint64_t>(what));
    if (len > Remaining()) {
      return Fail(Error{Errc::kBadData,
                        std::string(what) + " length " + std::to_string(len) + " exceeds the " +
                            std::to_string(Remaining()) + " bytes left in the header",
                        {}, std::nullopt, at});
    }
    std::string s(len, '\0');
    MLN_RETURN_IF_ERROR(Bytes(s.data(), len, what));
    return s;
  }

  // Checks that `count` items of at least `min_bytes` each can fit before reading them.
  Result<void> CheckCount(uint64_t count, uint64_t min_bytes, const char* what) {
    auto need = CheckedMul(count, min_bytes);
    if (!need || *need > Remaining()) {
      return Fail(Error{Errc::kBadData,
                        std::string(what) + " count " + std::to_string(count) +
                            " cannot fit in the " + std::to_string(Remaining()) +
                            " bytes left in the header",
                        {}, std::nullopt, position()});
    }
    return {};
  }

 private:
  ByteSource& src_;
  uint64_t max_header_;
  std::vector<uint8_t>* raw_;
};

std::string FormatDouble(double v, int digits) {
  if (!std::isfinite(v)) return JsonString(std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

uint64_t MinValueBytes(uint32_t type) {
  switch (static_cast<GgufType>(type)) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: case GgufType::kString: return 8;
    case GgufType::kArray: return 12;  // element type + count
  }
  return 1;
}

// Reads one value of `type`, returning it as JSON text (arrays: the first elements only).
Result<std::string> ReadValue(Cursor& c, uint32_t type, int depth, GgufKv* kv) {
  switch (static_cast<GgufType>(type)) {
    case GgufType::kU8: { MLN_TRY(auto v, c.Get<uint8_t>("u8 value")); return std::to_string(v); }
    case GgufType::kI8: { MLN_TRY(auto v, c.Get<int8_t>("i8 value")); return std::to_string(v); }
    case GgufType::kU16: { MLN_TRY(auto v, c.Get<uint16_t>("u16 value")); return std::to_string(v); }
    case GgufType::kI16: { MLN_TRY(auto v, c.Get<int16_t>("i16 value")); return std::to_string(v); }
    case GgufType::kU32: { MLN_TRY(auto v, c.Get<uint32_t>("u32 value")); return std::to_string(v); }
    case GgufType::kI32: { MLN_TRY(auto v, c.Get<int32_t>("i32 value")); return std::to_string(v); }
    case GgufType::kU64: { MLN_TRY(auto v, c.Get<uint64_t>("u64 value")); return std::to_string(v); }
    case GgufType::kI64: { MLN_TRY(auto v, c.Get<int64_t>("i64 value")); return std::to_string(v); }
    case GgufType::kF32: { MLN_TRY(auto v, c.Get<float>("f32 value")); return FormatDouble(v, 9); }
    case GgufType::kF64: { MLN_TRY(auto v, c.Get<double>("f64 value")); return FormatDouble(v, 17); }
    case GgufType::kBool: {
      MLN_TRY(auto v, c.Get<uint8_t>("bool value"));
      if (v > 1) return Fail(Errc::kBadData, "bool value " + std::to_string(v) + " is not 0 or 1");
      return std::string(v ? "true" : "false");
    }
    case GgufType::kString: {
      MLN_TRY(std::string s, c.String("string value"));
      return JsonString(s);
    }
    case GgufType::kArray: {
      if (depth >= kMaxArrayDepth) {
        return Fail(Errc::kBadData, "arrays nested deeper than " + std::to_string(kMaxArrayDepth));
      }
      MLN_TRY(uint32_t elem_type, c.Get<uint32_t>("array type"));
      if (elem_type > static_cast<uint32_t>(GgufType::kF64)) {
        return Fail(Errc::kBadData, "unknown array element type " + std::to_string(elem_type));
      }
      MLN_TRY(uint64_t count, c.Get<uint64_t>("array count"));
      MLN_RETURN_IF_ERROR(c.CheckCount(count, MinValueBytes(elem_type), "array element"));
      if (kv) {
        kv->array_type = elem_type;
        kv->array_count = count;
      }
      std::string json = "[";
      for (uint64_t i = 0; i < count; ++i) {
        MLN_TRY(std::string v, ReadValue(c, elem_type, depth + 1, nullptr));
        if (i < kJsonArrayHead) {
          if (i) json += ",";
          json += v;
        }
      }
      json += "]";
      return json;
    }
  }
  return Fail(Errc::kBadData, "unknown value type " + std::to_string(type));
}

Result<void> CheckTensor(GgufTensorInfo& t) {
  auto info = stream::GetDtypeInfo(t.type);
  if (!info || t.type >= 100) {
    return Fail(Error{Errc::kUnsupported, "unknown ggml type id " + std::to_string(t.type)});
  }
  uint64_t elems = 1;
  for (size_t i = 0; i < t.ne.size(); ++i) {
    if (t.ne[i] < 0) return Fail(Errc::kBadData, "negative dimension " + std::to_string(t.ne[i]));
    auto e = CheckedMul(elems, static_cast<uint64_t>(t.ne[i]));
    if (!e) return Fail(Errc::kBadData, "element count overflows 64 bits");
    elems = *e;
  }
  uint64_t row = t.ne.empty() ? 1 : static_cast<uint64_t>(t.ne[0]);
  if (row % info->block_elems != 0) {
    return Fail(Errc::kBadData, "row length " + std::to_string(row) + " is not a multiple of " +
                                    std::string(info->name) + "'s block of " +
                                    std::to_string(info->block_elems));
  }
  auto bytes = CheckedMul(elems / info->block_elems, info->block_bytes);
  if (!bytes) return Fail(Errc::kBadData, "tensor size overflows 64 bits");
  t.bytes = *bytes;
  return {};
}

}  // namespace

std::string GgufTypeName(uint32_t type) {
  static const char* kNames[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                 "bool", "string", "array", "u64", "i64", "f64"};
  return type < std::size(kNames) ? kNames[type] : "type" + std::to_string(type);
}

Result<GgufHeader> ReadGgufHeader(ByteSource& src, uint64_t max_header,
                                  std::vector<uint8_t>* raw) {
  Cursor c(src, max_header, raw);
  GgufHeader h;
  uint8_t magic[4];
  MLN_RETURN_IF_ERROR(c.Bytes(magic, 4, "magic"));
  if (std::memcmp(magic, kGgufMagic, 4) != 0) {
    return Fail(Errc::kBadData, "not a GGUF file (expected magic 'GGUF')");
  }
  MLN_TRY(h.version, c.Get<uint32_t>("version"));
  if (h.version != 2 && h.version != 3) {
    // A big-endian GGUF reads as a byte-swapped version number here.
    bool swapped = h.version == 0x02000000u || h.version == 0x03000000u;
    return Fail(Errc::kUnsupported,
                swapped ? "big-endian GGUF is not supported"
                        : "GGUF version " + std::to_string(h.version) + " is not supported (2 and 3 are)");
  }
  MLN_TRY(uint64_t n_tensors, c.Get<uint64_t>("tensor count"));
  MLN_TRY(uint64_t n_kv, c.Get<uint64_t>("KV count"));
  MLN_RETURN_IF_ERROR(c.CheckCount(n_kv, kMinKvBytes, "KV"));
  for (uint64_t i = 0; i < n_kv; ++i) {
    GgufKv kv;
    uint64_t at = c.position();
    auto read_kv = [&]() -> Result<void> {
      MLN_TRY(kv.key, c.String("KV key"));
      MLN_TRY(kv.type, c.Get<uint32_t>("KV type"));
      MLN_TRY(kv.json, ReadValue(c, kv.type, 0, &kv));
      return {};
    };
    if (auto ok = read_kv(); !ok) {
      Error e = std::move(ok).error();
      e.message = "KV " + std::to_string(i) + (kv.key.empty() ? "" : " '" + kv.key + "'") +
                  ": " + e.message;
      return Fail(std::move(e).WithOffset(at));
    }
    if (kv.key == "general.alignment") {
      if (kv.type != static_cast<uint32_t>(GgufType::kU32)) {
        return Fail(Errc::kBadData, "general.alignment has type " + GgufTypeName(kv.type) +
                                        ", expected u32");
      }
      uint64_t a = std::stoull(kv.json);
      if (a == 0 || (a & (a - 1)) != 0) {
        return Fail(Errc::kBadData, "general.alignment " + kv.json + " is not a power of two");
      }
      h.alignment = static_cast<uint32_t>(a);
    }
    h.kvs.push_back(std::move(kv));
  }
  MLN_RETURN_IF_ERROR(c.CheckCount(n_tensors, kMinTensorInfoBytes, "tensor"));
  std::unordered_set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    uint64_t at = c.position();
    auto read_info = [&]() -> Result<void> {
      MLN_TRY(t.name, c.String("tensor name"));
      MLN_TRY(uint32_t n_dims, c.Get<uint32_t>("n_dims"));
      if (n_dims > kMaxDims) {
        return Fail(Errc::kBadData, std::to_string(n_dims) + " dimensions, at most 4 allowed");
      }
      for (uint32_t d = 0; d < n_dims; ++d) {
        MLN_TRY(int64_t ne, c.Get<int64_t>("dimension"));
        t.ne.push_back(ne);
      }
      MLN_TRY(t.type, c.Get<uint32_t>("tensor type"));
      MLN_TRY(t.offset, c.Get<uint64_t>("tensor offset"));
      MLN_RETURN_IF_ERROR(CheckTensor(t));
      if (!names.insert(t.name).second) return Fail(Errc::kBadData, "duplicate tensor name");
      return {};
    };
    if (auto ok = read_info(); !ok) {
      Error e = std::move(ok).error();
      e.message = "tensor info " + std::to_string(i) + ": " + e.message;
      if (e.tensor.empty()) e.tensor = t.name;
      return Fail(std::move(e).WithOffset(at));
    }
    h.tensors.push_back(std::move(t));
  }
  h.header_bytes = c.position();
  h.data_offset = *AlignUp(h.header_bytes, h.alignment);
  // The padding up to the data section belongs to the header bytes we carry verbatim. A
  // file with no tensors may end right after the tensor infos.
  uint64_t pad = h.data_offset - h.header_bytes;
  auto size = src.size();
  if (!h.tensors.empty() || !size || *size >= h.data_offset) {
    if (pad > c.Remaining()) return Fail(Errc::kBadData, "truncated before the data section");
    std::vector<uint8_t> padding(pad);
    MLN_RETURN_IF_ERROR(c.Bytes(padding.data(), pad, "padding before the data section"));
  } else {
    h.data_offset = h.header_bytes;
  }
  return h;
}

int BidGguf(std::span<const uint8_t> head) {
  if (head.size() >= 4 && std::memcmp(head.data(), kGgufMagic, 4) == 0) return 100;
  return 0;
}

Result<std::unique_ptr<stream::FrameSource>> ParseGguf(ByteSource& src,
                                                       const ParseOptions& options) {
  using stream::FrameKind;
  using stream::Segment;
  auto raw = std::make_shared<std::vector<uint8_t>>();
  auto header = ReadGgufHeader(src, options.max_header, raw.get());
  if (!header) return Fail(std::move(header).error().WithFile(src.name()));
  GgufHeader& h = *header;

  // Tensors in file order; the data section is read once, front to back.
  std::vector<size_t> order(h.tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return h.tensors[a].offset < h.tensors[b].offset;
  });

  std::vector<Segment> segments;
  Segment head;
  head.tmpl.kind = static_cast<uint16_t>(FrameKind::kBytes);
  head.tmpl.name = "gguf.header";
  head.file_offset = 0;
  head.size = raw->size();
  head.held = raw->data();
  head.held_owner = raw;
  segments.push_back(std::move(head));

  uint64_t pos = h.data_offset;
  auto gap = [&](uint64_t to, const char* name) {
    Segment s;
    s.tmpl.kind = static_cast<uint16_t>(FrameKind::kBytes);
    s.tmpl.name = name;
    s.file_offset = pos;
    s.size = to - pos;
    segments.push_back(std::move(s));
    pos = to;
  };
  auto size = src.size();
  for (size_t idx : order) {
    const GgufTensorInfo& t = h.tensors[idx];
    auto start = CheckedAdd(h.data_offset, t.offset);
    auto end = start ? CheckedAdd(*start, t.bytes) : std::nullopt;
    if (!end || (size && *end > *size)) {
      return Fail(Error{Errc::kBadData,
                        "tensor data [" + std::to_string(t.offset) + ", +" +
                            std::to_string(t.bytes) + ") runs past the end of the file",
                        src.name(), std::nullopt, std::nullopt, t.name});
    }
    if (*start < pos) {
      return Fail(Error{Errc::kBadData, "tensor data overlaps the previous tensor or header",
                        src.name(), std::nullopt, *start, t.name});
    }
    if (*start > pos) gap(*start, "gguf.padding");
    Segment s;
    s.tmpl.kind = static_cast<uint16_t>(FrameKind::kTensor);
    s.tmpl.name = t.name;
    s.tmpl.dtype = t.type;
    s.tmpl.shape.assign(t.ne.rbegin(), t.ne.rend());  // outermost first
    s.tmpl.SetAttr("gguf.index", std::to_string(idx));
    s.file_offset = pos;
    s.size = t.bytes;
    segments.push_back(std::move(s));
    pos = *end;
  }
  if (size) {
    if (*size > pos) gap(*size, "gguf.tail");
  } else {
    Segment tail;
    tail.tmpl.kind = static_cast<uint16_t>(FrameKind::kBytes);
    tail.tmpl.name = "gguf.tail";
    tail.file_offset = pos;
    tail.size = stream::kUntilEnd;
    segments.push_back(std::move(tail));
  }

  stream::FrameHeader source;
  source.kind = static_cast<uint16_t>(FrameKind::kSource);
  source.format = "gguf";
  source.name = src.name();
  source.file_size = size.value_or(0);
  source.SetAttr("gguf.version", std::to_string(h.version));
  source.SetAttr("gguf.alignment", std::to_string(h.alignment));
  source.SetAttr("gguf.tensor_count", std::to_string(h.tensors.size()));
  source.SetAttr("gguf.kv_count", std::to_string(h.kvs.size()));
  return std::make_unique<stream::SegmentSource>(src, std::move(source), std::move(segments),
                                                 options.chunk_size);
}

}  // namespace mln::formats
