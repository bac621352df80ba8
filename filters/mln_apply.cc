// mln-apply: base model + patch -> the new model, checked and atomic.
#include <sys/stat.h>

#include <cstdio>

#include "libstream/cli/exit.h"
#include "libstream/cli/io.h"
#include "libstream/cli/options.h"
#include "libstream/cli/run.h"
#include "libstream/delta/apply.h"
#include "libstream/delta/model_file.h"

namespace {

constexpr const char* kProg = "mln-apply";

struct ApplyArgs {
  mln::cli::CommonArgs common;
  std::string base_path, patch_path;
  bool in_place = false;
  bool check = false;
};

// A sink that counts and forgets: --check runs every check without writing.
class DiscardSink final : public mln::ByteSink {
 public:
  DiscardSink() : ByteSink("(check only)") {}

 protected:
  mln::Result<void> WriteRaw(const void*, size_t) override { return {}; }
};

int Main(int argc, char** argv) {
  ApplyArgs args;
  CLI::App app("Apply a patch made by mln-diff to BASE and write the new model, byte for byte. "
               "Every base range is checked before use and the result's SHA-256 before it "
               "becomes visible; on any failure the output path and BASE are left as they were.",
               kProg);
  app.add_option("base", args.base_path, "The model the patch was made from (a regular file)")
      ->required();
  app.add_option("patch", args.patch_path, "Patch stream; '-' or none reads stdin");
  auto* in_place = app.add_flag("-i,--in-place", args.in_place,
                                "Replace BASE with the new model (atomically, once verified)");
  auto* check = app.add_flag("--check", args.check,
                             "Apply and verify everything, but write nothing");
  mln::cli::AddCommonOptions(app, args.common);
  in_place->excludes(check);
  app.get_option("--output")->excludes(in_place)->excludes(check);
  if (auto code = mln::cli::ParseArgs(app, argc, argv)) return *code;
  if (mln::cli::IsStdio(args.base_path)) {
    return mln::cli::ReportAndExitCode(
        kProg, mln::Fail(mln::Errc::kUsage, "BASE must be a file (the patch may come on stdin)"));
  }

  auto threads = mln::cli::LimitThreads(args.common.threads);
  auto base_in = mln::cli::OpenInput(args.base_path);
  if (!base_in) return mln::cli::ReportAndExitCode(kProg, mln::Fail(base_in.error()));
  mln::formats::ParseOptions parse;
  auto base = mln::delta::ModelFile::Open(**base_in, parse, /*need_plan=*/false);
  if (!base) return mln::cli::ReportAndExitCode(kProg, mln::Fail(base.error()));
  if (args.in_place && (*base)->materialized()) {
    return mln::cli::ReportAndExitCode(
        kProg, mln::Fail(mln::Error{mln::Errc::kUsage,
                                    "--in-place needs BASE to be the model file itself",
                                    args.base_path}));
  }
  auto patch = mln::cli::OpenInput(args.patch_path);
  if (!patch) return mln::cli::ReportAndExitCode(kProg, mln::Fail(patch.error()));

  std::unique_ptr<mln::cli::Output> out;
  DiscardSink discard;
  mln::ByteSink* sink = &discard;
  if (!args.check) {
    auto opened = mln::cli::Output::Open(args.in_place ? args.base_path : args.common.output,
                                         args.common.force || args.in_place);
    if (!opened) return mln::cli::ReportAndExitCode(kProg, mln::Fail(opened.error()));
    out = std::move(*opened);
    sink = &out->sink();
    if (args.in_place) {
      // The new file takes the old one's permission bits, as sed -i does.
      struct stat st;
      if (::stat(args.base_path.c_str(), &st) == 0) out->SetMode(st.st_mode & 07777);
    }
  }

  mln::delta::ApplyOptions options;
  options.threads = args.common.threads;
  auto stats = mln::delta::ApplyPatch(**base, **patch, *sink, options);
  mln::Result<void> done = !stats ? mln::Fail(stats.error())
                           : out  ? out->Commit()
                                  : mln::Result<void>{};
  if (done && args.common.verbose && !args.common.quiet) {
    const auto& s = *stats;
    std::fprintf(stderr, "%s: %s + %s -> %s: %llu bytes, sha256 %s%s\n", kProg,
                 (*base)->name().c_str(), (*patch)->name().c_str(),
                 out ? out->name().c_str() : "(checked, not written)",
                 static_cast<unsigned long long>(s.bytes_written), s.info.new_sha256.c_str(),
                 args.check ? " (verified)" : "");
  }
  return mln::cli::ReportAndExitCode(kProg, done);
}

}  // namespace

int main(int argc, char** argv) {
  return mln::cli::RunMain(kProg, [&] { return Main(argc, argv); });
}
