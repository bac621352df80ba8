// GGUF (v2 and v3, little-endian): the llama.cpp / ggml model file.
//
// Layout (ggml docs/gguf.md): "GGUF", u32 version, u64 tensor count, u64 KV count, the KV
// pairs, the tensor infos, zero padding to general.alignment (default 32), then the data
// section. Tensor bytes are carried as they are, whatever their ggml type.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/formats/format.h"

namespace mln::formats {

/// GGUF value types (gguf_type in ggml).
enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

struct GgufKv {
  std::string key;
  uint32_t type = 0;        ///< GgufType of the value
  uint32_t array_type = 0;  ///< element type when type is kArray
  uint64_t array_count = 0;
  /// The value as JSON text: a number, true/false, a quoted string, or for arrays a JSON
  /// array of at most the first 8 elements (array_count tells the full length).
  std::string json;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  ///< ggml order: ne[0] is the row length
  uint32_t type = 0;        ///< ggml type id (= mln Dtype)
  uint64_t offset = 0;      ///< relative to the data section
  uint64_t bytes = 0;
};

struct GgufHeader {
  uint32_t version = 0;
  std::vector<GgufKv> kvs;
  std::vector<GgufTensorInfo> tensors;  ///< in header order
  uint32_t alignment = 32;
  uint64_t header_bytes = 0;  ///< end of the tensor infos
  uint64_t data_offset = 0;   ///< header_bytes rounded up to alignment
};

/// Reads everything before the data section from `src` (at offset 0), appending the bytes
/// read to `raw` when not null. Sizes are checked against the input size (when known) and
/// `max_header` before anything is allocated.
Result<GgufHeader> ReadGgufHeader(ByteSource& src, uint64_t max_header,
                                  std::vector<uint8_t>* raw);

/// Name of a GGUF value type ("u32", "string", ...).
std::string GgufTypeName(uint32_t type);

int BidGguf(std::span<const uint8_t> head);
Result<std::unique_ptr<stream::FrameSource>> ParseGguf(ByteSource& src,
                                                       const ParseOptions& options);

}  // namespace mln::formats
