#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "libstream/base/checked_math.h"
#include "libstream/base/whole_input.h"
#include "libstream/formats/onnx.h"
#include "libstream/formats/protobuf_wire.h"
#include "libstream/stream/chunker.h"
#include "libstream/stream/frame.h"

namespace mln::formats {
namespace {

using pb::Field;
using pb::WireReader;
using pb::WireType;
using stream::Dtype;

// Field numbers from onnx/onnx.proto (checked against onnx 1.12, as Debian ships it, and
// against onnx main; numbers are never reused in protobuf).
namespace model_f {
constexpr uint32_t kIrVersion = 1, kProducerName = 2, kProducerVersion = 3, kGraph = 7,
                   kOpsetImport = 8, kTrainingInfo = 20, kFunctions = 25;
}
namespace graph_f {
constexpr uint32_t kNode = 1, kInitializer = 5, kSparseInitializer = 15;
}
namespace node_f {
constexpr uint32_t kOutput = 2, kName = 3, kOpType = 4, kAttribute = 5, kDomain = 7;
}
namespace attr_f {
constexpr uint32_t kName = 1, kT = 5, kG = 6, kTensors = 10, kGraphs = 11, kSparseTensor = 22,
                   kSparseTensors = 23;
}
namespace tensor_f {
constexpr uint32_t kDims = 1, kDataType = 2, kFloatData = 4, kInt32Data = 5, kStringData = 6,
                   kInt64Data = 7, kName = 8, kRawData = 9, kDoubleData = 10, kUint64Data = 11,
                   kExternalData = 13, kDataLocation = 14;
}
namespace sparse_f {
constexpr uint32_t kValues = 1, kIndices = 2;
}
namespace training_f {
constexpr uint32_t kInitialization = 1, kAlgorithm = 2;
}
namespace function_f {
constexpr uint32_t kName = 1, kNode = 7;
}
namespace opset_f {
constexpr uint32_t kDomain = 1, kVersion = 2;
}
namespace entry_f {
constexpr uint32_t kKey = 1, kValue = 2;
}
constexpr int32_t kDataLocationExternal = 1;
// ONNX files cannot exceed 2 GiB (protobuf's message size limit), which also bounds what
// reading one from a pipe can cost.
constexpr uint64_t kMaxPipeBytes = 2ull << 30;

struct DataTypeInfo {
  const char* name;
  Dtype dtype;  // kUnknown: no mln element type with the same bits
};

const DataTypeInfo* GetDataType(int32_t t) {
  // TensorProto.DataType, in enum order.
  static const DataTypeInfo kTypes[] = {
      {"UNDEFINED", Dtype::kUnknown}, {"FLOAT", Dtype::kF32},
      {"UINT8", Dtype::kU8},          {"INT8", Dtype::kI8},
      {"UINT16", Dtype::kU16},        {"INT16", Dtype::kI16},
      {"INT32", Dtype::kI32},         {"INT64", Dtype::kI64},
      {"STRING", Dtype::kUnknown},    {"BOOL", Dtype::kBool},
      {"FLOAT16", Dtype::kF16},       {"DOUBLE", Dtype::kF64},
      {"UINT32", Dtype::kU32},        {"UINT64", Dtype::kU64},
      {"COMPLEX64", Dtype::kUnknown}, {"COMPLEX128", Dtype::kUnknown},
      {"BFLOAT16", Dtype::kBF16},     {"FLOAT8E4M3FN", Dtype::kF8E4M3},
      // The FNUZ variants have no negative zero and another bias: not mln's f8 types.
      {"FLOAT8E4M3FNUZ", Dtype::kUnknown}, {"FLOAT8E5M2", Dtype::kF8E5M2},
      {"FLOAT8E5M2FNUZ", Dtype::kUnknown}, {"UINT4", Dtype::kUnknown},
      {"INT4", Dtype::kUnknown},
  };
  if (t < 0 || static_cast<size_t>(t) >= std::size(kTypes)) return nullptr;
  return &kTypes[t];
}

std::string WireName(WireType t) {
  switch (t) {
    case WireType::kVarint: return "varint";
    case WireType::kFixed64: return "fixed64";
    case WireType::kLen: return "length-delimited";
    case WireType::kFixed32: return "fixed32";
  }
  return "?";
}

Result<uint64_t> ParseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 20) return Fail(Errc::kBadData, "'" + std::string(s) + "' is not a byte count");
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return Fail(Errc::kBadData, "'" + std::string(s) + "' is not a byte count");
    auto m = CheckedMul(v, uint64_t{10});
    auto a = m ? CheckedAdd(*m, static_cast<uint64_t>(c - '0')) : std::nullopt;
    if (!a) return Fail(Errc::kBadData, "'" + std::string(s) + "' overflows 64 bits");
    v = *a;
  }
  return v;
}

// Elements of a tensor with these dims; nullopt for a negative dim or an overflow.
std::optional<uint64_t> ElementCount(const std::vector<int64_t>& dims) {
  uint64_t elems = 1;
  for (int64_t d : dims) {
    auto e = d < 0 ? std::nullopt : CheckedMul(elems, static_cast<uint64_t>(d));
    if (!e) return std::nullopt;
    elems = *e;
  }
  return elems;
}

