// mln-emit: mln stream -> model file (and, for ONNX, its external data files).
#include <sys/stat.h>

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
  std::string external_dir;
};

// Where ONNX external data files go: --external-dir, else beside -o FILE. Empty (passed
// over, with a notice) when the model goes to stdout, a pipe or a device, where "beside
// it" means nothing.
std::string ExternalDir(const EmitArgs& args) {
  if (!args.external_dir.empty()) return args.external_dir;
  const std::string& out = args.common.output;
  if (mln::cli::IsStdio(out)) return "";
  struct stat st;
  if (::stat(out.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return "";
  return mln::DirName(out);
}

int Main(int argc, char** argv) {
  constexpr const char* kProg = "mln-emit";
  EmitArgs args;
  CLI::App app("Read an mln stream and write the model file it carries.", kProg);
  app.add_option("input", args.input, "Stream file; '-' or none reads stdin");
  app.add_option("--external-dir", args.external_dir,
                 "Write ONNX external data files under DIR (default with -o FILE: FILE's "
                 "directory; to stdout: not written)")
      ->type_name("DIR");
  mln::cli::AddCommonOptions(app, args.common);
  if (auto code = mln::cli::ParseArgs(app, argc, argv)) return *code;
  auto threads = mln::cli::LimitThreads(args.common.threads);

  auto in = mln::cli::OpenInput(args.input);
  if (!in) return mln::cli::ReportAndExitCode(kProg, mln::Fail(in.error()));
  auto out = mln::cli::Output::Open(args.common.output, args.common.force);
  if (!out) return mln::cli::ReportAndExitCode(kProg, mln::Fail(out.error()));

  std::unique_ptr<mln::formats::DirExternalWriter> external;
  // Written on a thread of its own, while the next frames are checked.
  mln::formats::LayoutOptions layout{.background = true};
  if (std::string dir = ExternalDir(args); !dir.empty()) {
    auto made = mln::formats::DirExternalWriter::Create(
        dir, mln::cli::IsStdio(args.common.output) ? "" : args.common.output);
    if (!made) return mln::cli::ReportAndExitCode(kProg, mln::Fail(made.error()));
    external = std::move(*made);
    layout.external = external.get();
  } else {
    layout.skip_external = true;
  }

  mln::cli::Progress progress(kProg, args.common);
  auto stats = mln::formats::EmitFromStream(**in, (*out)->sink(), progress.observer(), layout);
  progress.Finish();
  // Data files first: the model that names them appears only once they are all in place.
  mln::Result<void> done = stats ? (external ? external->Commit() : mln::Result<void>{})
                                 : mln::Fail(stats.error());
  if (done) done = (*out)->Commit();
  if (done && !args.common.quiet && stats->external_skipped != 0) {
    const bool one = stats->external_skipped == 1;
    std::fprintf(stderr,
                 "%s: %llu ONNX external data file%s not written (give -o FILE or "
                 "--external-dir DIR)\n",
                 kProg, static_cast<unsigned long long>(stats->external_skipped),
                 one ? " was" : "s were");
  }
  if (done && !args.common.quiet && stats->uncarried_external != 0) {
    std::fprintf(stderr,
                 "%s: %llu ONNX external tensors have no data in the stream (it was parsed "
                 "from a pipe): their data files are not written\n",
                 kProg, static_cast<unsigned long long>(stats->uncarried_external));
  }
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
