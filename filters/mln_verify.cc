// mln-verify: check, sign and trust-check mln streams; SHA-256 of model files.
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "libstream/cli/exit.h"
#include "libstream/cli/io.h"
#include "libstream/cli/options.h"
#include "libstream/cli/progress.h"
#include "libstream/cli/run.h"
#include "libstream/verify/verify.h"

namespace {

constexpr const char* kProg = "mln-verify";

struct VerifyArgs {
  mln::cli::CommonArgs common;
  std::vector<std::string> inputs;
  bool check = false, print = false, json = false, allow_downgrade = false;
  std::string sha256, name, state;
  std::vector<std::string> sign_keys, pubkeys;
  uint64_t version = 0, min_version = 0, expires_days = 0;
  int64_t expires_at = 0;
  unsigned threshold = 1;
  std::map<std::string, CLI::Option*> opt;  // to ask which options were given
  bool Given(const std::string& o) const { return opt.at(o)->count() != 0; }
};

mln::Result<void> Validate(const VerifyArgs& a) {
  auto usage = [](std::string m) { return mln::Fail(mln::Errc::kUsage, std::move(m)); };
  auto none_of = [&](std::initializer_list<const char*> opts, const char* mode) -> mln::Result<void> {
    for (const char* o : opts) {
      if (a.Given(o)) return usage(std::string("--") + o + " cannot be used with " + mode);
    }
    return {};
  };
  bool digest = a.print || a.Given("sha256");
  if (digest) {
    MLN_RETURN_IF_ERROR(none_of({"sign", "pubkey", "state", "check", "output", "min-version",
                                 "threshold", "allow-downgrade", "name", "version", "expires",
                                 "expires-at"},
                                a.print ? "--print" : "--sha256"));
    if (a.Given("sha256") && a.inputs.size() > 1) return usage("--sha256 checks one file");
    std::array<uint8_t, 32> d;
    if (a.Given("sha256") && !mln::crypto::FromHex(a.sha256, d)) {
      return usage("--sha256 wants 64 hex digits, got '" + a.sha256 + "'");
    }
    return {};
  }
  if (a.json) return usage("--json needs --print");
  if (a.inputs.size() > 1) return usage("one stream at a time (several files only with --print)");
  if (a.Given("sign")) {
    MLN_RETURN_IF_ERROR(none_of({"check", "pubkey", "state", "min-version", "threshold",
                                 "allow-downgrade"},
                                "--sign"));
    if (!a.Given("name") || !a.Given("version")) return usage("--sign needs --name and --version");
    if (a.Given("expires") && a.Given("expires-at")) {
      return usage("--expires and --expires-at are alternatives");
    }
    return {};
  }
  MLN_RETURN_IF_ERROR(none_of({"version", "expires", "expires-at"}, "verification (no --sign)"));
  if (a.check && a.Given("output")) return usage("--check writes nothing; drop -o");
  if (a.pubkeys.empty()) {
    MLN_RETURN_IF_ERROR(none_of({"state", "min-version", "threshold", "allow-downgrade", "name"},
                                "no --pubkey (versions are trusted only when signed)"));
  } else {
    MLN_RETURN_IF_ERROR(mln::verify::CheckThreshold(a.threshold, a.pubkeys.size()));
  }
  return {};
}

int RunDigest(const VerifyArgs& a) {
  std::vector<std::string> inputs = a.inputs.empty() ? std::vector<std::string>{"-"} : a.inputs;
  int worst = 0;
  for (const std::string& path : inputs) {
    mln::Result<void> done;
    auto in = mln::cli::OpenInput(path);
    auto d = in ? mln::verify::DigestInput(**in, a.common.threads)
                : mln::Result<mln::verify::FileDigest>(mln::Fail(in.error()));
    if (d) {
      std::string shown = mln::cli::IsStdio(path) ? "-" : path;
      if (a.print) {
        std::string text = a.json ? mln::verify::RenderDigestJson(shown, *d)
                                  : mln::verify::RenderDigestText(shown, *d);
        std::fputs(text.c_str(), stdout);
      }
      std::string got = mln::crypto::ToHex(d->sha256), want = a.sha256;
      for (char& c : want) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (a.Given("sha256") && got != want) {
        done = mln::Fail(mln::Error{mln::Errc::kRejected,
                                    "sha256 mismatch: expected " + want + ", got " + got,
                                    (*in)->name()});
      } else if (d->stream_error) {
        done = mln::Fail(*d->stream_error);
      }
    } else {
      done = mln::Fail(d.error());
    }
    int code = mln::cli::ReportAndExitCode(kProg, done);
    // 1 ("no") is milder than any error code.
    if (code != 0 && (worst == 0 || (worst == 1 && code != 1))) worst = code;
  }
  std::fflush(stdout);
  return worst;
}

int RunSign(const VerifyArgs& a, int64_t now) {
  mln::verify::SignOptions o;
  for (const std::string& path : a.sign_keys) {
    auto key = mln::crypto::PrivateKey::LoadPem(path);
    if (!key) return mln::cli::ReportAndExitCode(kProg, mln::Fail(key.error()));
    o.keys.push_back(std::move(*key));
  }
  o.name = a.name;
  o.version = a.version;
  o.created = now;
  if (a.Given("expires")) o.expires = now + static_cast<int64_t>(a.expires_days) * 86400;
  if (a.Given("expires-at")) o.expires = a.expires_at;
  if (o.expires && *o.expires <= now && !a.common.quiet) {
    std::fprintf(stderr, "%s: warning: the manifest expires at %s, which has passed\n", kProg,
                 mln::verify::FormatTime(*o.expires).c_str());
  }
  o.threads = a.common.threads;
  auto in = mln::cli::OpenInput(a.inputs.empty() ? "-" : a.inputs[0]);
  if (!in) return mln::cli::ReportAndExitCode(kProg, mln::Fail(in.error()));
  auto out = mln::cli::Output::Open(a.common.output, a.common.force);
  if (!out) return mln::cli::ReportAndExitCode(kProg, mln::Fail(out.error()));
  mln::cli::Progress progress(kProg, a.common);
  o.progress = progress.observer();
  auto signed_ = mln::verify::SignStream(**in, (*out)->sink(), o);
  progress.Finish();
  mln::Result<void> done = signed_ ? (*out)->Commit() : mln::Fail(signed_.error());
  if (done && a.common.verbose && !a.common.quiet) {
    std::fprintf(stderr, "%s: %s: signed '%s' version %llu with %zu key(s), content sha256 %s\n",
                 kProg, (*in)->name().c_str(), a.name.c_str(),
                 static_cast<unsigned long long>(a.version), o.keys.size(),
                 mln::crypto::ToHex(signed_->manifest.content_sha256).c_str());
  }
  return mln::cli::ReportAndExitCode(kProg, done);
}

int RunVerify(const VerifyArgs& a, int64_t now) {
  mln::verify::TrustPolicy policy;
  auto keys = mln::crypto::PublicKey::LoadPems(a.pubkeys);
  if (!keys) return mln::cli::ReportAndExitCode(kProg, mln::Fail(keys.error()));
  policy.trusted = std::move(*keys);
  policy.threshold = a.threshold;
  if (a.Given("name")) policy.name = a.name;
  if (a.Given("min-version")) policy.min_version = a.min_version;
  policy.allow_downgrade = a.allow_downgrade;
  policy.now = now;
  std::optional<mln::verify::VersionState> state;
  if (a.Given("state")) {
    auto s = mln::verify::VersionState::Load(a.state);
    if (!s) return mln::cli::ReportAndExitCode(kProg, mln::Fail(s.error()));
    state = std::move(*s);
  }
  auto in = mln::cli::OpenInput(a.inputs.empty() ? "-" : a.inputs[0]);
  if (!in) return mln::cli::ReportAndExitCode(kProg, mln::Fail(in.error()));
  // A stream is never useful on a terminal, and checking is what was meant there.
  bool check = a.check || (mln::cli::IsStdio(a.common.output) && !a.common.force &&
                           isatty(STDOUT_FILENO));
  if (state && !check) {  // the state is written after the output: be sure it can be
    auto ready = mln::verify::VersionState::PrepareSave(a.state);
    if (!ready) return mln::cli::ReportAndExitCode(kProg, ready);
  }
  std::unique_ptr<mln::cli::Output> out;
  if (!check) {
    auto o = mln::cli::Output::Open(a.common.output, a.common.force);
    if (!o) return mln::cli::ReportAndExitCode(kProg, mln::Fail(o.error()));
    out = std::move(*o);
  }
  mln::cli::Progress progress(kProg, a.common);
  mln::verify::CheckOptions options{a.common.threads, out ? &out->sink() : nullptr,
                                    progress.observer()};
  auto report = mln::verify::CheckStream(**in, options);
  progress.Finish();
  mln::Result<void> done = report ? mln::Result<void>() : mln::Fail(report.error());
  std::optional<mln::verify::Manifest> accepted;
  if (done && !policy.trusted.empty()) {
    auto m = mln::verify::EvaluateTrust(*report, policy, state ? &*state : nullptr);
    if (m) accepted = *m;
    else done = mln::Fail(std::move(m).error().WithFile((*in)->name()));
  }
  // The output is released, then the state recorded, only once everything passed. A check
  // (--check, or a terminal for stdout) installs nothing, so it records nothing: recorded,
  // its version would refuse the install that follows it.
  if (done && out) done = out->Commit();
  if (done && state && out) {
    state->Set(accepted->name, accepted->version);
    done = state->Save(a.state);
  }
  if (done && a.common.verbose && !a.common.quiet) {
    std::string what = accepted ? ", '" + accepted->name + "' version " +
                                      std::to_string(accepted->version) + " trusted"
                                : "";
    std::fprintf(stderr, "%s: %s: ok: %llu frames, %zu signature(s), sha256 %s%s\n", kProg,
                 (*in)->name().c_str(), static_cast<unsigned long long>(report->frames),
                 report->signatures.size(), mln::crypto::ToHex(report->stream_sha256).c_str(),
                 what.c_str());
  }
  return mln::cli::ReportAndExitCode(kProg, done);
}

int Main(int argc, char** argv) {
  // --version names the release to sign; alone, with nothing to sign, it can only be the
  // question every other filter answers.
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    std::printf("%s %s\n", kProg, mln::cli::VersionString().c_str());
    return mln::cli::kExitOk;
  }
  VerifyArgs a;
  CLI::App app("Check an mln stream (checksums, trailer, signatures, version policy) and pass "
               "it through unchanged; sign streams; print or check file SHA-256 digests.",
               kProg);
  app.add_option("input", a.inputs, "Stream or file; '-' or none reads stdin");
  mln::cli::AddCommonOptions(app, a.common);
  // --version names the release to sign (issue 7), so the program version is -V only.
  app.set_version_flag("-V", mln::cli::VersionString(), "Print the program version and exit");
  a.opt["check"] = app.add_flag("--check", a.check, "Only check; write nothing");
  a.opt["sha256"] = app.add_option("--sha256", a.sha256,
                                   "Exit 1 unless the file's SHA-256 is HEX");
  a.opt["print"] = app.add_flag("--print", a.print, "Print SHA-256 digests like sha256sum");
  a.opt["json"] = app.add_flag("--json", a.json, "With --print: one JSON object per file");
  a.opt["sign"] = app.add_option("--sign", a.sign_keys,
                                 "Sign with this Ed25519 private key (PEM); one key per --sign, repeat it for more")
                      ->allow_extra_args(false)->take_all()->type_name("PEM");
  a.opt["name"] = app.add_option("--name", a.name,
                                 "Model name to sign; when verifying, the name required");
  a.opt["version"] = app.add_option("--version", a.version,
                                    "Release number to sign (-V prints the program version)");
  a.opt["expires"] = app.add_option("--expires", a.expires_days,
                                    "Signed manifest expires DAYS from now")
                         ->check(CLI::Range(uint64_t{1}, uint64_t{36500}));
  a.opt["expires-at"] = app.add_option("--expires-at", a.expires_at,
                                       "Signed manifest expires at EPOCH seconds")
                            ->check(CLI::NonNegativeNumber);
  a.opt["pubkey"] = app.add_option("--pubkey", a.pubkeys,
                                   "Trust this Ed25519 public key (PEM); one key per --pubkey, repeat it for more")
                        ->allow_extra_args(false)->take_all()->type_name("PEM");
  a.opt["threshold"] = app.add_option("--threshold", a.threshold,
                                      "Valid signatures by distinct trusted keys needed (1)");
  a.opt["state"] = app.add_option("--state", a.state,
                                  "Refuse versions not newer than recorded in FILE; record");
  a.opt["allow-downgrade"] = app.add_flag("--allow-downgrade", a.allow_downgrade,
                                          "Accept a version not newer than --state records");
  a.opt["min-version"] = app.add_option("--min-version", a.min_version,
                                        "Refuse signed versions below N");
  a.opt["output"] = app.get_option("--output");
  if (auto code = mln::cli::ParseArgs(app, argc, argv)) return *code;
  if (auto ok = Validate(a); !ok) {
    return mln::cli::ReportAndExitCode(kProg, ok);
  }
  auto threads = mln::cli::LimitThreads(a.common.threads);
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (a.print || a.Given("sha256")) return RunDigest(a);
  if (a.Given("sign")) return RunSign(a, now);
  return RunVerify(a, now);
}

}  // namespace

int main(int argc, char** argv) {
  return mln::cli::RunMain(kProg, [&] { return Main(argc, argv); });
}
