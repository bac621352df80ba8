// mln-compress's work: stream (or model) -> compressed stream, and back.
#pragma once

#include "libstream/base/byte_io.h"
#include "libstream/codecs/codec.h"
#include "libstream/formats/layout_emit.h"
#include "libstream/stream/frame_io.h"

namespace mln::codecs {

struct CompressStats {
  uint64_t frames = 0;
  uint64_t raw_bytes = 0;     ///< decoded payload bytes of the frames acted on
  uint64_t stored_bytes = 0;  ///< their stored payload bytes after the run
  uint64_t in_bytes = 0;      ///< bytes read
  uint64_t out_bytes = 0;     ///< bytes written
  double seconds = 0;
  uint64_t signatures = 0;    ///< signature frames passed through (CompressStream)
};

/// Reads a stream (or a model file of a known format, parsed on the way) and writes a stream
/// whose kBytes/kTensor payloads are compressed (EncodeFrame), in parallel chunks. Frames of
/// other kinds pass through. Every input checksum is verified. `progress` (not owned, may be
/// null) sees each frame as it is written; so in DecompressStream.
Result<CompressStats> CompressStream(ByteSource& in, ByteSink& out, const EncodeOptions& options,
                                     stream::FrameObserver* progress = nullptr);

/// What DecompressStream writes.
enum class Decompressed {
  kStream,       ///< the stream, every payload decoded
  kModelIfAny,   ///< the model file it carries (as mln-emit writes it) when the stream starts
                 ///< with one (a source frame), else the stream: a compressed patch or a
                 ///< stream of no model comes back as it was
};

/// Reads a stream and writes what `what` says. A model is laid out with `layout` (where
/// ONNX external data files go; writes always in the background).
Result<CompressStats> DecompressStream(ByteSource& in, ByteSink& out, Decompressed what,
                                       stream::FrameObserver* progress = nullptr,
                                       formats::LayoutOptions layout = {});

}  // namespace mln::codecs
