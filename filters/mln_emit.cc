// mln-emit: mln stream -> model file.
#include <cstdio>

#include "libstream/cli/exit.h"
#include "libstream/cli/io.h"
#include "libstream/cli/options.h"
#include "libstream/cli/progress.h"
#include "libstream/cli/run.h"
#include "libstream/formats/convert.h"

namespace {

struct EmitArgs {
  mln::cli::CommonArgs common;
  std::string input;
};

int Main(int argc, char** argv) {
  constexpr const char* kProg = "mln-emit";
  EmitArgs args;
  CLI::App app("Read an mln stream and write the model file it carries.", kProg);
  app.add_option("input", args.input, "Stream file; '-' or none reads stdin");
  mln::cli::AddCommonOptions(app, args.common);
  if (auto code = mln::cli::ParseArgs(app, argc, argv)) return *code;
  auto threads = mln::cli::LimitThreads(args.common.threads);

  auto in = mln::cli::OpenInput(args.input);
  if (!in) return mln::cli::ReportAndExitCode(kProg, mln::Fail(in.error()));
  auto out = mln::cli::Output::Open(args.common.output, args.common.force);
  if (!out) return mln::cli::ReportAndExitCode(kProg, mln::Fail(out.error()));

  mln::cli::Progress progress(kProg, args.common);
  auto stats = mln::formats::EmitFromStream(**in, (*out)->sink(), progress.observer());
  progress.Finish();
  mln::Result<void> done = stats ? (*out)->Commit() : mln::Fail(stats.error());
  if (done && args.common.verbose && !args.common.quiet) {
    std::fprintf(stderr, "%s: %s: %llu frames -> %s model, %llu bytes\n", kProg,
                 (*in)->name().c_str(), static_cast<unsigned long long>(stats->frames),
                 stats->format.c_str(), static_cast<unsigned long long>(stats->bytes_out));
  }
  return mln::cli::ReportAndExitCode(kProg, done);
}

}  // namespace

int main(int argc, char** argv) {
  return mln::cli::RunMain("mln-emit", [&] { return Main(argc, argv); });
}
