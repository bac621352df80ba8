#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "libstream/base/checked_math.h"
#include "libstream/base/endian.h"
#include "libstream/formats/safetensors.h"

namespace mln::formats {
namespace {

// nlohmann::json (std::map), not json: ordered_map looks keys up linearly, which a
// hostile header of millions of keys would turn into hours. Header order is recorded by the
// parse callback instead.
using json = nlohmann::json;
using stream::Dtype;
using stream::FrameKind;

struct DtypeName {
  const char* name;
  Dtype dtype;
};
// The dtypes of safetensors' Dtype enum that have an mln id. Others (F4, F6_*, F8_E8M0, C64,
// ...) are carried as Dtype::kUnknown with their name in "safetensors.dtype": the stream
// stays lossless and a newer dtype does not make a file unreadable.
constexpr DtypeName kDtypes[] = {
    {"F64", Dtype::kF64},   {"F32", Dtype::kF32},         {"F16", Dtype::kF16},
    {"BF16", Dtype::kBF16}, {"I64", Dtype::kI64},         {"I32", Dtype::kI32},
    {"I16", Dtype::kI16},   {"I8", Dtype::kI8},           {"U8", Dtype::kU8},
    {"U16", Dtype::kU16},   {"U32", Dtype::kU32},         {"U64", Dtype::kU64},
    {"BOOL", Dtype::kBool}, {"F8_E4M3", Dtype::kF8E4M3}, {"F8_E5M2", Dtype::kF8E5M2},
};

// A SAX pass before the DOM parse, for what the DOM cannot tell: nlohmann keeps the last of
// duplicate keys silently (the safetensors spec forbids them, and a duplicate tensor name
// would make two readers disagree), forgets key order (std::map), and reports a syntax
// error only by exception. nlohmann's parser callback could see keys too, but it rescans
// the parent object each time a nested object ends: quadratic on a hostile header.
struct KeySax : nlohmann::json_sax<json> {
  std::vector<std::set<std::string>> open;
  std::string duplicate;
  std::vector<std::string> top_keys;  // keys of the outermost object, in file order
  std::string error;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    open.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    if (!open.back().insert(k).second) {
      duplicate = k;
      return false;  // stop: the header is refused anyway
    }
    if (open.size() == 1) top_keys.push_back(k);
    return true;
  }
  bool end_object() override {
    open.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
    error = ex.what();
    return false;
  }
};

// Parses JSON text strictly (no duplicate keys), or says why not. `top_keys` receives the
// outermost object's keys in file order.
Result<json> ParseJson(std::string_view text, const char* what,
                       std::vector<std::string>* top_keys = nullptr) {
  KeySax sax;
  bool ok = json::sax_parse(text.begin(), text.end(), &sax);
  if (!sax.duplicate.empty()) {
    return Fail(Errc::kBadData, std::string(what) + " has the key '" + sax.duplicate + "' twice");
  }
  if (!ok) {
    return Fail(Errc::kBadData, std::string(what) + " is not valid JSON: " +
                                    (sax.error.empty() ? "parse error" : sax.error));
  }
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(Errc::kBadData, std::string(what) + " is not valid JSON");
  if (top_keys) *top_keys = std::move(sax.top_keys);
  return j;
}

Error TensorError(const std::string& name, std::string message) {
  Error e{Errc::kBadData, std::move(message)};
  e.tensor = name;
  return e;
}

// Non-negative JSON integer, or nullopt.
std::optional<uint64_t> Unsigned(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

Result<SafetensorsTensor> DecodeTensor(const std::string& name, const json& v) {
  SafetensorsTensor t;
  t.name = name;
  if (!v.is_object()) return Fail(TensorError(name, "tensor entry is not a JSON object"));
  for (const auto& [key, _] : v.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      return Fail(TensorError(name, "unexpected field '" + key +
                                        "' (expected dtype, shape, data_offsets)"));
    }
  }
  auto dtype = v.find("dtype");
  if (dtype == v.end() || !dtype->is_string()) {
    return Fail(TensorError(name, "dtype missing or not a string"));
  }
  t.dtype_name = dtype->get<std::string>();
  t.dtype = SafetensorsDtype(t.dtype_name);
  auto shape = v.find("shape");
  if (shape == v.end() || !shape->is_array()) {
    return Fail(TensorError(name, "shape missing or not an array"));
  }
  uint64_t elems = 1;
  for (const auto& d : *shape) {
    auto n = Unsigned(d);
    if (!n || *n > static_cast<uint64_t>(INT64_MAX)) {
      return Fail(TensorError(name, "shape entry " + d.dump() + " is not a non-negative integer"));
    }
    auto e = CheckedMul(elems, *n);
    if (!e) return Fail(TensorError(name, "element count overflows 64 bits"));
    elems = *e;
    t.shape.push_back(static_cast<int64_t>(*n));
  }
  auto offs = v.find("data_offsets");
  if (offs == v.end() || !offs->is_array() || offs->size() != 2) {
    return Fail(TensorError(name, "data_offsets missing or not [begin, end]"));
  }
  auto begin = Unsigned((*offs)[0]);
  auto end = Unsigned((*offs)[1]);
  if (!begin || !end) {
    return Fail(TensorError(name, "data_offsets " + offs->dump() + " are not non-negative integers"));
  }
  if (*end < *begin) {
    return Fail(TensorError(name, "data_offsets " + offs->dump() + " end before they begin"));
  }
  t.begin = *begin;
  t.end = *end;
  if (auto info = stream::GetDtypeInfo(t.dtype)) {
    auto bytes = CheckedMul(elems, info->block_bytes);
    if (!bytes) return Fail(TensorError(name, "tensor size overflows 64 bits"));
    if (*bytes != t.end - t.begin) {
      return Fail(TensorError(name, "data_offsets " + offs->dump() + " span " +
                                        std::to_string(t.end - t.begin) + " bytes, expected " +
                                        std::to_string(*bytes) + " for " + t.dtype_name +
                                        " of " + std::to_string(elems) + " elements"));
    }
  }
  return t;
}

Result<std::vector<uint8_t>> ReadAllBounded(ByteSource& src, uint64_t limit, const char* what) {
  std::vector<uint8_t> out;
  for (;;) {
    size_t old = out.size();
    if (old > limit) {
      return Fail(Errc::kUnsupported, std::string(what) + " is larger than " +
                                          std::to_string(limit) + " bytes");
    }
    // 1 MiB steps, or what is left (+1 to see the end) of an input of known size, so a
    // small index does not zero 2 MiB (fuzzing ran 16 inputs/s).
    size_t step = 1 << 20;
    if (auto total = src.size(); total && *total >= src.position()) {
      step = static_cast<size_t>(std::min<uint64_t>(step, *total - src.position() + 1));
    }
    out.resize(old + step);
    MLN_TRY(size_t got, src.Read(out.data() + old, step));
    out.resize(old + got);
    if (got == 0) return out;
  }
}

}  // namespace

