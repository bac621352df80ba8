#include "libstream/inspect/inspect.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "libstream/codecs/codec.h"
#include "libstream/crypto/digest.h"
#include "libstream/formats/format.h"
#include "libstream/formats/json_text.h"
#include "libstream/formats/onnx.h"
#include "libstream/stream/reader.h"

namespace mln::inspect {
namespace {

using stream::FrameKind;

// Lists `codec` in `codecs` unless it is there already.
void AddCodec(std::vector<std::string>& list, uint8_t codec) {
  std::string name = codecs::CodecName(codec);
  if (std::find(list.begin(), list.end(), name) == list.end()) list.push_back(name);
}

// Accumulates tensors across chunks, hashing each tensor whole.
class Collector {
 public:
  explicit Collector(Report& r) : r_(r) {}

  /// `stored` is the payload size before decoding.
  Result<void> Add(const stream::Frame& f, uint64_t stored, uint8_t codec) {
    const stream::FrameHeader& h = f.header;
    r_.payload_bytes += f.payload.size();
    r_.stored_bytes += stored;
    if (h.Is(FrameKind::kSource)) {
      CloseTensor();
      // An ONNX data file belongs to the model before it: listed with it, not instead.
      if (have_source_ && h.format == "onnx" &&
          h.Attr("onnx.part") == std::string_view(formats::kOnnxExternalPart)) {
        ExternalFileEntry e;
        e.location = std::string(h.Attr("onnx.external.location").value_or(h.name));
        e.file_size = h.file_size;
        r_.external_files.push_back(std::move(e));
        in_external_ = true;
        return {};
      }
      have_source_ = true;
      in_external_ = false;
      r_.format = h.format;
      r_.file_size = h.file_size;
      r_.source_attrs = h.attrs;
      return {};
    }
    if (h.Is(FrameKind::kBytes)) {
      CloseTensor();
      ++r_.bytes_frames;
      r_.bytes_frame_bytes += f.payload.size();
      if (in_external_) r_.external_files.back().other_bytes += f.payload.size();
      if (h.name == "gguf.header") gguf_header_.Append(f.payload.data(), f.payload.size());
      return {};
    }
    if (h.Is(FrameKind::kPatch)) {
      if (!r_.patch) r_.patch.emplace();
      return delta::ReadPatchFrame(h, r_.patch->info);
    }
    if (h.Is(FrameKind::kDelta) && r_.patch) {
      AddOp(h, f.payload.size(), stored, codec);
      return {};
    }
    if (h.Is(FrameKind::kSignature)) {
      SignatureEntry e;
      e.frame = f.read_index.value_or(0);
      e.key_id = std::string(h.Attr(verify::kKeyIdAttr).value_or(""));
      if (auto m = verify::ParseManifest(f.payload.span())) e.manifest = std::move(*m);
      else e.manifest_error = m.error().message;
      r_.signatures.push_back(std::move(e));
      return {};
    }
    if (!h.Is(FrameKind::kTensor)) {
      ++r_.unknown_frames;
      return {};
    }
    if (h.chunk_index == 0) {
      CloseTensor();
      TensorEntry t;
      t.name = h.name;
      t.dtype = h.dtype;
      t.shape = h.shape;
      t.bytes = h.tensor_bytes;
      t.file_offset = h.file_offset;
      t.attrs = h.attrs;
      if (in_external_) {
        ExternalFileEntry& e = r_.external_files.back();
        t.external_file = e.location;
        ++e.tensors;
        e.tensor_bytes += h.tensor_bytes;
      } else if (h.Attr("onnx.external.carried") == "false") {
        t.uncarried_file = std::string(h.Attr("onnx.external.location").value_or(""));
      }
      r_.tensors.push_back(std::move(t));
      hasher_ = std::make_unique<crypto::Xxh3Hasher>();
    }
    if (!hasher_) return Fail(Errc::kBadData, "tensor chunk without its first chunk");
    hasher_->Update(f.payload.data(), f.payload.size());
    TensorEntry& t = r_.tensors.back();
    ++t.chunks;
    t.stored_bytes += stored;
    AddCodec(t.codecs, codec);
    return {};
  }

  Result<void> Finish() {
    CloseTensor();
    if (r_.format == "gguf" && !gguf_header_.empty()) {
      auto src = MakeMemorySource(gguf_header_.span(), "gguf.header");
      MLN_TRY(r_.gguf, formats::ReadGgufHeader(*src, gguf_header_.size(), nullptr));
    }
    return {};
  }