// The dtype is only claimed when the bytes hold exactly dims' elements of it, so a
// consumer that trusts dtype and shape never reads past or misreads the data.
uint32_t ClaimDtype(const std::vector<int64_t>& dims, Dtype want, uint64_t bytes) {
  if (want == Dtype::kUnknown) return static_cast<uint32_t>(Dtype::kUnknown);
  auto dinfo = stream::GetDtypeInfo(static_cast<uint32_t>(want));
  auto elems = ElementCount(dims);
  auto need = elems && dinfo ? CheckedMul(*elems, uint64_t{dinfo->block_bytes}) : std::nullopt;
  return need && *need == bytes ? static_cast<uint32_t>(want)
                                : static_cast<uint32_t>(Dtype::kUnknown);
}

// Walks the messages that can hold tensors; everything else is skipped over (its wire
// structure is still checked at the level where it appears).
class Walker {
 public:
  Walker(std::span<const uint8_t> file, const OnnxScanOptions& options, OnnxModel& model)
      : file_(file), options_(options), m_(model) {}

  Result<void> Model() {
    WireReader r(file_, 0);
    int depth = 1;
    for (;;) {
      MLN_TRY(auto f, Next(r, "ModelProto"));
      if (!f) break;
      switch (f->number) {
        case model_f::kIrVersion:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kVarint, "ModelProto.ir_version"));
          m_.ir_version = static_cast<int64_t>(f->value);
          break;
        case model_f::kProducerName:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "ModelProto.producer_name"));
          m_.producer_name = pb::AsText(*f);
          break;
        case model_f::kProducerVersion:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "ModelProto.producer_version"));
          m_.producer_version = pb::AsText(*f);
          break;
        case model_f::kOpsetImport:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "ModelProto.opset_import"));
          MLN_RETURN_IF_ERROR(Opset(f->bytes));
          break;
        case model_f::kGraph:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "ModelProto.graph"));
          MLN_RETURN_IF_ERROR(Graph(f->bytes, "main", depth + 1, true));
          break;
        case model_f::kTrainingInfo:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "ModelProto.training_info"));
          MLN_RETURN_IF_ERROR(TrainingInfo(f->bytes, depth + 1));
          break;
        case model_f::kFunctions:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "ModelProto.functions"));
          MLN_RETURN_IF_ERROR(Function(f->bytes, depth + 1));
          break;
        default:
          break;
      }
    }
    return {};
  }

 private:
  uint64_t Off(std::span<const uint8_t> s) const {
    return static_cast<uint64_t>(s.data() - file_.data());
  }
  WireReader Reader(std::span<const uint8_t> s) const { return WireReader(s, Off(s)); }

  static Result<std::optional<Field>> Next(WireReader& r, const char* message) {
    auto f = r.Next();
    if (!f) {
      Error e = std::move(f).error();
      e.message = std::string("in ") + message + ": " + e.message;
      return Fail(std::move(e));
    }
    return f;
  }

  static Result<void> Expect(const Field& f, WireType want, const char* what) {
    if (f.type == want) return {};
    return Fail(Error{Errc::kBadData,
                      std::string(what) + " (field " + std::to_string(f.number) +
                          ") has wire type " + WireName(f.type) + ", expected " + WireName(want),
                      {}, std::nullopt, f.tag_offset});
  }

  Result<void> Depth(int depth, std::span<const uint8_t> at) const {
    if (depth <= pb::kMaxDepth) return {};
    return Fail(Error{Errc::kBadData,
                      "messages nested deeper than " + std::to_string(pb::kMaxDepth) +
                          " levels (subgraphs within subgraphs)",
                      {}, std::nullopt, Off(at)});
  }

  Result<void> Opset(std::span<const uint8_t> msg) {
    WireReader r = Reader(msg);
    std::string domain;
    int64_t version = 0;
    for (;;) {
      MLN_TRY(auto f, Next(r, "OperatorSetIdProto"));
      if (!f) break;
      if (f->number == opset_f::kDomain) {
        MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "OperatorSetIdProto.domain"));
        domain = pb::AsText(*f);
      } else if (f->number == opset_f::kVersion) {
        MLN_RETURN_IF_ERROR(Expect(*f, WireType::kVarint, "OperatorSetIdProto.version"));
        version = static_cast<int64_t>(f->value);
      }
    }
    m_.opsets.emplace_back(std::move(domain), version);
    return {};
  }

  Result<void> TrainingInfo(std::span<const uint8_t> msg, int depth) {
    MLN_RETURN_IF_ERROR(Depth(depth, msg));
    WireReader r = Reader(msg);
    std::string path = "training" + std::to_string(training_++);
    for (;;) {
      MLN_TRY(auto f, Next(r, "TrainingInfoProto"));
      if (!f) break;
      if (f->number == training_f::kInitialization || f->number == training_f::kAlgorithm) {
        MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "TrainingInfoProto graph"));
        const char* which =
            f->number == training_f::kInitialization ? ".initialization" : ".algorithm";
        MLN_RETURN_IF_ERROR(Graph(f->bytes, path + which, depth + 1, false));
      }
    }
    return {};
  }

  Result<void> Function(std::span<const uint8_t> msg, int depth) {
    MLN_RETURN_IF_ERROR(Depth(depth, msg));
    // The name (field 1) may follow the nodes (field 7) in a hand-made file: collect first.
    std::string name;
    std::vector<std::span<const uint8_t>> nodes;
    WireReader r = Reader(msg);
    for (;;) {
      MLN_TRY(auto f, Next(r, "FunctionProto"));
      if (!f) break;
      if (f->number == function_f::kName) {
        MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "FunctionProto.name"));
        name = pb::AsText(*f);
      } else if (f->number == function_f::kNode) {
        MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "FunctionProto.node"));
        nodes.push_back(f->bytes);
      }
    }
    std::string path = "function:" + name;
    for (size_t i = 0; i < nodes.size(); ++i) {
      MLN_RETURN_IF_ERROR(Node(nodes[i], path, i, depth + 1));
    }
    return {};
  }

  Result<void> Graph(std::span<const uint8_t> msg, const std::string& path, int depth,
                     bool main) {
    MLN_RETURN_IF_ERROR(Depth(depth, msg));
    ++m_.graphs;
    WireReader r = Reader(msg);
    size_t node_index = 0;
    for (;;) {
      MLN_TRY(auto f, Next(r, "GraphProto"));
      if (!f) break;
      switch (f->number) {
        case graph_f::kNode:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "GraphProto.node"));
          MLN_RETURN_IF_ERROR(Node(f->bytes, path, node_index++, depth + 1));
          break;
        case graph_f::kInitializer:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "GraphProto.initializer"));
          ++m_.initializers;
          MLN_RETURN_IF_ERROR(Tensor(f->bytes, "", main ? "initializer" : "subgraph-initializer",
                                     path, depth + 1));
          break;
        case graph_f::kSparseInitializer:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "GraphProto.sparse_initializer"));
          ++m_.initializers;
          MLN_RETURN_IF_ERROR(Sparse(f->bytes, "", path, depth + 1));
          break;
        default:
          break;
      }
    }
    return {};
  }

  Result<void> Node(std::span<const uint8_t> msg, const std::string& path, size_t index,
                    int depth) {
    MLN_RETURN_IF_ERROR(Depth(depth, msg));
    ++m_.nodes;
    std::string name, op_type, domain, output0;
    bool have_output = false;
    std::vector<std::span<const uint8_t>> attrs;
    WireReader r = Reader(msg);
    for (;;) {
      MLN_TRY(auto f, Next(r, "NodeProto"));
      if (!f) break;
      switch (f->number) {
        case node_f::kOutput:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "NodeProto.output"));
          if (!have_output) output0 = pb::AsText(*f);
          have_output = true;
          break;
        case node_f::kName:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "NodeProto.name"));
          name = pb::AsText(*f);
          break;
        case node_f::kOpType:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "NodeProto.op_type"));
          op_type = pb::AsText(*f);
          break;
        case node_f::kDomain:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "NodeProto.domain"));
          domain = pb::AsText(*f);
          break;
        case node_f::kAttribute:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "NodeProto.attribute"));
          attrs.push_back(f->bytes);
          break;
        default:
          break;
      }
    }
    bool constant = op_type == "Constant" && (domain.empty() || domain == "ai.onnx");
    std::string label = !name.empty() ? name : op_type + "#" + std::to_string(index);
    for (auto a : attrs) {
      MLN_RETURN_IF_ERROR(Attribute(a, path, label, constant, output0, depth + 1));
    }
    return {};
  }

  Result<void> Attribute(std::span<const uint8_t> msg, const std::string& path,
                         const std::string& label, bool constant, const std::string& output0,
                         int depth) {
    MLN_RETURN_IF_ERROR(Depth(depth, msg));
    std::string name;
    std::vector<Field> values;
    WireReader r = Reader(msg);
    for (;;) {
      MLN_TRY(auto f, Next(r, "AttributeProto"));
      if (!f) break;
      switch (f->number) {
        case attr_f::kName:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "AttributeProto.name"));
          name = pb::AsText(*f);
          break;
        case attr_f::kT: case attr_f::kG: case attr_f::kTensors: case attr_f::kGraphs:
        case attr_f::kSparseTensor: case attr_f::kSparseTensors:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "AttributeProto value"));
          values.push_back(*f);
          break;
        default:
          break;
      }
    }
    size_t n_tensors = 0, n_graphs = 0;
    for (const Field& f : values) {
      switch (f.number) {
        case attr_f::kT:
        case attr_f::kTensors: {
          bool list = f.number == attr_f::kTensors;
          std::string fallback = constant && !list && !output0.empty()
                                     ? output0
                                     : label + "." + name +
                                           (list ? "[" + std::to_string(n_tensors) + "]" : "");
          if (list) ++n_tensors;
          if (constant) ++m_.constants;
          MLN_RETURN_IF_ERROR(
              Tensor(f.bytes, fallback, constant ? "constant" : "attribute", path, depth + 1));
          break;
        }
        case attr_f::kSparseTensor:
        case attr_f::kSparseTensors: {
          std::string fallback = constant && !output0.empty() ? output0 : label + "." + name;
          if (constant) ++m_.constants;
          MLN_RETURN_IF_ERROR(Sparse(f.bytes, fallback, path, depth + 1));
          break;
        }
        case attr_f::kG:
        case attr_f::kGraphs: {
          std::string sub = path + "/" + label + "." + name;
          if (f.number == attr_f::kGraphs) sub += "[" + std::to_string(n_graphs++) + "]";
          MLN_RETURN_IF_ERROR(Graph(f.bytes, sub, depth + 1, false));
          break;
        }
      }
    }
    return {};
  }

  Result<void> Sparse(std::span<const uint8_t> msg, const std::string& fallback,
                      const std::string& path, int depth) {
    MLN_RETURN_IF_ERROR(Depth(depth, msg));
    std::optional<std::span<const uint8_t>> values, indices;
    WireReader r = Reader(msg);
    for (;;) {
      MLN_TRY(auto f, Next(r, "SparseTensorProto"));
      if (!f) break;
      if (f->number == sparse_f::kValues || f->number == sparse_f::kIndices) {
        MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "SparseTensorProto tensor"));
        (f->number == sparse_f::kValues ? values : indices) = f->bytes;
      }
    }
    std::string name = fallback;
    if (values) {
      MLN_TRY(name, Tensor(*values, fallback, "sparse-values", path, depth + 1));
    }
    if (indices) {
      MLN_RETURN_IF_ERROR(
          Tensor(*indices, name + ".indices", "sparse-indices", path, depth + 1));
    }
    return {};
  }

  // Records one TensorProto; returns its name.
  Result<std::string> Tensor(std::span<const uint8_t> msg, const std::string& fallback,
                             const char* source, const std::string& path, int depth) {
    MLN_RETURN_IF_ERROR(Depth(depth, msg));
    OnnxTensor t;
    t.source = source;
    t.graph = path;
    std::vector<Field> data;
    std::vector<std::pair<std::string, std::string>> ext;
    int64_t location = 0;
    bool fragmented = false, strings = false;
    WireReader r = Reader(msg);
    for (;;) {
      MLN_TRY(auto f, Next(r, "TensorProto"));
      if (!f) break;
      switch (f->number) {
        case tensor_f::kDims:
          // proto2 `repeated int64` without [packed]: usually one varint per record, but
          // parsers must accept the packed form too.
          if (f->type == WireType::kVarint) {
            t.dims.push_back(static_cast<int64_t>(f->value));
          } else {
            MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "TensorProto.dims"));
            size_t pos = 0;
            while (pos < f->bytes.size()) {
              auto v = pb::ReadVarint(f->bytes, &pos);
              if (!v) {
                return Fail(Error{Errc::kBadData, "TensorProto.dims: " + v.error().message, {},
                                  std::nullopt, f->tag_offset});
              }
              t.dims.push_back(static_cast<int64_t>(*v));
            }
          }
          break;
        case tensor_f::kDataType:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kVarint, "TensorProto.data_type"));
          t.data_type = static_cast<int32_t>(f->value);
          break;
        case tensor_f::kName:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "TensorProto.name"));
          t.name = pb::AsText(*f);
          break;
        case tensor_f::kRawData:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "TensorProto.raw_data"));
          data.push_back(*f);
          break;
        case tensor_f::kFloatData: case tensor_f::kInt32Data: case tensor_f::kInt64Data:
        case tensor_f::kDoubleData: case tensor_f::kUint64Data:
          // Packed (one length-delimited record) is what every writer emits; an unpacked
          // element, legal on the wire, leaves the data scattered over many records.
          if (f->type == WireType::kLen) {
            data.push_back(*f);
          } else {
            fragmented = true;
          }
          break;
        case tensor_f::kStringData:
          strings = true;
          break;
        case tensor_f::kExternalData: {
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "TensorProto.external_data"));
          MLN_TRY(auto kv, Entry(f->bytes));
          ext.push_back(std::move(kv));
          break;
        }
        case tensor_f::kDataLocation:
          MLN_RETURN_IF_ERROR(Expect(*f, WireType::kVarint, "TensorProto.data_location"));
          location = static_cast<int64_t>(f->value);
          break;
        default:
          break;
      }
    }
    if (t.name.empty()) t.name = fallback;
    const DataTypeInfo* info = GetDataType(t.data_type);
    if (location == kDataLocationExternal) {
      t.encoding = "external";
      t.data_offset = Off(msg);
      MLN_RETURN_IF_ERROR(External(t, ext));
      // The file holds the bytes raw_data would (onnx.proto), so the dtype is claimed the
      // same way, once the bytes are known to be there.
      if (t.ext_resolved && info) t.dtype = ClaimDtype(t.dims, info->dtype, t.ext_size);
      m_.tensors.push_back(std::move(t));
      return m_.tensors.back().name;
    }
    if (strings || fragmented || data.size() > 1) {
      ++m_.uncarried;
      return t.name;
    }
    Dtype want = Dtype::kUnknown;
    if (data.empty()) {
      t.encoding = "none";
      t.data_offset = Off(msg);
      if (info && ElementCount(t.dims) == uint64_t{0}) want = info->dtype;
    } else {
      const Field& f = data[0];
      t.data_offset = Off(f.bytes);
      t.data_size = f.bytes.size();
      switch (f.number) {
        case tensor_f::kRawData: t.encoding = "raw_data"; if (info) want = info->dtype; break;
        case tensor_f::kFloatData:
          t.encoding = "float_data";
          if (t.data_type == 1) want = Dtype::kF32;
          break;
        case tensor_f::kDoubleData:
          t.encoding = "double_data";
          if (t.data_type == 11) want = Dtype::kF64;
          break;
        // Varints are not an array of fixed-width elements: no mln dtype fits.
        case tensor_f::kInt32Data: t.encoding = "int32_data"; break;
        case tensor_f::kInt64Data: t.encoding = "int64_data"; break;
        case tensor_f::kUint64Data: t.encoding = "uint64_data"; break;
      }
    }
    t.dtype = ClaimDtype(t.dims, want, t.data_size);
    m_.tensors.push_back(std::move(t));
    return m_.tensors.back().name;
  }

  Result<std::pair<std::string, std::string>> Entry(std::span<const uint8_t> msg) {
    std::pair<std::string, std::string> kv;
    WireReader r = Reader(msg);
    for (;;) {
      MLN_TRY(auto f, Next(r, "StringStringEntryProto"));
      if (!f) break;
      if (f->number == entry_f::kKey || f->number == entry_f::kValue) {
        MLN_RETURN_IF_ERROR(Expect(*f, WireType::kLen, "StringStringEntryProto"));
        (f->number == entry_f::kKey ? kv.first : kv.second) = pb::AsText(*f);
      }
    }
    return kv;
  }

  // Checks an external reference the way the model's consumer will resolve it: relative
  // to the model's directory, and never outside it (onnx.proto: "POSIX filesystem path
  // relative to the directory where the ONNX protobuf model was stored").
  Result<void> External(OnnxTensor& t, const std::vector<std::pair<std::string, std::string>>& kv) {
    auto fail = [&](Errc code, std::string msg) {
      return Fail(Error{code, "external data: " + std::move(msg), {}, std::nullopt,
                        t.data_offset, t.name});
    };
    bool have_location = false;
    for (const auto& [key, value] : kv) {
      if (key == "location") {
        t.ext_location = value;
        have_location = true;
      } else if (key == "offset") {
        auto v = ParseDecimal(value);
        if (!v) return fail(Errc::kBadData, "offset " + v.error().message);
        t.ext_offset = *v;
      } else if (key == "length") {
        auto v = ParseDecimal(value);
        if (!v) return fail(Errc::kBadData, "length " + v.error().message);
        t.ext_length = *v;
      }
    }
    const std::string& loc = t.ext_location;
    if (!have_location || loc.empty()) return fail(Errc::kBadData, "no location given");
    if (loc.size() > kMaxOnnxLocationBytes) {
      return fail(Errc::kBadData, "location of " + std::to_string(loc.size()) +
                                      " bytes refused (at most " +
                                      std::to_string(kMaxOnnxLocationBytes) + ")");
    }
    if (loc.find('\0') != std::string::npos) return fail(Errc::kBadData, "location holds a NUL byte");
    if (loc[0] == '/') {
      return fail(Errc::kBadData, "absolute location '" + loc +
                                      "' refused: expected a path relative to the model's directory");
    }
    for (size_t start = 0; start <= loc.size();) {
      size_t end = loc.find('/', start);
      if (end == std::string::npos) end = loc.size();
      if (loc.compare(start, end - start, "..") == 0) {
        return fail(Errc::kBadData,
                    "location '" + loc + "' refused: '..' would leave the model's directory");
      }
      start = end + 1;
    }
    if (!options_.model_dir) return {};
    // realpath resolves symlinks, so a link inside the directory that points outside it is
    // caught as well.
    char dir_real[PATH_MAX], file_real[PATH_MAX];
    if (::realpath(options_.model_dir->c_str(), dir_real) == nullptr) {
      return fail(Errc::kNoInput, "cannot resolve the model's directory '" + *options_.model_dir +
                                      "': " + std::strerror(errno));
    }
    std::string full = *options_.model_dir + "/" + loc;
    if (::realpath(full.c_str(), file_real) == nullptr) {
      return fail(errno == ENOENT ? Errc::kNoInput : Errc::kBadData,
                  "cannot open '" + full + "': " + std::strerror(errno));
    }
    std::string dir_prefix = std::string(dir_real) == "/" ? "/" : std::string(dir_real) + "/";
    if (std::string_view(file_real).substr(0, dir_prefix.size()) != dir_prefix) {
      return fail(Errc::kBadData, "location '" + loc + "' resolves to '" + file_real +
                                      "', outside the model's directory");
    }
    struct stat st;
    if (::stat(file_real, &st) != 0 || !S_ISREG(st.st_mode)) {
      return fail(Errc::kBadData, "'" + full + "' is not a regular file");
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    uint64_t length = t.ext_length.value_or(size >= t.ext_offset ? size - t.ext_offset : 0);
    auto end = CheckedAdd(t.ext_offset, length);
    if (t.ext_offset > size || !end || *end > size) {
      return fail(Errc::kBadData, "offset " + std::to_string(t.ext_offset) + " + length " +
                                      std::to_string(length) + " runs past the end of '" + loc +
                                      "' (" + std::to_string(size) + " bytes)");
    }
    t.ext_path = file_real;
    t.ext_file_size = size;
    t.ext_size = length;
    t.ext_resolved = true;
    return {};
  }

  std::span<const uint8_t> file_;
  const OnnxScanOptions& options_;
  OnnxModel& m_;
  int training_ = 0;
};

