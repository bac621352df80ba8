// The quantization plan of one GGUF model, made from its header bytes alone: which tensor
// becomes which type (and why the others stay), where every tensor lies in the new file,
// and the new header bytes (tensor types and offsets, general.file_type).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "libstream/quant/quant.h"

namespace mln::quant {

struct TensorPlan {
  std::string name;
  std::vector<int64_t> ne;  ///< ggml order: ne[0] is the row length
  uint32_t from = 0;        ///< input dtype
  Target to;                ///< meaningful when `convert`
  uint32_t out_dtype = 0;   ///< dtype written (from, unless converted)
  bool convert = false;
  std::string reason;       ///< why not converted (or empty)
  uint64_t elements = 0;
  uint64_t in_bytes = 0, out_bytes = 0;
  uint64_t in_offset = 0, out_offset = 0;  ///< relative to the data section
};

struct GgufPlan {
  uint32_t alignment = 32;
  uint64_t in_data_offset = 0, out_data_offset = 0;
  std::vector<TensorPlan> tensors;  ///< header order (= gguf.index)
  std::vector<size_t> file_order;   ///< tensor indices by input offset
  std::vector<uint8_t> header;      ///< new header, padded to out_data_offset
  uint64_t in_data_end = 0;         ///< end of the last tensor's bytes in the input file
  uint64_t out_data_end = 0;        ///< same in the output
  uint64_t out_file_size = 0;       ///< out_data_end padded to the alignment
  uint32_t file_type = 0;           ///< general.file_type written; 0 with file_type_set false
  bool file_type_set = false;
};

/// Plans the conversion of the GGUF model whose header (everything before the data
/// section, as gguf_parse carries it in "gguf.header" frames) is `header`. When any tensor
/// converts, general.file_type becomes the LLAMA_FTYPE of the type most output matrices
/// have (ties: first in header order). Fails with Errc::kUsage when a type-map rule names
/// a tensor its block does not fit.
Result<GgufPlan> PlanGguf(std::span<const uint8_t> header, const QuantOptions& options);

/// llama.cpp's LLAMA_FTYPE for a model whose matrices are mostly of ggml type `dtype`
/// (LLAMA_FTYPE_MOSTLY_Q4_K_M for q4_K; ALL_F32 for types llama.cpp names no ftype for).
uint32_t LlamaFileType(uint32_t dtype);

}  // namespace mln::quant
