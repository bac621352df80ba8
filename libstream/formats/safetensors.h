// safetensors (Hugging Face): the training-side tensor file, and its sharded-model index.
//
// Layout (huggingface/safetensors README, "Format"): u64 little-endian N, then N bytes of
// UTF-8 JSON (an object; writers pad it with spaces to a multiple of 8), then the data
// section. Each JSON key but "__metadata__" names a tensor {dtype, shape, data_offsets
// [begin, end)} whose offsets count from the first byte of the data section.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/formats/format.h"
#include "libstream/stream/frame.h"

namespace mln::formats {

/// The reference reader refuses headers above 100 MB (safetensors MAX_HEADER_SIZE); so do we,
/// before allocating anything.
inline constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;

struct SafetensorsTensor {
  std::string name;
  std::string dtype_name;  ///< as written: "F16", "BF16", ...
  uint32_t dtype = 0;      ///< mln Dtype; Dtype::kUnknown for dtypes mln has no entry for
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  ///< data_offsets, relative to the data section
  size_t index = 0;             ///< position among the tensors in the header
};

struct SafetensorsHeader {
  uint64_t json_bytes = 0;  ///< N
  std::vector<std::pair<std::string, std::string>> metadata;  ///< __metadata__, header order
  std::vector<SafetensorsTensor> tensors;                     ///< header order
  uint64_t data_offset() const { return 8 + json_bytes; }
};

/// Parses and checks a complete header (the 8 length bytes and the N JSON bytes): JSON
/// object, no duplicate keys, string-to-string __metadata__, known or carried dtypes,
/// end - begin = elements x item size (overflow-checked), no overlapping data. `data_size`
/// (bytes after the header, when known) bounds every data_offsets end. Errc::kBadData on
/// any violation, naming the tensor.
Result<SafetensorsHeader> DecodeSafetensorsHeader(std::span<const uint8_t> header,
                                                  std::optional<uint64_t> data_size);

/// Reads the 8-byte length and the JSON from `src` (at offset 0) into `raw`, refusing a
/// length above min(kSafetensorsMaxHeader, max_header) or past the input size before
/// allocating, then decodes it.
Result<SafetensorsHeader> ReadSafetensorsHeader(ByteSource& src, uint64_t max_header,
                                                std::vector<uint8_t>* raw);

/// mln dtype for a safetensors dtype name, or Dtype::kUnknown.
uint32_t SafetensorsDtype(std::string_view name);

int BidSafetensors(std::span<const uint8_t> head);
/// Frames: source (attrs safetensors.tensors, safetensors.header_bytes,
/// safetensors.metadata.<key>), bytes "safetensors.header" (length + JSON), the tensors in
/// data order with "safetensors.padding" for gaps, then "safetensors.tail".
Result<std::unique_ptr<stream::FrameSource>> ParseSafetensors(ByteSource& src,
                                                              const ParseOptions& options);

/// A sharded model's index, model.safetensors.index.json: {"metadata": {...},
/// "weight_map": {tensor: shard file}}. It is a small JSON file; parsing it carries it as
/// one bytes frame (so it round-trips) and, when it was opened by path, checks every shard
/// beside it: the file exists, is safetensors, and holds every tensor mapped to it. The
/// shards themselves are separate models: parse each one on its own.
int BidSafetensorsIndex(std::span<const uint8_t> head);
Result<std::unique_ptr<stream::FrameSource>> ParseSafetensorsIndex(ByteSource& src,
                                                                   const ParseOptions& options);

struct SafetensorsShard {
  std::string file;
  uint64_t mapped_tensors = 0;  ///< tensors the index maps to this file
  bool checked = false;         ///< the file was found and its header read
  uint64_t file_tensors = 0;    ///< tensors in the shard's header
};
/// Decodes an index and, when `dir` is not empty, checks the shards in `dir` as above.
/// Missing shards and missing tensors are Errc::kBadData naming them.
Result<std::vector<SafetensorsShard>> CheckSafetensorsIndex(std::span<const uint8_t> json,
                                                            const std::string& dir);

}  // namespace mln::formats