// Known ModelProto fields and their wire types, for bidding.
bool KnownModelField(uint32_t number, uint32_t wire) {
  switch (number) {
    case 1: case 5: return wire == 0;  // ir_version, model_version
    case 2: case 3: case 4: case 6: case 7: case 8: case 14: case 20: case 25: return wire == 2;
    default: return false;
  }
}

}  // namespace

std::string OnnxDataTypeName(int32_t data_type) {
  if (const DataTypeInfo* info = GetDataType(data_type)) return info->name;
  return "type" + std::to_string(data_type);
}

Result<OnnxModel> ScanOnnx(std::span<const uint8_t> file, const OnnxScanOptions& options) {
  OnnxModel m;
  Walker w(file, options, m);
  MLN_RETURN_IF_ERROR(w.Model());
  std::stable_sort(m.tensors.begin(), m.tensors.end(), [](const OnnxTensor& a, const OnnxTensor& b) {
    return a.data_offset < b.data_offset;
  });
  return m;
}

// ONNX has no magic: bid low when the first records are well-formed ModelProto fields
// (libarchive bids the same way on formats without a signature). GGUF ('G' = field 8 with
// wire type 7), TFLite (a small root offset: wire type 4 or an unknown field), mln streams
// (0x89 0x4d: field 1233) and archives fail this test at the first byte or two.
int BidOnnx(std::span<const uint8_t> head) {
  size_t pos = 0;
  int fields = 0;
  bool ir_first = false, structural = false;
  while (pos < head.size() && fields < 16) {
    auto tag = pb::ReadVarint(head, &pos);
    if (!tag) break;  // cut off by the end of the head
    uint32_t number = static_cast<uint32_t>(*tag >> 3), wire = static_cast<uint32_t>(*tag & 7);
    if (*tag >> 3 > 0xffff || !KnownModelField(number, wire)) return 0;
    if (wire == 0) {
      auto v = pb::ReadVarint(head, &pos);
      if (!v) break;
      if (number == 1) {
        if (*v == 0 || *v > 64) return 0;  // IR versions are small; 11 is the newest
        ir_first = fields == 0;
      }
    } else {
      auto len = pb::ReadVarint(head, &pos);
      if (!len) break;
      if (number == 7 || number == 8) structural = true;
      if (*len >= head.size() - pos) {
        pos = head.size();  // runs past the head: fine, the head is only a prefix
        ++fields;
        break;
      }
      pos += static_cast<size_t>(*len);
    }
    ++fields;
  }
  if (fields == 0) return 0;
  if (ir_first) return 20;
  return structural ? 10 : 0;
}

