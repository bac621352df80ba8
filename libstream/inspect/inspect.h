// What mln-inspect reports about a model file or a stream.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/delta/patch.h"
#include "libstream/formats/gguf.h"
#include "libstream/stream/frame.h"
#include "libstream/verify/verify.h"

namespace mln::inspect {

struct TensorEntry {
  std::string name;
  uint32_t dtype = 0;
  std::vector<int64_t> shape;
  uint64_t bytes = 0;
  uint64_t file_offset = 0;
  uint64_t chunks = 0;
  uint64_t stored_bytes = 0;        ///< payload bytes as stored (compressed or not)
  std::vector<std::string> codecs;  ///< codecs its chunks use
  uint64_t xxh3 = 0;  ///< XXH3-64 of the whole tensor's bytes
  std::vector<stream::Attribute> attrs;  ///< format-specific facts (quantization, ...)
  /// ONNX external data: the data file (its location as the model names it) holding the
  /// tensor; file_offset is then an offset in that file. Empty for the model file itself.
  std::string external_file;
  /// An ONNX external tensor parsed from a pipe: the data file the model names, whose
  /// bytes the stream does not carry. Empty otherwise.
  std::string uncarried_file;
};

/// An ONNX external data file carried after its model (mln-stream(5), ONNX).
struct ExternalFileEntry {
  std::string location;
  uint64_t file_size = 0;
  uint64_t tensors = 0;
  uint64_t tensor_bytes = 0;
  uint64_t other_bytes = 0;  ///< bytes no tensor covers
};

/// One op of a patch; consecutive frames of one tensor with the same op are merged.
struct PatchOpEntry {
  std::string name;
  uint8_t op = 0;
  uint32_t dtype = 0;
  std::vector<int64_t> shape;
  uint64_t new_offset = 0, new_bytes = 0;
  uint64_t base_offset = 0, base_bytes = 0;
  uint64_t payload_bytes = 0;  ///< decoded
  uint64_t stored_bytes = 0;   ///< as stored (after mln-compress)
  std::vector<std::string> codecs;  ///< of its frames' payloads, in order of first use
  uint64_t frames = 0;
  uint64_t run_frames = 0;     ///< keep runs: frames of the new file the run covers
  std::string run_last;        ///< keep runs: the last of them, when not `name`
};

struct PatchReport {
  delta::PatchInfo info;
  std::vector<PatchOpEntry> ops;
};

/// A signature frame as found: what its manifest says, nothing checked (mln-verify --pubkey
/// checks it).
struct SignatureEntry {
  uint64_t frame = 0;        ///< its place in the stream
  std::string key_id;        ///< attribute mln.key_id
  std::optional<verify::Manifest> manifest;  ///< unset when the payload is no manifest
  std::string manifest_error;                ///< why, then
};

struct Report {
  std::string input;           ///< file name as given
  bool is_stream = false;      ///< the input was an mln stream (else a model file)
  std::string format;          ///< model format
  uint64_t file_size = 0;      ///< model file size (0 when parsed from a pipe)
  uint64_t frames = 0;         ///< frames before the trailer
  uint64_t bytes_frames = 0;   ///< non-tensor frames
  uint64_t bytes_frame_bytes = 0;
  uint64_t unknown_frames = 0;
  std::vector<SignatureEntry> signatures;
  uint64_t payload_bytes = 0;  ///< decoded payload bytes of all frames
  uint64_t stored_bytes = 0;   ///< the same, as stored
  std::vector<stream::Attribute> source_attrs;
  std::vector<TensorEntry> tensors;
  std::vector<ExternalFileEntry> external_files;
  std::optional<formats::GgufHeader> gguf;
  std::string stream_sha256;   ///< trailer digest, streams only
  std::optional<PatchReport> patch;  ///< set when the stream is a patch (mln-diff)
};

/// Reads `in` to the end (a stream, or a model file of any known format), verifying every
/// checksum on the way, and summarises it.
Result<Report> Inspect(ByteSource& in);

/// Human-readable table; `verbose` adds every metadata value in full.
std::string RenderTable(const Report& report, bool verbose);
/// One JSON document (see mln-inspect(1) for the fields).
std::string RenderJson(const Report& report);

}  // namespace mln::inspect
