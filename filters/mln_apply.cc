// mln-apply: base model + patch -> the new model, checked and atomic.
#include <sys/stat.h>

#include <cstdio>
#include <ctime>

#include "libstream/cli/exit.h"
#include "libstream/cli/io.h"
#include "libstream/cli/options.h"
#include "libstream/cli/progress.h"
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
  // Trust, as mln-verify checks it (man/mln-verify.1).
  std::vector<std::string> pubkeys;
  unsigned threshold = 1;
  std::string name, state;
  uint64_t min_version = 0;
  bool allow_downgrade = false;
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
  auto* pubkey = app.add_option("--pubkey", args.pubkeys,
                                "Apply only a patch signed by this Ed25519 public key (PEM); "
                                "one key per --pubkey, repeat it for more")
                     ->allow_extra_args(false)->take_all()->type_name("PEM");
  app.add_option("--threshold", args.threshold,
                 "Valid signatures by distinct trusted keys needed (1)")
      ->needs(pubkey);
  app.add_option("--name", args.name, "The signed manifest must name this model")->needs(pubkey);
  app.add_option("--min-version", args.min_version, "Refuse signed versions below N")
      ->needs(pubkey);
  app.add_option("--state", args.state,
                 "Refuse versions not newer than recorded in FILE; record the applied one")
      ->needs(pubkey);
  app.add_flag("--allow-downgrade", args.allow_downgrade,
               "Accept a version not newer than --state records")
      ->needs(pubkey);
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
  mln::verify::TrustPolicy policy;
  std::optional<mln::verify::VersionState> state;
  if (!args.pubkeys.empty()) {
    if (!args.check && !args.in_place && mln::cli::IsStdio(args.common.output)) {
      // Signatures come at the end of a patch: bytes on stdout would leave before them.
      return mln::cli::ReportAndExitCode(
          kProg, mln::Fail(mln::Errc::kUsage,
                           "--pubkey needs -o FILE, --in-place or --check, so that nothing is "
                           "released before the signatures are checked"));
    }
    if (auto ok = mln::verify::CheckThreshold(args.threshold, args.pubkeys.size()); !ok) {
      return mln::cli::ReportAndExitCode(kProg, ok);
    }
    auto keys = mln::crypto::PublicKey::LoadPems(args.pubkeys);
    if (!keys) return mln::cli::ReportAndExitCode(kProg, mln::Fail(keys.error()));
    policy.trusted = std::move(*keys);
    policy.threshold = args.threshold;
    if (!args.name.empty()) policy.name = args.name;
    if (args.min_version != 0) policy.min_version = args.min_version;
    policy.allow_downgrade = args.allow_downgrade;
    policy.now = static_cast<int64_t>(std::time(nullptr));
    if (!args.state.empty()) {
      auto s = mln::verify::VersionState::Load(args.state);
      if (!s) return mln::cli::ReportAndExitCode(kProg, mln::Fail(s.error()));
      state = std::move(*s);
      if (!args.check) {  // the state is written after the model: be sure it can be
        auto ready = mln::verify::VersionState::PrepareSave(args.state);
        if (!ready) return mln::cli::ReportAndExitCode(kProg, ready);
      }
    }
    options.trust = &policy;
    options.state = state ? &*state : nullptr;
  }
  mln::cli::Progress progress(kProg, args.common);
  options.progress = progress.observer();
  auto stats = mln::delta::ApplyPatch(**base, **patch, *sink, options);
  progress.Finish();
  // The new model becomes visible, then the version is recorded, only once all passed.
  mln::Result<void> done = !stats ? mln::Fail(stats.error())
                           : out  ? out->Commit()
                                  : mln::Result<void>{};
  if (done && state && stats->accepted && !args.check) {
    state->Set(stats->accepted->name, stats->accepted->version);
    done = state->Save(args.state);
  }
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