uint32_t SafetensorsDtype(std::string_view name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return static_cast<uint32_t>(d.dtype);
  }
  return static_cast<uint32_t>(Dtype::kUnknown);
}

Result<SafetensorsHeader> DecodeSafetensorsHeader(std::span<const uint8_t> header,
                                                  std::optional<uint64_t> data_size) {
  if (header.size() < 8) return Fail(Errc::kBadData, "truncated: no 8-byte header length");
  SafetensorsHeader h;
  h.json_bytes = LoadLE<uint64_t>(header.data());
  if (h.json_bytes != header.size() - 8) {
    return Fail(Errc::kInternal, "header length disagrees with the bytes given");
  }
  std::string_view text(reinterpret_cast<const char*>(header.data() + 8), h.json_bytes);
  if (text.empty() || text.front() != '{') {
    return Fail(Errc::kBadData, "header does not start with '{': not a safetensors JSON header");
  }
  std::vector<std::string> keys;
  MLN_TRY(json j, ParseJson(text, "header", &keys));
  if (!j.is_object()) return Fail(Errc::kBadData, "header JSON is not an object");
  size_t index = 0;
  for (const std::string& key : keys) {
    const json& value = *j.find(key);
    if (key == "__metadata__") {
      if (!value.is_object()) return Fail(Errc::kBadData, "__metadata__ is not a JSON object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) {
          return Fail(Errc::kBadData, "__metadata__ value of '" + mk + "' is " +
                                          std::string(mv.type_name()) + ", expected a string");
        }
        h.metadata.emplace_back(mk, mv.get<std::string>());
      }
      continue;
    }
    MLN_TRY(SafetensorsTensor t, DecodeTensor(key, value));
    t.index = index++;
    if (data_size && t.end > *data_size) {
      return Fail(TensorError(key, "data_offsets end " + std::to_string(t.end) +
                                       " is past the data section of " +
                                       std::to_string(*data_size) + " bytes"));
    }
    h.tensors.push_back(std::move(t));
  }
  // Overlap check in data order; empty tensors overlap nothing.
  std::vector<const SafetensorsTensor*> order;
  for (const auto& t : h.tensors) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  const SafetensorsTensor* prev = nullptr;
  for (const auto* t : order) {
    if (t->begin == t->end) continue;
    if (t->begin < pos) {
      return Fail(TensorError(t->name, "data_offsets [" + std::to_string(t->begin) + ", " +
                                           std::to_string(t->end) + ") overlap '" + prev->name +
                                           "' ending at " + std::to_string(pos)));
    }
    pos = t->end;
    prev = t;
  }
  return h;
}

