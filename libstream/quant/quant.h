// mln-quant's work: float tensors of a GGUF stream to GGUF block types (Q8_0, Q4_0, Q4_K,
// TQ1_0, TQ2_0), BitNet b1.58 absmean ternary, and back to f32/f16.
//
// The GGUF header travels first in the stream and holds the whole tensor table, so the
// plan (which tensor becomes which type, and where every tensor now lies) is made from the
// header alone, before any tensor arrives; the filter then holds only the header and the
// chunks in flight. `ternary` needs the mean |w| of a whole tensor before its first block,
// so its chunks wait in an unlinked temporary file (tmpfile(3)) rather than in memory.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/base/status.h"
#include "libstream/stream/frame_io.h"

namespace mln::quant {

/// A type a tensor can be given: a ggml dtype, or BitNet absmean ternary packed in TQ2_0 /
/// TQ1_0 blocks, or "keep" (leave the tensor as it is).
struct Target {
  uint32_t dtype = 0;
  bool ternary = false;
  bool keep = false;
  bool operator==(const Target&) const = default;
};

/// Parses a type name: q8_0, q4_0, q4_k, tq1_0, tq2_0, ternary (TQ2_0 packing; see
/// `ternary_pack`), f32, f16, keep. Unknown names fail with Errc::kUsage listing the valid
/// ones.
Result<Target> ParseTarget(std::string_view name, uint32_t ternary_pack);
/// "q8_0, q4_0, q4_k, tq1_0, tq2_0, ternary, f32, f16".
std::string TargetNames();
/// Name of a target for messages ("q4_K", "ternary/tq2_0", "keep").
std::string TargetName(const Target& t);

/// One line of a --type-map file: tensors whose name matches the glob get `target`.
/// `source` and `line` say where the rule came from, for errors that a tensor triggers
/// later (a block that does not divide the tensor's rows).
struct TypeRule {
  std::string pattern;
  Target target;
  std::string source;
  size_t line = 0;
};
/// Parses "PATTERN TYPE" lines; '#' starts a comment, blank lines are skipped. Errors name
/// the line (Errc::kUsage); `source` (the file name) is recorded in each rule.
Result<std::vector<TypeRule>> ParseTypeMap(std::string_view text, uint32_t ternary_pack,
                                           std::string_view source = "type map");

struct QuantOptions {
  /// Default target for the tensors selected; f32/f16 means dequantize.
  Target target;
  std::vector<std::string> include;  ///< globs; when non-empty only matching tensors are selected
  std::vector<std::string> exclude;  ///< globs; matching tensors are never converted
  /// First match wins over `target`. A rule is explicit: a float matrix whose rows its
  /// block does not divide is an error (Errc::kUsage naming the rule's file, line and the
  /// tensor), not a silent keep; f32/f16 rules also convert between float types.
  std::vector<TypeRule> type_map;
  bool strict = false;            ///< a selected tensor that cannot be converted is an error
  bool allow_nonfinite = false;   ///< quantize NaN/Inf weights instead of failing
  bool quality = false;           ///< measure RMSE, max error and cosine per tensor
  size_t chunk_size = 4u << 20;   ///< when the input is a model file rather than a stream
  /// Write the GGUF file itself (as mln-emit would lay it out) rather than the stream.
  bool write_model = false;
  /// Called (from the reading thread) with one line per tensor decision, for -v.
  std::function<void(const std::string&)> note;
  /// Sees every input frame as it is read, in order, from the reading stage (progress: the
  /// input's bytes, since quantized output is smaller than what it came from); not owned;
  /// null for none.
  stream::FrameObserver* progress = nullptr;
};

struct TensorReport {
  std::string name;
  std::string from, to;  ///< dtype names
  uint64_t elements = 0;
  bool converted = false;
  std::string reason;    ///< why it was left as it is
  double gamma = 0;      ///< ternary scale (mean |w|)
  // Quality against the float input, when QuantOptions::quality.
  double sum_sq_err = 0, max_abs_err = 0, dot = 0, norm_x = 0, norm_y = 0;
  double rmse() const;
  double cosine() const;
};

struct QuantStats {
  std::vector<TensorReport> tensors;  ///< every tensor of every model, in header order
  uint64_t float_bytes = 0;           ///< input bytes of the tensors converted
  uint64_t in_bytes = 0, out_bytes = 0;
  double seconds = 0;
  uint32_t file_type = 0;             ///< general.file_type written (last model; see PlanGguf)
};

/// Reads a stream (or a GGUF model file, parsed on the way) and writes a stream (or with
/// `write_model` the GGUF file) in which the selected tensors are converted and the GGUF header, padding and offsets are
/// rewritten to match. Non-GGUF models fail with Errc::kBadData ("quantization writes GGUF;
/// input is tflite"). Every input checksum is verified; output frames are raw and sealed.
Result<QuantStats> QuantizeStream(ByteSource& in, ByteSink& out, const QuantOptions& options);

/// The quality report as JSON text (one object with a "tensors" array).
std::string ReportJson(const QuantStats& stats);

}  // namespace mln::quant