namespace {

using stream::FrameKind;
using stream::Segment;

// The frame template of a tensor run: in the model's own frames, or in its data file's.
stream::FrameHeader TensorTemplate(const OnnxTensor& t, bool carried) {
  stream::FrameHeader h;
  h.kind = static_cast<uint16_t>(FrameKind::kTensor);
  h.name = t.name;
  h.dtype = carried || t.encoding != "external" ? t.dtype : static_cast<uint32_t>(Dtype::kUnknown);
  h.shape = t.dims;
  h.SetAttr("onnx.data_type", OnnxDataTypeName(t.data_type));
  h.SetAttr("onnx.encoding", t.encoding);
  h.SetAttr("onnx.source", t.source);
  h.SetAttr("onnx.graph", t.graph);
  if (t.encoding == "external") {
    h.SetAttr("onnx.external.location", t.ext_location);
    h.SetAttr("onnx.external.offset", std::to_string(t.ext_offset));
    if (t.ext_length) h.SetAttr("onnx.external.length", std::to_string(*t.ext_length));
    // Says outright whether the payload is the tensor's data (read from the data file, not
    // part of the .onnx bytes) or absent because the model came without its directory.
    h.SetAttr("onnx.external.carried", carried ? "true" : "false");
  }
  return h;
}

// One external data file: the runs that tile it, tensors and the bytes no tensor covers.
struct DataFilePlan {
  std::string path;     // resolved, as opened
  std::string display;  // model directory + location, for messages
  uint64_t size = 0;
  stream::FrameHeader source;
  std::vector<Segment> segments;
};

// Groups the resolved external tensors by data file (in the order the model first names
// each) and lays each file out. Refuses what cannot be written back one byte per place:
// two tensors sharing bytes, one file under two spellings, more files than the limit.
Result<std::vector<DataFilePlan>> PlanDataFiles(const OnnxModel& m, const std::string& dir) {
  std::vector<DataFilePlan> files;
  std::vector<std::vector<const OnnxTensor*>> members;
  std::unordered_map<std::string, size_t> by_location;
  std::unordered_map<std::string, std::string> by_path;
  auto fail = [](const OnnxTensor& t, std::string msg) {
    return Fail(Error{Errc::kBadData, "external data: " + std::move(msg), {}, std::nullopt,
                      t.data_offset, t.name});
  };
  for (const OnnxTensor& t : m.tensors) {
    if (t.encoding != "external") continue;
    if (!t.ext_resolved) return Fail(Errc::kInternal, "external tensor '" + t.name + "' not resolved");
    auto [at, fresh] = by_location.try_emplace(t.ext_location, files.size());
    if (fresh) {
      if (files.size() == kMaxOnnxExternalFiles) {
        return fail(t, "more than " + std::to_string(kMaxOnnxExternalFiles) +
                           " data files refused (at '" + t.ext_location + "')");
      }
      auto [seen, new_path] = by_path.try_emplace(t.ext_path, t.ext_location);
      if (!new_path) {
        // Written back under both names, the file would be written twice, and a reader
        // of either name would see the other's bytes change under it.
        return fail(t, "location '" + t.ext_location + "' names the same file as '" +
                           seen->second + "'");
      }
      DataFilePlan f;
      f.path = t.ext_path;
      f.display = dir + "/" + t.ext_location;
      f.size = t.ext_file_size;
      f.source.kind = static_cast<uint16_t>(FrameKind::kSource);
      f.source.format = "onnx";
      f.source.name = t.ext_location;
      f.source.file_size = t.ext_file_size;
      f.source.SetAttr("onnx.part", kOnnxExternalPart);
      f.source.SetAttr("onnx.external.location", t.ext_location);
      files.push_back(std::move(f));
      members.emplace_back();
    }
    members[at->second].push_back(&t);
  }
  for (size_t i = 0; i < files.size(); ++i) {
    DataFilePlan& f = files[i];
    auto& ts = members[i];
    // Empty tensors first at a shared offset, so an empty run never lands inside another.
    std::stable_sort(ts.begin(), ts.end(), [](const OnnxTensor* a, const OnnxTensor* b) {
      return a->ext_offset != b->ext_offset ? a->ext_offset < b->ext_offset
                                            : a->ext_size < b->ext_size;
    });
    const std::string& loc = f.source.name;
    uint64_t pos = 0;
    const OnnxTensor* prev = nullptr;
    auto bytes = [&](uint64_t at, uint64_t size) {
      Segment s;
      s.tmpl.kind = static_cast<uint16_t>(FrameKind::kBytes);
      s.tmpl.name = "onnx.external.bytes";
      s.tmpl.SetAttr("onnx.external.location", loc);
      s.tmpl.SetAttr("onnx.external.offset", std::to_string(at));
      s.file_offset = at;
      s.size = size;
      f.segments.push_back(std::move(s));
    };
    for (const OnnxTensor* t : ts) {
      if (t->ext_offset < pos) {
        return fail(*t, "bytes " + std::to_string(t->ext_offset) + " to " +
                            std::to_string(t->ext_offset + t->ext_size) + " of '" + loc +
                            "' overlap tensor '" + prev->name + "' (bytes " +
                            std::to_string(prev->ext_offset) + " to " + std::to_string(pos) + ")");
      }
      if (t->ext_offset > pos) bytes(pos, t->ext_offset - pos);
      Segment s;
      s.tmpl = TensorTemplate(*t, true);
      s.file_offset = t->ext_offset;
      s.size = t->ext_size;
      f.segments.push_back(std::move(s));
      pos = t->ext_offset + t->ext_size;
      prev = t;
    }
    if (pos < f.size) bytes(pos, f.size - pos);
    f.source.SetAttr("onnx.external.tensors", std::to_string(ts.size()));
  }
  return files;
}

// The model's own frames, then each data file's. Files are opened one at a time and read
// forward in chunks, so memory stays bounded whatever they hold, and open descriptors stay
// at one however many files there are.
class OnnxFrames final : public stream::FrameSource {
 public:
  OnnxFrames(std::unique_ptr<stream::FrameSource> model, std::vector<DataFilePlan> files,
             size_t chunk_size)
      : model_(std::move(model)), files_(std::move(files)), chunk_size_(chunk_size) {}
  ~OnnxFrames() override { CloseFile(); }

