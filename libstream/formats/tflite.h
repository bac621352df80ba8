// TFLite (FlatBuffers, schema version 3, file identifier "TFL3" at bytes 4..7).
//
// The whole file is one FlatBuffer whose root table is Model (tensorflow/lite/schema/
// schema.fbs). Tensor data lives in Model.buffers: either inside the FlatBuffer as the
// Buffer.data vector, or, in models over 2 GB, after it at Buffer.offset/size (counted from
// the start of the file). mln carries the data of each non-empty buffer as a tensor run and
// every other byte (tables, strings, vector length prefixes, padding) as "tflite.flatbuffer"
// bytes runs, so the file is rebuilt byte for byte without re-encoding it.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "libstream/formats/format.h"

namespace mln::formats {

/// Largest TFLite model read from a pipe; a regular file is mapped and has no limit.
inline constexpr uint64_t kTfliteMaxPipeBytes = 2ull << 30;

/// Name of the bytes runs that hold a sparse tensor's index arrays (CSR segments and
/// indices), typed by their element (i32, u16 or u8).
inline constexpr const char* kTfliteSparsityRun = "tflite.sparsity";

/// Name of a TFLite TensorType value ("FLOAT32", "INT8", ...), or "TYPE<N>".
std::string TfliteTypeName(int type);

/// 100 when bytes 4..7 are "TFL3", else 0.
int BidTflite(std::span<const uint8_t> head);

/// Maps (or reads, from a pipe, up to kTfliteMaxPipeBytes) the whole model, checks it with
/// the FlatBuffers Verifier (depth and table limits), and yields a source frame, then the
/// buffers as tensor runs and the bytes between them as "tflite.flatbuffer" bytes runs, in
/// file order. Errors: Errc::kBadData for a file that fails verification, a tensor or
/// metadata naming a buffer that does not exist, buffer data past the end of the file or
/// overlapping another buffer; Errc::kUnsupported for a pipe over the limit.
Result<std::unique_ptr<stream::FrameSource>> ParseTflite(ByteSource& src,
                                                         const ParseOptions& options);

}  // namespace mln::formats