Result<SafetensorsHeader> ReadSafetensorsHeader(ByteSource& src, uint64_t max_header,
                                                std::vector<uint8_t>* raw) {
  uint8_t len_bytes[8];
  MLN_TRY(size_t got, src.Read(len_bytes, 8));
  if (got < 8) return Fail(Errc::kBadData, "truncated: " + std::to_string(got) +
                                               " bytes, expected an 8-byte header length");
  uint64_t n = LoadLE<uint64_t>(len_bytes);
  uint64_t cap = std::min(kSafetensorsMaxHeader, max_header);
  if (n > cap) {
    return Fail(Error{Errc::kBadData,
                      "header length " + std::to_string(n) + " exceeds the limit of " +
                          std::to_string(cap) + " bytes",
                      {}, std::nullopt, 0});
  }
  auto size = src.size();
  if (size && n > *size - 8) {
    return Fail(Error{Errc::kBadData,
                      "header length " + std::to_string(n) + " runs past the end of the " +
                          std::to_string(*size) + "-byte file",
                      {}, std::nullopt, 0});
  }
  raw->assign(len_bytes, len_bytes + 8);
  raw->resize(8 + n);
  MLN_RETURN_IF_ERROR(src.ReadExact(raw->data() + 8, n, "safetensors header"));
  std::optional<uint64_t> data_size;
  if (size) data_size = *size - 8 - n;
  return DecodeSafetensorsHeader(*raw, data_size);
}

int BidSafetensors(std::span<const uint8_t> head) {
  if (head.size() < 10) return 0;
  uint64_t n = LoadLE<uint64_t>(head.data());
  // '{' at byte 8, then a key, the end, or JSON whitespace.
  uint8_t c = head[9];
  if (n < 2 || head[8] != '{' || !(c == '"' || c == '}' || c == ' ' || c == '\n' || c == '\r' || c == '\t')) {
    return 0;
  }
  // An absurd length still bids (lower), so the parser can say what is wrong with it.
  return n <= kSafetensorsMaxHeader ? 90 : (n < (1ull << 48) ? 50 : 0);
}

