// Whole-model conversions the filters run: model file -> stream (mln-parse) and
// stream -> model file (mln-emit).
#pragma once

#include <string_view>

#include "libstream/base/byte_io.h"
#include "libstream/formats/format.h"
#include "libstream/formats/layout_emit.h"

namespace mln::formats {

struct ConvertStats {
  uint64_t frames = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  std::string format;
  /// EmitFromStream: ONNX external data files written, passed over, and external tensors
  /// whose data the stream does not carry (see LayoutSink).
  uint64_t external_written = 0, external_skipped = 0, uncarried_external = 0;
};

/// Parses the model in `in` (format by content, or `forced_format`) and writes it to `out`
/// as a stream: checksums are computed in parallel, frames are written in order.
/// A non-empty `member` reads that member of a tar or zip archive in `in` (container.h).
Result<ConvertStats> ParseToStream(ByteSource& in, ByteSink& out, std::string_view forced_format,
                                   const ParseOptions& options, std::string_view member = {});

/// Reads a stream from `in` and writes the model it carries to `out`, checking every frame
/// checksum (in parallel), the chunk sequence and the trailer. `progress` (not owned, may be
/// null) sees each frame as it is written. `layout` says what happens to ONNX external data
/// files (by default they are refused: `out` can only hold the model file), and whether
/// writes go on a thread of their own; with that, a regular file or memory `in` is also
/// read a frame ahead on another (stream/read_ahead.h).
Result<ConvertStats> EmitFromStream(ByteSource& in, ByteSink& out,
                                    stream::FrameObserver* progress = nullptr,
                                    const LayoutOptions& layout = {});

}  // namespace mln::formats
