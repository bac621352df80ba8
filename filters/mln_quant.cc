// mln-quant: GGUF block quantization (Q8_0, Q4_0, Q4_K, TQ1_0, TQ2_0), BitNet b1.58
// ternary, and dequantization, as a stream filter.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "libstream/cli/exit.h"
#include "libstream/cli/io.h"
#include "libstream/cli/options.h"
#include "libstream/cli/progress.h"
#include "libstream/cli/run.h"
#include "libstream/quant/quant.h"

namespace {

constexpr const char* kProg = "mln-quant";

struct QuantArgs {
  mln::cli::CommonArgs common;
  std::string input;
  std::string type;
  bool dequantize = false;
  std::string ternary_pack = "tq2_0";
  std::vector<std::string> include, exclude;
  std::string type_map;
  bool strict = false;
  bool allow_nonfinite = false;
  std::string report;
};

mln::Result<mln::quant::QuantOptions> Validate(const QuantArgs& a) {
  using mln::Errc;
  mln::quant::QuantOptions o;
  uint32_t pack;
  if (a.ternary_pack == "tq2_0") {
    pack = 35;
  } else if (a.ternary_pack == "tq1_0") {
    pack = 34;
  } else {
    return mln::Fail(Errc::kUsage, "--ternary-pack must be tq2_0 or tq1_0, not '" + a.ternary_pack + "'");
  }
  std::string type = a.type;
  if (type.empty()) {
    if (!a.dequantize && a.type_map.empty()) {
      return mln::Fail(Errc::kUsage, "no type: give -t TYPE (" + mln::quant::TargetNames() + ") or -d");
    }
    type = a.dequantize ? "f32" : "keep";
  }
  MLN_TRY(o.target, mln::quant::ParseTarget(type, pack));
  const bool to_float = !o.target.keep && (o.target.dtype == 0 || o.target.dtype == 1);
  if (a.dequantize && !to_float) {
    return mln::Fail(Errc::kUsage, "-d writes f32 or f16, not " + type);
  }
  if (!a.type_map.empty()) {
    std::ifstream f(a.type_map);
    if (!f) return mln::Fail(mln::Error{Errc::kNoInput, "cannot read the type map", a.type_map});
    std::stringstream text;
    text << f.rdbuf();
    auto rules = mln::quant::ParseTypeMap(text.str(), pack, a.type_map);
    if (!rules) return mln::Fail(std::move(rules).error().WithFile(a.type_map));
    o.type_map = std::move(*rules);
  }
  if (a.report == "-" && mln::cli::IsStdio(a.common.output)) {
    return mln::Fail(Errc::kUsage, "--report - needs -o FILE: stdout carries the stream");
  }
  o.include = a.include;
  o.exclude = a.exclude;
  o.strict = a.strict;
  o.allow_nonfinite = a.allow_nonfinite;
  o.quality = !a.report.empty() || (a.common.verbose > 0 && !a.common.quiet);
  return o;
}

void PrintQuality(const mln::quant::QuantStats& s) {
  std::fprintf(stderr, "%s: %-40s %-8s %-8s %12s %12s %10s\n", kProg, "tensor", "from", "to",
               "rmse", "max_err", "cosine");
  for (const auto& t : s.tensors) {
    if (!t.converted || t.norm_x + t.norm_y + t.sum_sq_err == 0) continue;
    std::fprintf(stderr, "%s: %-40s %-8s %-8s %12.4g %12.4g %10.6f\n", kProg, t.name.c_str(),
                 t.from.c_str(), t.to.c_str(), t.rmse(), t.max_abs_err, t.cosine());
  }
}

int Main(int argc, char** argv) {
  QuantArgs args;
  CLI::App app("Quantize the float tensors of a GGUF stream (or file) to GGUF block types, "
               "bit-identical to ggml; -d dequantizes.", kProg);
  app.add_option("input", args.input, "Stream or GGUF file; '-' or none reads stdin");
  app.add_option("-t,--type", args.type,
                 "Target type: q8_0, q4_0, q4_k, tq1_0, tq2_0, ternary (BitNet b1.58), f32, f16");
  app.add_flag("-d,--dequantize", args.dequantize, "Dequantize to f32 (or -t f16)");
  app.add_option("--ternary-pack", args.ternary_pack, "Block layout for -t ternary: tq2_0 or tq1_0");
  app.add_option("--include", args.include, "Convert only tensors matching this glob (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--exclude", args.exclude, "Never convert tensors matching this glob (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--type-map", args.type_map,
                 "File of 'GLOB TYPE' lines (TYPE: a -t type or keep); first match wins over -t");
  app.add_flag("--strict", args.strict, "Fail when a selected tensor's rows do not fit the block");
  app.add_flag("--allow-nonfinite", args.allow_nonfinite, "Quantize NaN/Inf weights instead of failing");
  app.add_option("--report", args.report, "Write the per-tensor quality report (JSON) to FILE");
  mln::cli::AddCommonOptions(app, args.common);
  if (auto code = mln::cli::ParseArgs(app, argc, argv)) return *code;

  auto options = Validate(args);
  if (!options) return mln::cli::ReportAndExitCode(kProg, mln::Fail(options.error()));
  mln::cli::Progress progress(kProg, args.common);
  options->progress = progress.observer();
  if (args.common.verbose > 0 && !args.common.quiet) {
    // Notes and progress both come from the reading stage: erase the line before a note,
    // the next frame draws it again below.
    options->note = [&progress](const std::string& line) {
      progress.Finish();
      std::fprintf(stderr, "%s: %s\n", kProg, line.c_str());
    };
  }
  auto threads = mln::cli::LimitThreads(args.common.threads);
  auto in = mln::cli::OpenInput(args.input);
  if (!in) return mln::cli::ReportAndExitCode(kProg, mln::Fail(in.error()));
  auto out = mln::cli::Output::Open(args.common.output, args.common.force);
  if (!out) return mln::cli::ReportAndExitCode(kProg, mln::Fail(out.error()));
  // -o FILE.gguf is the model itself, as llama-quantize writes it; a stream elsewhere.
  const std::string& o = args.common.output;
  options->write_model = o.size() > 5 && o.ends_with(".gguf");  // a name, not ".gguf" alone

  auto stats = mln::quant::QuantizeStream(**in, (*out)->sink(), *options);
  progress.Finish();
  mln::Result<void> done = stats ? (*out)->Commit() : mln::Fail(stats.error());
  if (done && !args.common.quiet &&
      std::none_of(stats->tensors.begin(), stats->tensors.end(),
                   [](const auto& t) { return t.converted; })) {
    // Not an error (an already quantized model, a recipe that excludes all), but a run that
    // changed no tensor is seldom what was meant.
    std::fprintf(stderr,
                 "%s: %s: warning: no tensor was converted (llama.cpp's selection takes "
                 "matrices named *weight; -v says why each was kept, --include widens it)\n",
                 kProg, (*in)->name().c_str());
  }
  if (done && !args.report.empty()) {
    auto report = mln::cli::Output::Open(args.report, true, false);
    if (!report) return mln::cli::ReportAndExitCode(kProg, mln::Fail(report.error()));
    std::string json = mln::quant::ReportJson(*stats);
    done = (*report)->sink().Write(json.data(), json.size());
    if (done) done = (*report)->Commit();
  }
  if (done && args.common.verbose && !args.common.quiet) {
    PrintQuality(*stats);
    const auto& s = *stats;
    std::fprintf(stderr, "%s: %s: %llu -> %llu bytes, %.0f MB/s of float input\n", kProg,
                 (*in)->name().c_str(), static_cast<unsigned long long>(s.in_bytes),
                 static_cast<unsigned long long>(s.out_bytes),
                 s.seconds > 0 ? s.float_bytes / s.seconds / 1e6 : 0.0);
  }
  return mln::cli::ReportAndExitCode(kProg, done);
}

}  // namespace

int main(int argc, char** argv) {
  return mln::cli::RunMain(kProg, [&] { return Main(argc, argv); });
}
