// mln-diff's work: two versions of a model -> a patch stream (patch.h).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/delta/patch.h"
#include "libstream/formats/format.h"
#include "libstream/stream/chunker.h"

namespace mln::delta {

struct DiffOptions {
  formats::ParseOptions parse;  ///< chunk_size here is also the patch's op and piece size
  unsigned threads = 0;
  /// Compress every op's payload as mln-compress would, at this zstd level (mln-diff -l);
  /// 0 is each codec's own default, as mln-compress without -l (mln-diff -z).
  std::optional<int> compress_level;
  /// zstd level of the binary deltas of non-tensor bytes (headers, metadata, graphs); at
  /// most 3 for a delta whose base window is over 64 times its bytes.
  int bytes_level = 19;
  /// How far around a non-tensor range's old position its delta looks for matches.
  uint64_t bytes_window = 8ull << 20;
  /// Sees every op frame (and patch.begin) as it is written, in order (progress: bytes of
  /// the new model covered so far); not owned; null for none.
  stream::FrameObserver* progress = nullptr;
};

struct OpTotals {
  uint64_t ops = 0;
  uint64_t out_bytes = 0;      ///< bytes of the new file these ops make
  uint64_t payload_bytes = 0;  ///< payload bytes they carry, as stored
};

struct DiffStats {
  std::array<OpTotals, kOpCount> by_op{};  ///< indexed by PatchOp
  uint64_t base_size = 0;
  uint64_t new_size = 0;
  uint64_t frames = 0;
  uint64_t patch_bytes = 0;
  std::string base_sha256, new_sha256;
  std::string base_format, new_format;  ///< as their parsers name them ("gguf", "tflite")
};

/// Reads `base` and `target` (model files of any readable format, mln streams of one, or a
/// pipe; see ModelFile) and writes the patch that makes `target` from `base` to `out`.
Result<DiffStats> DiffModels(ByteSource& base, ByteSource& target, ByteSink& out,
                             const DiffOptions& options);

}  // namespace mln::delta

namespace mln::delta {

struct ModelIndex;

/// How new tensors find their base: by name, else (a rename) an unclaimed base tensor of
/// the same type and shape whose name the new file lacks, nearest in tensor order.
struct TensorMatch {
  std::unordered_map<std::string, size_t> base_of;  ///< new tensor name -> base entry
  std::vector<size_t> deleted;                      ///< base entries nothing uses
};
TensorMatch MatchTensors(const ModelIndex& base, const ModelIndex& target);

}  // namespace mln::delta
