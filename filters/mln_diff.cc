// mln-diff: the patch that turns one version of a model into the next.
#include <cstdio>

#include "libstream/cli/exit.h"
#include "libstream/cli/io.h"
#include "libstream/cli/options.h"
#include "libstream/cli/progress.h"
#include "libstream/cli/run.h"
#include "libstream/delta/diff.h"
#include "libstream/delta/patch.h"

namespace {

constexpr const char* kProg = "mln-diff";

struct DiffArgs {
  mln::cli::CommonArgs common;
  std::string old_path, new_path;
  std::optional<int> level;
  bool compress = false;
  std::string chunk_size = "4M";
};

void PrintSummary(const std::string& old_name, const std::string& new_name,
                  const mln::delta::DiffStats& s) {
  std::fprintf(stderr, "%s: %s -> %s: %llu -> %llu bytes, patch %llu bytes (%.3f%% of new)\n",
               kProg, old_name.c_str(), new_name.c_str(),
               static_cast<unsigned long long>(s.base_size),
               static_cast<unsigned long long>(s.new_size),
               static_cast<unsigned long long>(s.patch_bytes),
               s.new_size ? 100.0 * s.patch_bytes / s.new_size : 0.0);
  for (size_t op = 0; op < s.by_op.size(); ++op) {
    const auto& t = s.by_op[op];
    if (t.ops == 0) continue;
    std::fprintf(stderr, "%s:   %-8s %6llu ops  %12llu new bytes  %12llu payload bytes\n", kProg,
                 mln::delta::OpName(static_cast<uint8_t>(op)).c_str(),
                 static_cast<unsigned long long>(t.ops),
                 static_cast<unsigned long long>(t.out_bytes),
                 static_cast<unsigned long long>(t.payload_bytes));
  }
}

int Main(int argc, char** argv) {
  DiffArgs args;
  CLI::App app("Write the patch that turns OLD into NEW: tensor-aware ops (keep, xor, sub, "
               "replace, insert, delete) and binary deltas of the other bytes. Apply it with "
               "mln-apply.", kProg);
  app.add_option("old", args.old_path, "Old model (any readable format, or an mln stream)")
      ->required();
  app.add_option("new", args.new_path, "New model; '-' reads stdin (one input at most)")
      ->required();
  app.add_option("-l,--level", args.level,
                 "Compress the patch's payloads in the same run (as mln-compress -l LEVEL); -N for short, as in zstd")
      ->check(CLI::Range(1, 19))
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // zstd's habit: the last wins
  app.add_flag("-z,--compress", args.compress,
               "Compress the patch in the same run, byte for byte as piping it through "
               "mln-compress would (its default levels)");
  app.add_option("-c,--chunk-size", args.chunk_size,
                 "Bytes per op and per checked piece of unchanged ranges (e.g. 4M)");
  mln::cli::AddCommonOptions(app, args.common);
  mln::cli::SpelledArgs spelled = mln::cli::SpellLevelShorthand(app, argc, argv);
  if (auto code = mln::cli::ParseArgs(app, argc, spelled.argv.data())) return *code;
  if (mln::cli::IsStdio(args.old_path) && mln::cli::IsStdio(args.new_path)) {
    return mln::cli::ReportAndExitCode(
        kProg, mln::Fail(mln::Errc::kUsage, "OLD and NEW cannot both be stdin"));
  }
  auto chunk = mln::cli::ParseSize(args.chunk_size);
  if (!chunk) return mln::cli::ReportAndExitCode(kProg, mln::Fail(chunk.error()));
  if (*chunk < 4096 || *chunk > (64u << 20)) {
    return mln::cli::ReportAndExitCode(
        kProg, mln::Fail(mln::Errc::kUsage, "--chunk-size must be between 4K and 64M"));
  }

  mln::delta::DiffOptions options;
  options.parse.chunk_size = static_cast<size_t>(*chunk);
  options.threads = args.common.threads;
  // Level 0 is each codec's own default, as in mln-compress without -l.
  options.compress_level = args.level ? args.level : args.compress ? std::optional<int>(0)
                                                                   : std::nullopt;
  auto threads = mln::cli::LimitThreads(args.common.threads);
  auto old_in = mln::cli::OpenInput(args.old_path);
  if (!old_in) return mln::cli::ReportAndExitCode(kProg, mln::Fail(old_in.error()));
  auto new_in = mln::cli::OpenInput(args.new_path);
  if (!new_in) return mln::cli::ReportAndExitCode(kProg, mln::Fail(new_in.error()));
  auto out = mln::cli::Output::Open(args.common.output, args.common.force);
  if (!out) return mln::cli::ReportAndExitCode(kProg, mln::Fail(out.error()));

  mln::cli::Progress progress(kProg, args.common);
  options.progress = progress.observer();
  auto stats = mln::delta::DiffModels(**old_in, **new_in, (*out)->sink(), options);
  progress.Finish();
  mln::Result<void> done = stats ? (*out)->Commit() : mln::Fail(stats.error());
  if (done && !args.common.quiet && !stats->base_format.empty() &&
      !stats->new_format.empty() && stats->base_format != stats->new_format) {
    // Not an error (a conversion is a release too), but no tensor of one format matches
    // one of the other: the patch is the new model whole, as big as sending it.
    std::fprintf(stderr,
                 "%s: warning: OLD is a %s model, NEW a %s one: nothing can match, so the "
                 "patch holds the new model whole (mln-compress NEW is as small)\n",
                 kProg, stats->base_format.c_str(), stats->new_format.c_str());
  }
  if (done && args.common.verbose && !args.common.quiet) {
    PrintSummary((*old_in)->name(), (*new_in)->name(), *stats);
  }
  return mln::cli::ReportAndExitCode(kProg, done);
}

}  // namespace

int main(int argc, char** argv) {
  return mln::cli::RunMain(kProg, [&] { return Main(argc, argv); });
}