  Result<std::optional<stream::Frame>> Next() override {
    for (;;) {
      if (model_) {
        MLN_TRY(auto f, model_->Next());
        if (f) return f;
        model_.reset();
      }
      if (part_) {
        auto f = part_->Next();
        if (!f) return Fail(std::move(f).error().WithFile(files_[next_ - 1].display));
        if (*f) return std::move(*f);
        CloseFile();
      }
      if (next_ == files_.size()) return std::nullopt;
      MLN_RETURN_IF_ERROR(OpenFile(files_[next_++]));
    }
  }

 private:
  Result<void> OpenFile(DataFilePlan& f) {
    // O_NOFOLLOW: the path was resolved and checked to be inside the model's directory; a
    // link put in its place since then is not followed out of it.
    fd_ = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd_ < 0) {
      return Fail(Error{Errc::kNoInput, std::string("cannot open: ") + std::strerror(errno),
                        f.display});
    }
    struct stat st;
    if (::fstat(fd_, &st) != 0 || static_cast<uint64_t>(st.st_size) != f.size) {
      return Fail(Error{Errc::kBadData,
                        "is now " + std::to_string(st.st_size) + " bytes, was " +
                            std::to_string(f.size) + " when the model was read (did it change?)",
                        f.display});
    }
    reader_ = MakePreadSource(fd_, f.display, f.size);
    part_ = std::make_unique<stream::SegmentSource>(*reader_, std::move(f.source),
                                                    std::move(f.segments), chunk_size_);
    return {};
  }