Result<std::unique_ptr<stream::FrameSource>> ParseSafetensors(ByteSource& src,
                                                              const ParseOptions& options) {
  using stream::Segment;
  auto raw = std::make_shared<std::vector<uint8_t>>();
  auto header = ReadSafetensorsHeader(src, options.max_header, raw.get());
  if (!header) return Fail(std::move(header).error().WithFile(src.name()));
  SafetensorsHeader& h = *header;

  std::vector<Segment> segments;
  Segment head;
  head.tmpl.kind = static_cast<uint16_t>(FrameKind::kBytes);
  head.tmpl.name = "safetensors.header";
  head.size = raw->size();
  head.held = raw->data();
  head.held_owner = raw;
  segments.push_back(std::move(head));

  // Tensors in file order, so the data section is read once, front to back; the header
  // lists them in its own (usually alphabetical) order.
  std::vector<size_t> order(h.tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const auto &x = h.tensors[a], &y = h.tensors[b];
    return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
  });
  const uint64_t base = h.data_offset();
  uint64_t pos = base;
  auto bytes_segment = [&](uint64_t to, uint64_t size, const char* name) {
    Segment s;
    s.tmpl.kind = static_cast<uint16_t>(FrameKind::kBytes);
    s.tmpl.name = name;
    s.file_offset = pos;
    s.size = size;
    segments.push_back(std::move(s));
    pos = to;
  };
  for (size_t idx : order) {
    const SafetensorsTensor& t = h.tensors[idx];
    // Offsets were checked against the data size and for overlap; base + end cannot
    // overflow because base <= 8 + 100 MB and the file size bounds end when known.
    auto start = CheckedAdd(base, t.begin);
    auto end = CheckedAdd(base, t.end);
    if (!start || !end) {
      return Fail(Error{Errc::kBadData, "data_offsets overflow 64 bits", src.name(),
                        std::nullopt, std::nullopt, t.name});
    }
    if (*start > pos) bytes_segment(*start, *start - pos, "safetensors.padding");
    Segment s;
    s.tmpl.kind = static_cast<uint16_t>(FrameKind::kTensor);
    s.tmpl.name = t.name;
    s.tmpl.dtype = t.dtype;
    s.tmpl.shape = t.shape;  // safetensors is row-major, outermost first, like the stream
    s.tmpl.SetAttr("safetensors.dtype", t.dtype_name);
    s.tmpl.SetAttr("safetensors.index", std::to_string(t.index));
    s.file_offset = pos;
    s.size = *end - *start;
    segments.push_back(std::move(s));
    pos = *end;
  }
  auto size = src.size();
  if (size) {
    if (*size > pos) bytes_segment(*size, *size - pos, "safetensors.tail");
  } else {
    bytes_segment(pos, stream::kUntilEnd, "safetensors.tail");
  }

  stream::FrameHeader source;
  source.kind = static_cast<uint16_t>(FrameKind::kSource);
  source.format = "safetensors";
  source.name = src.name();
  source.file_size = size.value_or(0);
  source.SetAttr("safetensors.tensors", std::to_string(h.tensors.size()));
  source.SetAttr("safetensors.header_bytes", std::to_string(h.json_bytes));
  for (const auto& [k, v] : h.metadata) source.SetAttr("safetensors.metadata." + k, v);
  return std::make_unique<stream::SegmentSource>(src, std::move(source), std::move(segments),
                                                 options.chunk_size);
}

// ---- model.safetensors.index.json ----

