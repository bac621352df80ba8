#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <unordered_set>

#include "libstream/base/checked_math.h"
#include "libstream/base/whole_input.h"
#include "libstream/formats/json_text.h"
#include "libstream/formats/tflite.h"
#include "tflite_generated.h"

namespace mln::formats {
namespace {

namespace fb = mln::tflite_fb;
using stream::Dtype;
using stream::FrameKind;
using stream::Segment;

// FlatBuffers root offset (4 bytes), then the file identifier at bytes 4..7 (schema.fbs:
// file_identifier "TFL3").
constexpr size_t kIdentifierOffset = 4;
constexpr char kIdentifier[4] = {'T', 'F', 'L', '3'};
// TFLite nests Model > SubGraph > Tensor > QuantizationParameters > CustomQuantization, so
// real models stay far below this; hostile nesting fails here instead of exhausting the stack.
constexpr flatbuffers::uoffset_t kMaxDepth = 64;
// A table needs at least 4 bytes (its vtable offset), so a well-formed file has fewer
// tables than size / 4. The Verifier counts visits, not distinct tables, so the limit also
// bounds the work a hostile DAG of shared subtrees can cause to linear in the file size.
constexpr uint64_t kMinTableLimit = 1u << 16;
// Used once, after a failure, to tell "nested too deep" from "malformed"; small enough that
// the Verifier's recursion cannot overflow the stack.
constexpr flatbuffers::uoffset_t kProbeDepth = 1024;
constexpr size_t kShownValues = 4;  // quantization values shown in an attribute
// Names are labels, the bytes travel verbatim anyway: a FlatBuffer may point thousands of
// tensors at one huge string, so names are cut and lists shortened to keep the frame headers,
// and the memory spent on them, proportional to the number of runs.
constexpr size_t kMaxName = 1024;
constexpr size_t kMaxListed = 16;
constexpr const char* kFlatbufferRun = "tflite.flatbuffer";  // bytes around the buffers

struct TypeFacts {
  const char* name;
  Dtype dtype;  // kUnknown: no mln dtype, carried as u8
  uint32_t bytes;
};

// TensorType (schema.fbs, enum TensorType : byte).
constexpr TypeFacts kTypes[] = {
    {"FLOAT32", Dtype::kF32, 4},     {"FLOAT16", Dtype::kF16, 2},
    {"INT32", Dtype::kI32, 4},       {"UINT8", Dtype::kU8, 1},
    {"INT64", Dtype::kI64, 8},       {"STRING", Dtype::kUnknown, 0},
    {"BOOL", Dtype::kBool, 1},       {"INT16", Dtype::kI16, 2},
    {"COMPLEX64", Dtype::kUnknown, 0}, {"INT8", Dtype::kI8, 1},
    {"FLOAT64", Dtype::kF64, 8},     {"COMPLEX128", Dtype::kUnknown, 0},
    {"UINT64", Dtype::kU64, 8},      {"RESOURCE", Dtype::kUnknown, 0},
    {"VARIANT", Dtype::kUnknown, 0}, {"UINT32", Dtype::kU32, 4},
    {"UINT16", Dtype::kU16, 2},      {"INT4", Dtype::kUnknown, 0},
};

const TypeFacts* FindType(int type) {
  return type >= 0 && static_cast<size_t>(type) < std::size(kTypes) ? &kTypes[type] : nullptr;
}

std::string Num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
std::string Num(int64_t v) { return std::to_string(v); }

// "v" for one value, "v0, v1, v2, v3, ... (N values)" for more: enough to recognise per-
// tensor vs per-channel quantization without copying whole vectors into every frame.
// Elements are copied out, not loaded through Vector::Get: the Verifier only checks that a
// vector's length is 4-byte aligned, so the int64 zero points of a hostile file may sit at
// an address that is not 8-byte aligned (the fuzzer found it).
template <typename T>
std::string Summary(const flatbuffers::Vector<T>* v) {
  std::string s;
  size_t n = v->size();
  for (size_t i = 0; i < n && i < kShownValues; ++i) {
    if (i) s += ", ";
    T value;
    std::memcpy(&value, v->Data() + i * sizeof(T), sizeof(T));
    s += Num(static_cast<std::conditional_t<std::is_floating_point_v<T>, double, int64_t>>(
        flatbuffers::EndianScalar(value)));
  }
  if (n > kShownValues) s += ", ...";
  if (n > 1) s += " (" + std::to_string(n) + " values)";
  return s;
}

template <typename T>
std::string IntList(const flatbuffers::Vector<T>* v) {
  nlohmann::json j = nlohmann::json::array();
  if (v) {
    for (auto x : *v) j.push_back(x);
  }
  return j.dump();
}

struct TensorUse {
  uint32_t subgraph;
  uint32_t index;
  const fb::Tensor* tensor;
};

// One byte range of tensor data: a Buffer.data payload or an external Buffer.offset/size.
struct Piece {
  uint64_t offset;
  uint64_t size;
  uint32_t buffer;
  Dtype index = Dtype::kUnknown;  ///< set for a sparse tensor's index array
};

// The file bytes of an index vector table's values (Int32Vector, Uint16Vector, ...), and
// their size; null when there are none. The verifier accepts a union whose type is set but
// whose table is absent, so `v` may be null.
template <typename Table>
std::pair<const uint8_t*, uint64_t> IndexValues(const void* v) {
  if (v == nullptr) return {nullptr, 0};
  const auto* values = static_cast<const Table*>(v)->values();
  if (values == nullptr || values->size() == 0) return {nullptr, 0};
  // The verified vector's element count is its first word; its data follows.
  return {reinterpret_cast<const uint8_t*>(values->Data()), values->size() * sizeof(values->Get(0))};
}

// The run of file bytes that holds a sparse tensor's index array, typed by its element.
std::optional<Piece> IndexArray(std::span<const uint8_t> file, uint8_t type, const void* v) {
  std::pair<const uint8_t*, uint64_t> bytes;
  Dtype dtype;
  switch (type) {
    case fb::SparseIndexVector_Int32Vector:
      bytes = IndexValues<fb::Int32Vector>(v), dtype = Dtype::kI32;
      break;
    case fb::SparseIndexVector_Uint16Vector:
      bytes = IndexValues<fb::Uint16Vector>(v), dtype = Dtype::kU16;
      break;
    case fb::SparseIndexVector_Uint8Vector:
      bytes = IndexValues<fb::Uint8Vector>(v), dtype = Dtype::kU8;
      break;
    default:
      return std::nullopt;
  }
  if (bytes.first == nullptr) return std::nullopt;
  return Piece{static_cast<uint64_t>(bytes.first - file.data()), bytes.second, 0, dtype};
}

// Index arrays (CSR segments and indices) of every sparse tensor, in file order. A patch
// codes these sorted integers far better on their own than inside the FlatBuffer bytes.
std::vector<Piece> IndexArrays(std::span<const uint8_t> file, const fb::Model* model) {
  std::vector<Piece> out;
  if (!model->subgraphs()) return out;
  for (const fb::SubGraph* sg : *model->subgraphs()) {
    if (!sg->tensors()) continue;
    for (const fb::Tensor* t : *sg->tensors()) {
      const fb::SparsityParameters* sp = t->sparsity();
      if (!sp || !sp->dim_metadata()) continue;
      for (const fb::DimensionMetadata* d : *sp->dim_metadata()) {
        for (auto p : {IndexArray(file, d->array_segments_type(), d->array_segments()),
                       IndexArray(file, d->array_indices_type(), d->array_indices())}) {
          if (p) out.push_back(*p);
        }
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Piece& a, const Piece& b) { return a.offset < b.offset; });
  return out;
}

std::string Cut(std::string_view s) { return std::string(s.substr(0, kMaxName)); }

std::string TensorName(const TensorUse& u) {
  if (u.tensor->name() && u.tensor->name()->size() > 0) {
    return Cut(u.tensor->name()->string_view());
  }
  return "subgraph" + std::to_string(u.subgraph) + ".tensor" + std::to_string(u.index);
}

// Fills the dtype, shape and attributes of a tensor run from the first tensor that uses
// the buffer; the others are listed in tflite.shared_by.
void DescribeTensor(const std::vector<TensorUse>& uses, uint64_t n_uses, uint64_t bytes,
                    stream::FrameHeader& h) {
  const TensorUse& u = uses.front();
  const fb::Tensor* t = u.tensor;
  if (t->shape()) {
    for (int32_t d : *t->shape()) h.shape.push_back(d);
  }
  h.SetAttr("tflite.subgraph", std::to_string(u.subgraph));
  h.SetAttr("tflite.tensor", std::to_string(u.index));

  int type = t->type();
  const TypeFacts* facts = FindType(type);
  bool sparse = t->sparsity() != nullptr;
  // The frame's dtype must describe the bytes exactly (filters split and convert by it).
  // Sparse data, types mln has no dtype for, and data whose size disagrees with the shape
  // travel as u8 with the TFLite type kept in tflite.type.
  bool exact = facts && facts->dtype != Dtype::kUnknown && !sparse;
  if (exact) {
    uint64_t elems = 1;
    for (int64_t d : h.shape) {
      auto e = d < 0 ? std::nullopt : CheckedMul(elems, static_cast<uint64_t>(d));
      if (!e) {
        exact = false;
        break;
      }
      elems = *e;
    }
    auto want = CheckedMul(elems, uint64_t{facts ? facts->bytes : 0});
    if (exact && (!want || *want != bytes)) exact = false;
  }
  h.dtype = static_cast<uint32_t>(exact ? facts->dtype : Dtype::kU8);
  if (!exact) h.SetAttr("tflite.type", TfliteTypeName(type));

  if (const fb::QuantizationParameters* q = t->quantization()) {
    if (q->scale() && q->scale()->size()) h.SetAttr("tflite.quant.scale", Summary(q->scale()));
    if (q->zero_point() && q->zero_point()->size()) {
      h.SetAttr("tflite.quant.zero_point", Summary(q->zero_point()));
    }
    if (q->min() && q->min()->size()) h.SetAttr("tflite.quant.min", Summary(q->min()));
    if (q->max() && q->max()->size()) h.SetAttr("tflite.quant.max", Summary(q->max()));
    if ((q->scale() && q->scale()->size() > 1) || q->quantized_dimension() != 0) {
      h.SetAttr("tflite.quant.dimension", std::to_string(q->quantized_dimension()));
    }
    if (q->details_type() != fb::QuantizationDetails_NONE) {
      h.SetAttr("tflite.quant.details", q->details_type() ==
                                                fb::QuantizationDetails_CustomQuantization
                                            ? "CustomQuantization"
                                            : "type" + std::to_string(q->details_type()));
    }
  }
  if (sparse) {
    const fb::SparsityParameters* sp = t->sparsity();
    std::string s = "traversal_order=" + IntList(sp->traversal_order());
    if (sp->block_map()) s += " block_map=" + IntList(sp->block_map());
    h.SetAttr("tflite.sparsity", s);
  }
  if (t->is_variable()) h.SetAttr("tflite.is_variable", "true");
  if (n_uses > 1) {
    nlohmann::json others = nlohmann::json::array();
    for (size_t i = 1; i < uses.size(); ++i) others.push_back(TensorName(uses[i]));
    h.SetAttr("tflite.shared_by",
              others.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (n_uses > uses.size()) h.SetAttr("tflite.shared_count", std::to_string(n_uses));
  }
}

Error BadData(const ByteSource& src, std::string message, std::optional<uint64_t> offset = {},
              std::string tensor = {}) {
  return Error{Errc::kBadData, std::move(message), src.name(), std::nullopt, offset,
               std::move(tensor)};
}

}  // namespace

std::string TfliteTypeName(int type) {
  const TypeFacts* f = FindType(type);
  return f ? f->name : "TYPE" + std::to_string(type);
}

int BidTflite(std::span<const uint8_t> head) {
  if (head.size() >= kIdentifierOffset + 4 &&
      std::memcmp(head.data() + kIdentifierOffset, kIdentifier, 4) == 0) {
    return 100;
  }
  return 0;
}

Result<std::unique_ptr<stream::FrameSource>> ParseTflite(ByteSource& src,
                                                         const ParseOptions& options) {
  // A FlatBuffer is read through offsets that may point anywhere in the file, so it needs
  // random access: map the file (or hold a pipe's bytes), never copy tensor data up front.
  MLN_TRY(WholeInput whole, ReadWholeInput(src, kTfliteMaxPipeBytes));
  std::span<const uint8_t> file = whole.bytes;
  if (file.size() < kIdentifierOffset + 4) {
    return Fail(BadData(src, "truncated TFLite file: " + std::to_string(file.size()) +
                                 " bytes, expected at least 8 (root offset and \"TFL3\")"));
  }
  if (std::memcmp(file.data() + kIdentifierOffset, kIdentifier, 4) != 0) {
    return Fail(BadData(src, "not a TFLite file: expected identifier \"TFL3\" at offset 4"));
  }
  // 32-bit FlatBuffers offsets reach only the first 2 GB; buffers of larger models lie
  // beyond and are reached through Buffer.offset, which is checked against the whole file.
  size_t fb_size = std::min<size_t>(file.size(), FLATBUFFERS_MAX_BUFFER_SIZE - 1);
  uint64_t table_limit = std::max<uint64_t>(kMinTableLimit, fb_size / 4);
  {
    flatbuffers::Verifier verifier(file.data(), fb_size, kMaxDepth,
                                   static_cast<flatbuffers::uoffset_t>(table_limit));
    if (!fb::VerifyModelBuffer(verifier)) {
      flatbuffers::Verifier deeper(file.data(), fb_size, kProbeDepth,
                                   static_cast<flatbuffers::uoffset_t>(table_limit));
      std::string why =
          fb::VerifyModelBuffer(deeper)
              ? "tables nested deeper than " + std::to_string(kMaxDepth) + " levels"
              : "an offset, vtable or vector lies outside the file or is misaligned, or "
                "tables nest deeper than " +
                    std::to_string(kMaxDepth) + " levels or number over " +
                    std::to_string(table_limit);
      return Fail(BadData(src, "TFLite FlatBuffer fails verification: " + why));
    }
  }
  const fb::Model* model = fb::GetModel(file.data());
  const auto* buffers = model->buffers();
  const uint32_t n_buffers = buffers ? buffers->size() : 0;

  // Which tensors use each buffer, in subgraph and tensor order.
  // The first kMaxListed + 1 users of each buffer, and how many there are.
  std::vector<std::vector<TensorUse>> uses(n_buffers);
  std::vector<uint64_t> n_uses(n_buffers, 0);
  uint64_t n_tensors = 0, n_operators = 0;
  const uint32_t n_subgraphs = model->subgraphs() ? model->subgraphs()->size() : 0;
  for (uint32_t s = 0; s < n_subgraphs; ++s) {
    const fb::SubGraph* sg = model->subgraphs()->Get(s);
    if (sg->operators()) n_operators += sg->operators()->size();
    if (!sg->tensors()) continue;
    for (uint32_t i = 0; i < sg->tensors()->size(); ++i) {
      const fb::Tensor* t = sg->tensors()->Get(i);
      ++n_tensors;
      TensorUse u{s, i, t};
      if (t->buffer() >= n_buffers) {
        return Fail(BadData(src,
                            "subgraph " + std::to_string(s) + " tensor " + std::to_string(i) +
                                " refers to buffer " + std::to_string(t->buffer()) +
                                ", expected an index below the buffer count " +
                                std::to_string(n_buffers),
                            std::nullopt, TensorName(u)));
      }
      if (n_uses[t->buffer()]++ <= kMaxListed) uses[t->buffer()].push_back(u);
    }
  }
  std::vector<std::string_view> metadata_names(n_buffers);  // point into the file
  nlohmann::json metadata = nlohmann::json::array();
  if (model->metadata()) {
    for (uint32_t i = 0; i < model->metadata()->size(); ++i) {
      const fb::Metadata* m = model->metadata()->Get(i);
      std::string_view name = m->name() ? m->name()->string_view() : std::string_view();
      if (m->buffer() >= n_buffers) {
        return Fail(BadData(src, "metadata '" + Cut(name) + "' refers to buffer " +
                                     std::to_string(m->buffer()) +
                                     ", expected an index below the buffer count " +
                                     std::to_string(n_buffers)));
      }
      if (metadata_names[m->buffer()].empty()) metadata_names[m->buffer()] = name;
      if (i < kMaxListed) metadata.push_back(Cut(name));
    }
    if (model->metadata()->size() > kMaxListed) metadata.push_back("...");
  }

  std::vector<Piece> pieces;
  for (uint32_t b = 0; b < n_buffers; ++b) {
    const fb::Buffer* buf = buffers->Get(b);
    if (buf->data() && buf->data()->size() > 0) {
      pieces.push_back({static_cast<uint64_t>(buf->data()->Data() - file.data()),
                        buf->data()->size(), b});
    }
    // schema.fbs: the offset "is only valid if > 1".
    if (buf->offset() > 1 && buf->size() > 0) {
      auto end = CheckedAdd(buf->offset(), buf->size());
      if (!end || *end > file.size()) {
        return Fail(BadData(src,
                            "buffer " + std::to_string(b) + " data [" +
                                std::to_string(buf->offset()) + ", +" +
                                std::to_string(buf->size()) + ") runs past the end of the " +
                                std::to_string(file.size()) + "-byte file",
                            buf->offset()));
      }
      pieces.push_back({buf->offset(), buf->size(), b});
    }
  }
  // Names are given in buffer order, so they do not depend on where a converter put the
  // data. Tensor names are not unique in TFLite (subgraphs reuse them), a run's name must be:
  // later buffers get "#<buffer index>" appended.
  std::vector<std::string> names(n_buffers);
  std::unordered_set<std::string> taken;
  for (const Piece& p : pieces) {
    if (!names[p.buffer].empty()) continue;  // data and offset both set: one name
    const auto& u = uses[p.buffer];
    std::string name;
    if (!u.empty()) {
      name = TensorName(u.front());
    } else if (!metadata_names[p.buffer].empty()) {
      name = "tflite.metadata." + Cut(metadata_names[p.buffer]);
    } else {
      name = "tflite.buffer." + std::to_string(p.buffer);
    }
    if (!taken.insert(name).second) {
      std::string base = name + "#" + std::to_string(p.buffer);
      name = base;
      for (int k = 2; !taken.insert(name).second; ++k) name = base + "." + std::to_string(k);
    }
    names[p.buffer] = std::move(name);
  }
  std::stable_sort(pieces.begin(), pieces.end(),
                   [](const Piece& a, const Piece& b) { return a.offset < b.offset; });
  // Index arrays join as bytes runs where they overlap nothing else (a writer may share one
  // vector between tensors, or point it into a buffer): the cut never changes the bytes.
  {
    std::vector<Piece> merged;
    std::vector<Piece> arrays = IndexArrays(file, model);
    size_t k = 0;
    uint64_t end = 0;
    for (size_t i = 0; i <= pieces.size(); ++i) {
      uint64_t next = i < pieces.size() ? pieces[i].offset : file.size();
      for (; k < arrays.size() && arrays[k].offset < next; ++k) {
        const Piece& a = arrays[k];
        if (a.offset >= end && a.size <= next - a.offset) {
          merged.push_back(a);
          end = a.offset + a.size;
        }
      }
      if (i == pieces.size()) break;
      merged.push_back(pieces[i]);
      end = std::max(end, pieces[i].offset + pieces[i].size);
    }
    pieces = std::move(merged);
  }

  std::vector<Segment> segments;
  auto add = [&](FrameKind kind, uint64_t offset, uint64_t size) -> Segment& {
    Segment s;
    s.tmpl.kind = static_cast<uint16_t>(kind);
    s.file_offset = offset;
    s.size = size;
    s.held = file.data() + offset;
    s.held_owner = whole.owner;
    segments.push_back(std::move(s));
    return segments.back();
  };
  uint64_t pos = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const Piece& p = pieces[i];
    if (p.offset < pos) {
      const Piece& prev = pieces[i - 1];
      return Fail(BadData(src,
                          "buffer " + std::to_string(p.buffer) + " data at " +
                              std::to_string(p.offset) + " overlaps buffer " +
                              std::to_string(prev.buffer) + " data ending at " +
                              std::to_string(pos),
                          p.offset));
    }
    if (p.offset > pos) add(FrameKind::kBytes, pos, p.offset - pos).tmpl.name = kFlatbufferRun;
    if (p.index != Dtype::kUnknown) {
      Segment& s = add(FrameKind::kBytes, p.offset, p.size);
      s.tmpl.name = kTfliteSparsityRun;
      s.tmpl.dtype = static_cast<uint32_t>(p.index);
      pos = p.offset + p.size;
      continue;
    }
    const auto& u = uses[p.buffer];
    // Buffers no tensor uses (metadata, or left over by a converter) are not tensors: no
    // dtype or shape describes them, so they travel as bytes runs.
    Segment& s = add(u.empty() ? FrameKind::kBytes : FrameKind::kTensor, p.offset, p.size);
    s.tmpl.name = names[p.buffer];
    if (!u.empty()) DescribeTensor(u, n_uses[p.buffer], p.size, s.tmpl);
    s.tmpl.SetAttr("tflite.buffer", std::to_string(p.buffer));
    pos = p.offset + p.size;
  }
  if (file.size() > pos) add(FrameKind::kBytes, pos, file.size() - pos).tmpl.name = kFlatbufferRun;

  stream::FrameHeader source;
  source.kind = static_cast<uint16_t>(FrameKind::kSource);
  source.format = "tflite";
  source.name = src.name();
  source.file_size = file.size();
  source.SetAttr("tflite.version", std::to_string(model->version()));
  source.SetAttr("tflite.subgraphs", std::to_string(n_subgraphs));
  source.SetAttr("tflite.tensors", std::to_string(n_tensors));
  source.SetAttr("tflite.buffers", std::to_string(n_buffers));
  source.SetAttr("tflite.operators", std::to_string(n_operators));
  if (model->description()) {
    source.SetAttr("tflite.description", Cut(model->description()->string_view()));
  }
  if (!metadata.empty()) {
    source.SetAttr("tflite.metadata",
                   metadata.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  return std::make_unique<stream::SegmentSource>(src, std::move(source), std::move(segments),
                                                 options.chunk_size);
}

}  // namespace mln::formats
