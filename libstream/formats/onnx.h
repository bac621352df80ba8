// ONNX (onnx/onnx.proto, a protobuf ModelProto): tensors found in the graph, its subgraphs,
// training graphs and functions, each mapped to the bytes that hold its data.
//
// ONNX has no magic number and protobuf has no table of contents, so the parser needs the
// whole file (memory-mapped) and walks it with the zero-copy reader in protobuf_wire.h.
// Every byte of the file is carried: tensor data bytes as tensor frames, the rest as
// bytes frames "onnx.proto", so mln-emit rebuilds the file exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/formats/format.h"

namespace mln::formats {

/// One TensorProto met in the model.
struct OnnxTensor {
  std::string name;
  int32_t data_type = 0;       ///< TensorProto.DataType
  std::vector<int64_t> dims;   ///< as in the file, outermost first
  /// Which field holds the data: "raw_data", "float_data", "int32_data", "int64_data",
  /// "double_data", "uint64_data" (the field's payload: packed little-endian floats and
  /// doubles, or packed varints), "external", or "none" (no data field at all).
  std::string encoding;
  /// "initializer" (main graph), "subgraph-initializer", "constant" (a Constant node's
  /// tensor), "attribute" (another node's tensor attribute), "sparse-values",
  /// "sparse-indices".
  std::string source;
  std::string graph;           ///< path of the graph holding it, e.g. "main/loop1.body"
  uint64_t data_offset = 0;    ///< file offset of the data bytes (encoding not external)
  uint64_t data_size = 0;
  uint32_t dtype = 0xffffffffu;  ///< mln Dtype when the bytes are a little-endian array of it
  // External data (encoding "external"): the TensorProto.external_data entries.
  std::string ext_location;
  uint64_t ext_offset = 0;
  std::optional<uint64_t> ext_length;
  // Set only when the data file was found (a model with a directory): where it really is
  // (symbolic links resolved), its size, and the tensor's bytes in it (ext_length, or up to
  // the end of the file when no length is given).
  std::string ext_path;
  uint64_t ext_file_size = 0;
  uint64_t ext_size = 0;
  bool ext_resolved = false;
};

struct OnnxModel {
  int64_t ir_version = 0;
  std::vector<std::pair<std::string, int64_t>> opsets;  ///< (domain, version)
  std::string producer_name, producer_version;
  uint64_t nodes = 0, initializers = 0, constants = 0, graphs = 0;
  /// Tensors carried in frames, in file order of their data (external ones at the offset
  /// of their TensorProto).
  std::vector<OnnxTensor> tensors;
  /// Tensors whose data is not one contiguous run (string tensors, repeated unpacked
  /// fields): they stay inside the "onnx.proto" bytes.
  uint64_t uncarried = 0;
};

struct OnnxScanOptions {
  /// Directory of the model file, for external data. When unset (a pipe), external
  /// locations are still checked by name but not opened.
  std::optional<std::string> model_dir;
};

/// Walks the ModelProto in `file`. Malformed protobuf, nesting deeper than pb::kMaxDepth,
/// and external locations that are absolute, contain "..", resolve outside model_dir or
/// name a range past the end of their file fail with Errc::kBadData; a missing external
/// file fails with Errc::kNoInput.
///
/// ParseOnnx carries the bytes of resolved external data: after the model's own frames,
/// each data file follows as a model file of its own (a source frame with the attribute
/// onnx.part "external-data", then tensor and bytes frames tiling that file), so every
/// tool that checks a model's layout checks each file's on its own terms (mln-stream(5)).
Result<OnnxModel> ScanOnnx(std::span<const uint8_t> file, const OnnxScanOptions& options);

/// Name of a TensorProto.DataType ("FLOAT16"), or "type<N>".
std::string OnnxDataTypeName(int32_t data_type);

/// Limits on external data, so a hostile model cannot make mln-parse open files without
/// end or carry attributes that overflow a frame header.
inline constexpr size_t kMaxOnnxExternalFiles = 4096;
inline constexpr size_t kMaxOnnxLocationBytes = 4096;
/// The value of the source attribute onnx.part that marks an external data file.
inline constexpr const char* kOnnxExternalPart = "external-data";

int BidOnnx(std::span<const uint8_t> head);
Result<std::unique_ptr<stream::FrameSource>> ParseOnnx(ByteSource& src,
                                                       const ParseOptions& options);

}  // namespace mln::formats