int BidSafetensorsIndex(std::span<const uint8_t> head) {
  // A JSON object naming "weight_map" within its first 64 KiB (transformers writes
  // "metadata" first, then "weight_map").
  size_t i = 0;
  while (i < head.size() && (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t')) ++i;
  if (i >= head.size() || head[i] != '{') return 0;
  std::string_view text(reinterpret_cast<const char*>(head.data()), head.size());
  return text.find("\"weight_map\"") != std::string_view::npos ? 60 : 0;
}

Result<std::vector<SafetensorsShard>> CheckSafetensorsIndex(std::span<const uint8_t> bytes,
                                                            const std::string& dir) {
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  MLN_TRY(json j, ParseJson(text, "index"));
  if (!j.is_object()) return Fail(Errc::kBadData, "index JSON is not an object");
  auto map = j.find("weight_map");
  if (map == j.end() || !map->is_object()) {
    return Fail(Errc::kBadData, "index has no \"weight_map\" object");
  }
  std::map<std::string, std::vector<std::string>> by_file;
  for (const auto& [tensor, file] : map->items()) {
    if (!file.is_string()) {
      return Fail(TensorError(tensor, "weight_map value is " + std::string(file.type_name()) +
                                          ", expected a shard file name"));
    }
    by_file[file.get<std::string>()].push_back(tensor);
  }
  std::vector<SafetensorsShard> shards;
  for (const auto& [file, tensors] : by_file) {
    SafetensorsShard s;
    s.file = file;
    s.mapped_tensors = tensors.size();
    if (!dir.empty()) {
      // Shards are plain names beside the index; a path would let an index point anywhere.
      if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
        return Fail(Errc::kBadData, "shard '" + file + "' is not a file name beside the index");
      }
      std::string path = dir + "/" + file;
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        return Fail(Errc::kBadData, "shard '" + file + "' is missing: " + std::strerror(errno));
      }
      auto in = MakeFdSource(fd, path, /*owned=*/true);
      std::vector<uint8_t> raw;
      auto header = ReadSafetensorsHeader(*in, kSafetensorsMaxHeader, &raw);
      if (!header) {
        return Fail(Errc::kBadData, "shard '" + file + "': " + header.error().message +
                                        (header.error().tensor.empty() ? "" : " ('" + header.error().tensor + "')"));
      }
      std::unordered_set<std::string> names;
      for (const auto& t : header->tensors) names.insert(t.name);
      for (const auto& t : tensors) {
        if (!names.contains(t)) {
          return Fail(TensorError(t, "shard '" + file + "' does not hold tensor '" + t +
                                         "' that the index maps to it"));
        }
      }
      s.checked = true;
      s.file_tensors = header->tensors.size();
    }
    shards.push_back(std::move(s));
  }
  return shards;
}

Result<std::unique_ptr<stream::FrameSource>> ParseSafetensorsIndex(ByteSource& src,
                                                                   const ParseOptions& options) {
  // The index is a few MB at most (one line per tensor); it is read whole and carried as one
  // bytes run so mln-emit gives it back.
  auto raw_r = ReadAllBounded(src, std::min(kSafetensorsMaxHeader, options.max_header), "index");
  if (!raw_r) return Fail(std::move(raw_r).error().WithFile(src.name()));
  auto raw = std::make_shared<std::vector<uint8_t>>(std::move(*raw_r));
  std::string dir = SourceDir(src);
  auto shards = CheckSafetensorsIndex(*raw, dir);
  if (!shards) return Fail(std::move(shards).error().WithFile(src.name()));

  stream::FrameHeader source;
  source.kind = static_cast<uint16_t>(FrameKind::kSource);
  source.format = "safetensors-index";
  source.name = src.name();
  source.file_size = raw->size();
  uint64_t tensors = 0;
  for (const auto& s : *shards) tensors += s.mapped_tensors;
  source.SetAttr("safetensors.index.shards", std::to_string(shards->size()));
  source.SetAttr("safetensors.index.tensors", std::to_string(tensors));
  source.SetAttr("safetensors.index.checked",
                 dir.empty() ? "no: read from a pipe, shards not located" : "yes");
  for (const auto& s : *shards) {
    source.SetAttr("safetensors.index.shard." + s.file,
                   std::to_string(s.mapped_tensors) + " tensors mapped" +
                       (s.checked ? ", " + std::to_string(s.file_tensors) + " in the file" : ""));
  }
  std::vector<stream::Segment> segments(1);
  segments[0].tmpl.kind = static_cast<uint16_t>(FrameKind::kBytes);
  segments[0].tmpl.name = "safetensors.index";
  segments[0].size = raw->size();
  segments[0].held = raw->data();
  segments[0].held_owner = raw;
  return std::make_unique<stream::SegmentSource>(src, std::move(source), std::move(segments),
                                                 options.chunk_size);
}

}  // namespace mln::formats