 private:
  void AddOp(const stream::FrameHeader& h, uint64_t payload, uint64_t stored, uint8_t codec) {
    auto& ops = r_.patch->ops;
    bool merge = !ops.empty() && ops.back().name == h.name && ops.back().op == h.op &&
                 h.op != static_cast<uint8_t>(delta::PatchOp::kKeep) &&
                 ops.back().new_offset + ops.back().new_bytes == h.file_offset;
    if (!merge) {
      PatchOpEntry e;
      e.name = h.name;
      e.op = h.op;
      e.dtype = h.dtype;
      e.shape = h.shape;
      e.new_offset = h.file_offset;
      e.base_offset = h.base_offset;
      if (auto n = h.Attr(delta::kAttrRunFrames)) e.run_frames = std::stoull(std::string(*n));
      e.run_last = std::string(h.Attr(delta::kAttrRunLast).value_or(""));
      ops.push_back(std::move(e));
    }
    PatchOpEntry& e = ops.back();
    e.new_bytes += h.out_size;
    e.base_bytes += h.base_size;
    e.payload_bytes += payload;
    e.stored_bytes += stored;
    AddCodec(e.codecs, codec);
    ++e.frames;
  }

  void CloseTensor() {
    if (hasher_) r_.tensors.back().xxh3 = hasher_->Digest();
    hasher_.reset();
  }