  void CloseFile() {
    part_.reset();  // refers to reader_, which reads fd_
    reader_.reset();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  std::unique_ptr<stream::FrameSource> model_;
  std::vector<DataFilePlan> files_;
  size_t chunk_size_;
  size_t next_ = 0;
  int fd_ = -1;
  std::unique_ptr<ByteSource> reader_;
  std::unique_ptr<stream::SegmentSource> part_;
};

}  // namespace

Result<std::unique_ptr<stream::FrameSource>> ParseOnnx(ByteSource& src,
                                                       const ParseOptions& options) {
  OnnxScanOptions scan;
  // External data lives next to the model: only known when the input is a named file (the
  // name and the open descriptor are the same inode), not for a pipe or stdin.
  if (std::string dir = SourceDir(src); !dir.empty()) scan.model_dir = dir;
  auto whole = ReadWholeInput(src, kMaxPipeBytes);
  if (!whole) return Fail(std::move(whole).error().WithFile(src.name()));
  auto model = ScanOnnx(whole->bytes, scan);
  if (!model) return Fail(std::move(model).error().WithFile(src.name()));
  const OnnxModel& m = *model;
  // With a directory every external file was found and checked, so its bytes are carried;
  // without one (a pipe) external tensors stay empty frames marked as not carried.
  const bool carry = scan.model_dir.has_value();
  std::vector<DataFilePlan> files;
  if (carry) {
    auto planned = PlanDataFiles(m, *scan.model_dir);
    if (!planned) return Fail(std::move(planned).error().WithFile(src.name()));
    files = std::move(*planned);
  }

  const uint8_t* base = whole->bytes.data();
  std::vector<Segment> segments;
  uint64_t pos = 0;
  auto add = [&](uint64_t at, uint64_t size, stream::FrameHeader tmpl) {
    Segment s;
    s.tmpl = std::move(tmpl);
    s.file_offset = at;
    s.size = size;
    s.held = base + at;
    s.held_owner = whole->owner;
    segments.push_back(std::move(s));
  };
  auto proto_bytes = [&](uint64_t to) {
    stream::FrameHeader h;
    h.kind = static_cast<uint16_t>(FrameKind::kBytes);
    h.name = "onnx.proto";
    add(pos, to - pos, std::move(h));
    pos = to;
  };
  uint64_t externals = 0;
  for (const OnnxTensor& t : m.tensors) {
    bool external = t.encoding == "external";
    externals += external;
    // A carried external tensor's frames follow with its data file; here its TensorProto
    // is protobuf structure like any other, inside the onnx.proto bytes.
    if (external && carry) continue;
    if (t.data_offset < pos) {
      return Fail(Error{Errc::kInternal, "tensor data overlaps the previous tensor", src.name(),
                        std::nullopt, t.data_offset, t.name});
    }
    if (t.data_offset > pos) proto_bytes(t.data_offset);
    add(t.data_offset, t.data_size, TensorTemplate(t, false));
    pos = t.data_offset + t.data_size;
  }
  if (whole->bytes.size() > pos || segments.empty()) proto_bytes(whole->bytes.size());

  stream::FrameHeader source;
  source.kind = static_cast<uint16_t>(FrameKind::kSource);
  source.format = "onnx";
  source.name = src.name();
  source.file_size = whole->bytes.size();
  source.SetAttr("onnx.ir_version", std::to_string(m.ir_version));
  std::string opsets;
  for (const auto& [domain, version] : m.opsets) {
    if (!opsets.empty()) opsets += ",";
    opsets += (domain.empty() ? "ai.onnx" : domain) + ":" + std::to_string(version);
  }
  source.SetAttr("onnx.opsets", opsets);
  std::string producer = m.producer_name;
  if (!m.producer_version.empty()) producer += (producer.empty() ? "" : " ") + m.producer_version;
  source.SetAttr("onnx.producer", producer);
  source.SetAttr("onnx.graphs", std::to_string(m.graphs));
  source.SetAttr("onnx.nodes", std::to_string(m.nodes));
  source.SetAttr("onnx.initializers", std::to_string(m.initializers));
  source.SetAttr("onnx.constants", std::to_string(m.constants));
  source.SetAttr("onnx.tensors", std::to_string(m.tensors.size()));
  source.SetAttr("onnx.external_tensors", std::to_string(externals));
  source.SetAttr("onnx.external_files", std::to_string(files.size()));
  source.SetAttr("onnx.uncarried_tensors", std::to_string(m.uncarried));
  auto own = std::make_unique<stream::SegmentSource>(src, std::move(source), std::move(segments),
                                                     options.chunk_size);
  // A model without data files keeps the plain segment plan, which mln-diff indexes.
  if (files.empty()) return own;
  return std::make_unique<OnnxFrames>(std::move(own), std::move(files), options.chunk_size);
}

}  // namespace mln::formats