  Report& r_;
  bool have_source_ = false;
  bool in_external_ = false;  // frames belong to the last of r_.external_files
  std::unique_ptr<crypto::Xxh3Hasher> hasher_;
  AlignedBuffer gguf_header_;
};

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string Printf(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

// One line per signature frame, as found.
std::string SignatureLines(const Report& r) {
  std::string out;
  for (const auto& sig : r.signatures) {
    out += Printf("  signature     frame %" PRIu64 ", key %s: ", sig.frame, sig.key_id.c_str());
    if (!sig.manifest) {
      out += "unreadable manifest (" + sig.manifest_error + ")\n";
      continue;
    }
    const verify::Manifest& m = *sig.manifest;
    out += "'" + m.name + "' version " + std::to_string(m.version) + ", signed " +
           verify::FormatTime(m.created) +
           (m.expires ? ", expires " + verify::FormatTime(*m.expires) : std::string()) +
           " (not checked: mln-verify --pubkey)\n";
  }
  return out;
}

}  // namespace

Result<Report> Inspect(ByteSource& in) {
  Report r;
  r.input = in.name();
  MLN_TRY(auto head, in.Peek(64));
  Collector collect(r);
  if (stream::LooksLikeStream(head)) {
    r.is_stream = true;
    stream::Reader reader(in);
    for (;;) {
      MLN_TRY(auto frame, reader.Next());
      if (!frame) break;
      uint64_t stored = frame->payload.size();
      uint8_t codec = frame->header.codec;
      if (auto ok = codecs::DecodeFrame(*frame); !ok) {
        return Fail(std::move(ok).error().WithFile(in.name()).WithFrame(reader.frames_read() - 1,
                                                                         frame->header.name));
      }
      MLN_RETURN_IF_ERROR(collect.Add(*frame, stored, codec));
    }
    r.frames = reader.frames_read();
    r.stream_sha256 = crypto::ToHex(reader.trailer()->digest);
  } else {
    MLN_TRY(auto source, formats::OpenModel(in, "", {}));
    for (;;) {
      MLN_TRY(auto frame, source->Next());
      if (!frame) break;
      ++r.frames;
      MLN_RETURN_IF_ERROR(collect.Add(*frame, frame->payload.size(), 0));
    }
  }
  if (auto ok = collect.Finish(); !ok) return Fail(std::move(ok).error().WithFile(in.name()));
  return r;
}

namespace {

// "byteplane,zstd": the codecs of a tensor's or an op's frames.
std::string JoinCodecs(const std::vector<std::string>& list) {
  std::string joined;
  for (const auto& c : list) joined += (joined.empty() ? "" : ",") + c;
  return joined;
}

std::string RenderPatchTable(const Report& r) {
  const PatchReport& p = *r.patch;
  std::string out = r.input + ": patch from a " + p.info.base_format + " file to a " +
                    p.info.new_format + " file (mln-diff)\n";
  out += Printf("  base          %" PRIu64 " bytes, sha256 %s\n", p.info.base_size,
                p.info.base_sha256.c_str());
  out += Printf("  new           %" PRIu64 " bytes, sha256 %s\n", p.info.new_size,
                p.info.new_sha256.c_str());
  out += Printf("  patch         %" PRIu64 " frames, stored payloads %" PRIu64 " bytes\n", r.frames,
                r.stored_bytes);
  out += "  stream sha256 " + r.stream_sha256 + "\n" + SignatureLines(r) + "\nops:\n";
  out += Printf("  %-8s %6s %14s %14s %14s\n", "op", "count", "new bytes", "payload", "stored");
  for (uint8_t op = 0; op < delta::kOpCount; ++op) {
    uint64_t n = 0, bytes = 0, payload = 0, stored = 0;
    for (const auto& e : p.ops) {
      if (e.op != op) continue;
      ++n;
      bytes += e.new_bytes;
      payload += e.payload_bytes;
      stored += e.stored_bytes;
    }
    if (n == 0) continue;
    out += Printf("  %-8s %6" PRIu64 " %14" PRIu64 " %14" PRIu64 " %14" PRIu64 "\n",
                  delta::OpName(op).c_str(), n, bytes, payload, stored);
  }
  int name_width = 4;
  for (const auto& e : p.ops) name_width = std::max(name_width, static_cast<int>(e.name.size()));
  name_width = std::min(name_width, 64);
  const bool compressed = r.stored_bytes != r.payload_bytes;
  out += Printf("\n  %-8s %-*s %-8s %12s %12s %12s %12s %12s%s\n", "op", name_width, "name",
                "type", "new offset", "new bytes", "base offset", "base bytes", "stored",
                compressed ? "  codec" : "");
  for (const auto& e : p.ops) {
    out += Printf("  %-8s %-*s %-8s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64
                  " %12" PRIu64,
                  delta::OpName(e.op).c_str(), name_width, e.name.c_str(),
                  stream::DtypeName(e.dtype).c_str(), e.new_offset, e.new_bytes, e.base_offset,
                  e.base_bytes, e.stored_bytes);
    if (compressed) out += "  " + JoinCodecs(e.codecs);
    if (e.run_frames > 1) {
      out += Printf("  (%" PRIu64 " frames%s%s)", e.run_frames, e.run_last.empty() ? "" : " to ",
                    e.run_last.c_str());
    }
    out += "\n";
  }
  return out;
}

// llama.cpp's gguf-split marks every shard with split.no (u16, counted from 0),
// split.count (u16) and split.tensors.count (i32, tensors of the whole model); values are
// the KVs' JSON text. "" when the file is not a shard.
std::string SplitLine(const formats::GgufHeader& g, size_t tensors) {
  std::string no, count, total;
  for (const auto& kv : g.kvs) {
    if (kv.key == "split.no") no = kv.json;
    if (kv.key == "split.count") count = kv.json;
    if (kv.key == "split.tensors.count") total = kv.json;
  }
  if (no.empty() || count.empty()) return "";
  char* end = nullptr;
  unsigned long long n = std::strtoull(no.c_str(), &end, 10);
  if (*end != '\0') return "";
  std::string line = "  split         shard " + std::to_string(n + 1) + " of " + count +
                     " (split.no " + no + "), " + std::to_string(tensors) + " tensors here";
  if (!total.empty()) line += " of " + total;
  return line + "\n";
}

}  // namespace

std::string RenderTable(const Report& r, bool verbose) {
  if (r.patch) return RenderPatchTable(r);
  std::string out;
  uint64_t tensor_bytes = 0;
  for (const auto& t : r.tensors) tensor_bytes += t.bytes;
  out += r.input + ": " + (r.format.empty() ? "unknown" : r.format) +
         (r.is_stream ? " model in an mln stream" : " model") + "\n";
  if (r.file_size) out += Printf("  file size     %" PRIu64 " bytes\n", r.file_size);
  out += Printf("  tensors       %zu (%" PRIu64 " bytes)\n", r.tensors.size(), tensor_bytes);
  out += Printf("  other bytes   %" PRIu64 " in %" PRIu64 " frames\n", r.bytes_frame_bytes,
                r.bytes_frames);
  if (r.stored_bytes != r.payload_bytes) {
    out += Printf("  compressed    %" PRIu64 " of %" PRIu64 " payload bytes (%.2f%%)\n",
                  r.stored_bytes, r.payload_bytes,
                  r.payload_bytes ? 100.0 * r.stored_bytes / r.payload_bytes : 100.0);
  }
  if (r.is_stream) {
    out += Printf("  frames        %" PRIu64 "%s\n", r.frames,
                  r.unknown_frames ? (" (" + std::to_string(r.unknown_frames) + " of unknown kind)").c_str() : "");
    out += "  stream sha256 " + r.stream_sha256 + "\n";
    out += SignatureLines(r);
  }
  // Format facts the parser put on the source frame ("tflite.subgraphs", ...), as they are.
  for (const auto& a : r.source_attrs) {
    if (r.gguf && a.key.starts_with("gguf.")) continue;  // shown below in one line
    out += Printf("  %-13s ", a.key.c_str()) + a.value + "\n";
  }
  for (const auto& e : r.external_files) {
    out += Printf("  external      %s: %" PRIu64 " bytes, %" PRIu64 " tensors (%" PRIu64
                  " bytes), %" PRIu64 " other bytes\n",
                  e.location.c_str(), e.file_size, e.tensors, e.tensor_bytes, e.other_bytes);
  }
  if (r.gguf) {
    const auto& g = *r.gguf;
    out += Printf("  gguf          version %u, alignment %u, %zu metadata keys, data at 0x%" PRIx64 "\n",
                  g.version, g.alignment, g.kvs.size(), g.data_offset);
    out += SplitLine(g, r.tensors.size());
    out += "\nmetadata:\n";
    for (const auto& kv : g.kvs) {
      std::string type = formats::GgufTypeName(kv.type);
      std::string value = kv.json;
      if (kv.type == static_cast<uint32_t>(formats::GgufType::kArray)) {
        type = formats::GgufTypeName(kv.array_type) + "[" + std::to_string(kv.array_count) + "]";
        if (kv.array_count > 8) value.insert(value.size() - 1, ",...");
      }
      if (!verbose && value.size() > 60) value = value.substr(0, 57) + "...";
      out += Printf("  %-40s %-14s ", kv.key.c_str(), type.c_str()) + value + "\n";
    }
  }
  out += "\ntensors:\n";
  // The name column fits the longest name (GGUF caps names at 63 bytes).
  int name_width = 4;
  for (const auto& t : r.tensors) name_width = std::max(name_width, static_cast<int>(t.name.size()));
  name_width = std::min(name_width, 64);
  bool compressed = r.stored_bytes != r.payload_bytes;
  out += Printf("  %5s  %-*s %-8s %-22s %12s %12s  %-16s", "#", name_width, "name", "type", "shape",
                "bytes", "offset", "xxh3");
  out += compressed ? "  stored  codec\n" : "\n";
  size_t i = 0;
  for (const auto& t : r.tensors) {
    out += Printf("  %5zu  %-*s %-8s %-22s %12" PRIu64 " %12" PRIu64 "  %-16s", i++, name_width,
                  t.name.c_str(), stream::DtypeName(t.dtype).c_str(), ShapeText(t.shape).c_str(),
                  t.bytes, t.file_offset, crypto::ToHex64(t.xxh3).c_str());
    if (compressed) {
      out += Printf("  %6.2f%%  %s", t.bytes ? 100.0 * t.stored_bytes / t.bytes : 100.0,
                    JoinCodecs(t.codecs).c_str());
    }
    // The offset is in the data file, not the model: say which file. A model parsed from
    // a pipe names its data files without carrying them: say so, or 0 bytes would puzzle.
    if (!t.external_file.empty()) out += "  in " + t.external_file;
    if (!t.uncarried_file.empty()) out += "  in " + t.uncarried_file + ", not carried";
    out += "\n";
    if (verbose) {
      for (const auto& a : t.attrs) out += "         " + a.key + " = " + a.value + "\n";
    }
  }
  return out;
}

std::string RenderJson(const Report& r) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["input"] = r.input;
  j["kind"] = r.is_stream ? "stream" : "model";
  j["format"] = r.format;
  j["file_size"] = r.file_size;
  j["frames"] = r.frames;
  j["bytes_frames"] = r.bytes_frames;
  j["bytes_frame_bytes"] = r.bytes_frame_bytes;
  j["unknown_frames"] = r.unknown_frames;
  if (r.is_stream) j["stream_sha256"] = r.stream_sha256;
  if (!r.signatures.empty()) {
    // As found: mln-verify --pubkey is what checks them.
    ordered_json sigs = ordered_json::array();
    for (const auto& sig : r.signatures) {
      ordered_json s;
      s["frame"] = sig.frame;
      s["key_id"] = sig.key_id;
      if (sig.manifest) {
        s["name"] = sig.manifest->name;
        s["version"] = sig.manifest->version;
        s["created"] = sig.manifest->created;
        if (sig.manifest->expires) s["expires"] = *sig.manifest->expires;
        s["content_sha256"] = crypto::ToHex(sig.manifest->content_sha256);
      } else {
        s["manifest_error"] = sig.manifest_error;
      }
      sigs.push_back(std::move(s));
    }
    j["signatures"] = std::move(sigs);
  }
  j["payload_bytes"] = r.payload_bytes;
  j["stored_bytes"] = r.stored_bytes;
  ordered_json attrs = ordered_json::object();
  for (const auto& a : r.source_attrs) attrs[a.key] = a.value;
  j["source"] = attrs;
  if (r.gguf) {
    const auto& g = *r.gguf;
    ordered_json gj;
    gj["version"] = g.version;
    gj["alignment"] = g.alignment;
    gj["data_offset"] = g.data_offset;
    ordered_json kvs = ordered_json::array();
    for (const auto& kv : g.kvs) {
      ordered_json k;
      k["key"] = kv.key;
      k["type"] = formats::GgufTypeName(kv.type);
      if (kv.type == static_cast<uint32_t>(formats::GgufType::kArray)) {
        k["element_type"] = formats::GgufTypeName(kv.array_type);
        k["count"] = kv.array_count;
        k["head"] = ordered_json::parse(kv.json);
      } else {
        k["value"] = ordered_json::parse(kv.json);
      }
      kvs.push_back(std::move(k));
    }
    gj["metadata"] = std::move(kvs);
    j["gguf"] = std::move(gj);
  }
  ordered_json ts = ordered_json::array();
  for (const auto& t : r.tensors) {
    ordered_json tj;
    tj["name"] = t.name;
    tj["type"] = stream::DtypeName(t.dtype);
    tj["type_id"] = t.dtype;
    tj["shape"] = t.shape;
    tj["bytes"] = t.bytes;
    tj["offset"] = t.file_offset;
    if (!t.external_file.empty()) tj["external_file"] = t.external_file;
    tj["chunks"] = t.chunks;
    tj["stored_bytes"] = t.stored_bytes;
    tj["codecs"] = t.codecs;
    tj["xxh3"] = crypto::ToHex64(t.xxh3);
    ordered_json attrs = ordered_json::object();
    for (const auto& a : t.attrs) attrs[a.key] = a.value;
    tj["attrs"] = std::move(attrs);
    ts.push_back(std::move(tj));
  }
  j["tensors"] = std::move(ts);
  if (!r.external_files.empty()) {
    ordered_json files = ordered_json::array();
    for (const auto& e : r.external_files) {
      files.push_back({{"location", e.location}, {"file_size", e.file_size},
                       {"tensors", e.tensors}, {"tensor_bytes", e.tensor_bytes},
                       {"other_bytes", e.other_bytes}});
    }
    j["external_files"] = std::move(files);
  }
  if (r.patch) {
    const PatchReport& p = *r.patch;
    j["kind"] = "patch";
    ordered_json pj;
    pj["base"] = {{"format", p.info.base_format}, {"size", p.info.base_size},
                  {"sha256", p.info.base_sha256}};
    pj["new"] = {{"format", p.info.new_format}, {"size", p.info.new_size},
                 {"sha256", p.info.new_sha256}};
    ordered_json ops = ordered_json::array();
    for (const auto& e : p.ops) {
      ordered_json o;
      o["op"] = delta::OpName(e.op);
      o["name"] = e.name;
      o["type"] = stream::DtypeName(e.dtype);
      o["shape"] = e.shape;
      o["new_offset"] = e.new_offset;
      o["new_bytes"] = e.new_bytes;
      o["base_offset"] = e.base_offset;
      o["base_bytes"] = e.base_bytes;
      o["payload_bytes"] = e.payload_bytes;
      o["stored_bytes"] = e.stored_bytes;
      o["codecs"] = e.codecs;
      o["frames"] = e.frames;
      if (e.run_frames) o["run_frames"] = e.run_frames;
      if (!e.run_last.empty()) o["run_last"] = e.run_last;
      ops.push_back(std::move(o));
    }
    pj["ops"] = std::move(ops);
    j["patch"] = std::move(pj);
  }
  return j.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace mln::inspect
