// mln-compress: lossless per-frame compression of mln streams (and model files).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "libstream/cli/exit.h"
#include "libstream/cli/io.h"
#include "libstream/cli/options.h"
#include "libstream/cli/progress.h"
#include "libstream/cli/run.h"
#include "libstream/codecs/compress_stream.h"

namespace {

constexpr const char* kProg = "mln-compress";
constexpr const char* kSuffix = ".mlnz";

struct CompressArgs {
  mln::cli::CommonArgs common;
  std::vector<std::string> inputs;
  bool decompress = false;
  bool to_stdout = false;
  bool test = false;
  bool remove_source = false;
  int level = 0;  // 0: each codec's own default
  std::string codec;
};

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() > tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// zstd's habit: `mln-compress m.gguf` writes m.gguf.mlnz; `-d m.gguf.mlnz` writes m.gguf;
// -c writes to stdout instead.
mln::Result<std::string> DefaultOutput(const CompressArgs& a, const std::string& input) {
  if (a.to_stdout) return std::string("-");
  if (!a.common.output.empty() || mln::cli::IsStdio(input)) return a.common.output;
  std::string out;
  if (!a.decompress) {
    out = input + kSuffix;
  } else if (EndsWith(input, kSuffix)) {
    out = input.substr(0, input.size() - 5);
  } else {
    return mln::Fail(mln::Error{mln::Errc::kUsage, "unknown suffix (expected .mlnz); use -o FILE",
                                input});
  }
  struct stat st;
  if (!a.common.force && ::stat(out.c_str(), &st) == 0) {
    return mln::Fail(mln::Error{mln::Errc::kCantCreate, "already exists; use -f to overwrite", out});
  }
  return out;
}

// What -d writes from `input`: from a FILE.mlnz, the model file it carries, unless the name
// without .mlnz says it was a stream (FILE.mlns, a patch FILE.mlnp, FILE.mln) or it holds no
// model (a patch): that comes back as a stream, as it went in. Anything else (stdin, -o
// from another name) is a stream filter's input and gives a stream.
mln::codecs::Decompressed DecompressTarget(const std::string& input) {
  using mln::codecs::Decompressed;
  if (!EndsWith(input, kSuffix)) return Decompressed::kStream;
  const std::string was = input.substr(0, input.size() - 5);
  for (const char* stream_suffix : {".mlns", ".mlnp", ".mln"}) {
    if (EndsWith(was, stream_suffix)) return Decompressed::kStream;
  }
  return Decompressed::kModelIfAny;
}

// --rm, once the output is committed (synced and renamed into place): removes the input,
// unless it is the output itself.
mln::Result<void> RemoveSource(const std::string& input, const std::string& output) {
  struct stat in_st, out_st;
  if (::stat(input.c_str(), &in_st) == 0 && ::stat(output.c_str(), &out_st) == 0 &&
      in_st.st_dev == out_st.st_dev && in_st.st_ino == out_st.st_ino) {
    return mln::Fail(mln::Error{mln::Errc::kUsage, "--rm: the output is the input; kept", input});
  }
  if (::unlink(input.c_str()) != 0) {
    return mln::Fail(mln::Error{mln::Errc::kIo, std::string("--rm: cannot remove: ") +
                                                    std::strerror(errno), input});
  }
  return {};
}

// zstd's -t: decodes one input as -d does, checking every payload, and writes nothing.
int TestOne(const CompressArgs& args, const std::string& input) {
  auto in = mln::cli::OpenInput(input);
  if (!in) return mln::cli::ReportAndExitCode(kProg, mln::Fail(in.error()));
  auto discard = mln::MakeDiscardSink("(test)");
  mln::cli::Progress progress(kProg, args.common);
  // What -d would write: the model file from a FILE.mlnz (its layout rebuilt), else a stream.
  // ONNX external data files are checked as every frame is, and written nowhere.
  auto stats = mln::codecs::DecompressStream(**in, *discard, DecompressTarget(input),
                                             progress.observer(), {.skip_external = true});
  progress.Finish();
  if (stats && args.common.verbose && !args.common.quiet) {
    std::fprintf(stderr, "%s: %s: OK, %llu frames, %llu payload bytes\n", kProg,
                 (*in)->name().c_str(), static_cast<unsigned long long>(stats->frames),
                 static_cast<unsigned long long>(stats->raw_bytes));
  }
  return mln::cli::ReportAndExitCode(kProg, stats ? mln::Result<void>{} : mln::Fail(stats.error()));
}

// Compresses (or with -d decompresses) one input to its output; returns its exit status,
// having reported a failure on stderr.
int CompressOne(const CompressArgs& args, const std::string& input,
                const mln::codecs::EncodeOptions& encode) {
  if (args.test) return TestOne(args, input);
  auto output = DefaultOutput(args, input);
  if (!output) return mln::cli::ReportAndExitCode(kProg, mln::Fail(output.error()));
  if (args.remove_source && (mln::cli::IsStdio(input) || mln::cli::IsStdio(*output))) {
    return mln::cli::ReportAndExitCode(
        kProg, mln::Fail(mln::Errc::kUsage, "--rm needs an input file and an output file"));
  }
  auto in = mln::cli::OpenInput(input);
  if (!in) return mln::cli::ReportAndExitCode(kProg, mln::Fail(in.error()));
  auto out = mln::cli::Output::Open(*output, args.common.force);
  if (!out) return mln::cli::ReportAndExitCode(kProg, mln::Fail(out.error()));
  // zstd's habit: the output keeps the input's permission bits and times, so a private
  // model stays private once compressed (and its input removed with --rm).
  (*out)->KeepAttributesOf(input);

  // An ONNX model's external data files go beside a model file written to a named file, as
  // mln-emit -o writes them (to stdout they cannot: that is refused).
  std::unique_ptr<mln::formats::DirExternalWriter> external;
  mln::formats::LayoutOptions layout;
  if (args.decompress && !mln::cli::IsStdio(*output) && !(*out)->is_device()) {
    // Beside the file written (a link's target, where the model lands), not the link.
    const std::string& model = (*out)->path();
    auto made = mln::formats::DirExternalWriter::Create(mln::DirName(model), model);
    if (!made) return mln::cli::ReportAndExitCode(kProg, mln::Fail(made.error()));
    external = std::move(*made);
    layout.external = external.get();
  }
  mln::cli::Progress progress(kProg, args.common);
  auto stats = args.decompress ? mln::codecs::DecompressStream(**in, (*out)->sink(),
                                                               DecompressTarget(input),
                                                               progress.observer(), layout)
                               : mln::codecs::CompressStream(**in, (*out)->sink(), encode,
                                                             progress.observer());
  progress.Finish();
  // Data files first: the model that names them appears only once they are all in place.
  mln::Result<void> done = stats ? (external ? external->Commit() : mln::Result<void>{})
                                 : mln::Fail(stats.error());
  if (done) done = (*out)->Commit();
  if (done && !args.decompress && stats->signatures > 0 && !args.common.quiet) {
    // Not an error: -d gives the signed bytes back. But shipped as it is, it fails mln-verify.
    std::fprintf(stderr,
                 "%s: %s: warning: the stream is signed, and its signatures cover the bytes "
                 "before compression: they verify again only after -d (to ship it compressed, "
                 "compress first, then sign)\n",
                 kProg, (*in)->name().c_str());
  }
  if (done && args.remove_source) done = RemoveSource(input, *output);
  if (done && args.common.verbose && !args.common.quiet) {
    const auto& s = *stats;
    double ratio = s.raw_bytes ? 100.0 * s.stored_bytes / s.raw_bytes : 100.0;
    std::fprintf(stderr, "%s: %s: %llu -> %llu bytes (%.2f%%), payloads %.2f%%, %.0f MB/s\n", kProg,
                 (*in)->name().c_str(), static_cast<unsigned long long>(s.in_bytes),
                 static_cast<unsigned long long>(s.out_bytes),
                 s.in_bytes ? 100.0 * s.out_bytes / s.in_bytes : 100.0, ratio,
                 s.seconds > 0 ? s.raw_bytes / s.seconds / 1e6 : 0.0);
  }
  return mln::cli::ReportAndExitCode(kProg, done);
}

int Main(int argc, char** argv) {
  CompressArgs args;
  CLI::App app("Compress the payloads of an mln stream (or a model file) losslessly, per frame; "
               "-d restores them.", kProg);
  app.add_option("input", args.inputs,
                 "Streams or model files, each to its own output as zstd does; '-' or none "
                 "reads stdin");
  app.add_flag("-d,--decompress", args.decompress,
               "Decompress; from a FILE.mlnz, write the model file itself (a FILE.mlns.mlnz, FILE.mlnp.mlnz or a patch: the stream)");
  CLI::Option* to_stdout = app.add_flag(
      "-c,--stdout", args.to_stdout,
      "Write to stdout rather than FILE.mlnz or the model file (zstd's -c; with -d on a "
      "FILE.mlnz, the model file's bytes)");
  CLI::Option* test = app.add_flag(
      "-t,--test", args.test,
      "Check each input as -d would (every payload decoded, every checksum), writing nothing "
      "(zstd's -t; mln-verify also checks the stream digest and signatures)");
  test->excludes(to_stdout);
  CLI::Option* remove_source = app.add_flag(
      "--rm", args.remove_source,
      "Remove each input file once its output is complete and synced (zstd's --rm)");
  remove_source->excludes(to_stdout)->excludes(test);
  bool keep = false;  // zstd's -k: inputs are kept unless --rm
  app.add_flag("-k,--keep", keep, "Keep the input files (the default; zstd's -k)")
      ->excludes(remove_source);
  app.add_option("-l,--level", args.level,
                 "zstd level of the entropy stage, -N for short as in zstd (default: 1 for byte planes and fields, 3 for "
                 "zstd, 9 for bundles; from 10, gains under 1/32 are coded too; from 16, float "
                 "byte planes also try a context model: smaller, decodes at xz-like speed)")
      ->check(CLI::Range(1, 19))
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // zstd's habit: the last wins
  app.add_option("--codec", args.codec, "Force a codec: raw, zstd, byteplane, fields, palette, bitmap (default: chosen per frame)");
  mln::cli::AddCommonOptions(app, args.common);
  // zstd's naming, not a stream filter's stdout default.
  app.get_option("--output")->description(
      "Write to FILE (atomically: a temporary file renamed on success); default: INPUT.mlnz, "
      "or with -d INPUT without .mlnz, and stdout for stdin; '-' is stdout");
  app.get_option("--force")->description(
      "Overwrite an existing output file; write binary output even to a terminal");
  if (CLI::Option* output = app.get_option_no_throw("--output")) {
    to_stdout->excludes(output);
    test->excludes(output);
  }
  mln::cli::SpelledArgs spelled = mln::cli::SpellLevelShorthand(app, argc, argv);
  if (auto code = mln::cli::ParseArgs(app, argc, spelled.argv.data())) return *code;

  mln::codecs::EncodeOptions encode;
  encode.level = args.level;
  if (!args.codec.empty()) {
    encode.force = mln::codecs::ParseCodec(args.codec);
    if (!encode.force) {
      return mln::cli::ReportAndExitCode(
          kProg, mln::Fail(mln::Errc::kUsage, "unknown codec '" + args.codec +
                                                  "' (raw, zstd, byteplane, fields, palette, "
                                                  "bitmap)"));
    }
  }
  const bool several = args.inputs.size() > 1;
  if (args.inputs.empty()) args.inputs.push_back("-");
  if (several) {
    for (const std::string& input : args.inputs) {
      if (mln::cli::IsStdio(input)) {
        return mln::cli::ReportAndExitCode(
            kProg, mln::Fail(mln::Errc::kUsage, "stdin ('-') cannot be one of several inputs"));
      }
    }
    if (args.to_stdout || !args.common.output.empty()) {
      return mln::cli::ReportAndExitCode(
          kProg, mln::Fail(mln::Errc::kUsage,
                           "several inputs go to a file each: -c and -o take one input"));
    }
  }
  auto threads = mln::cli::LimitThreads(args.common.threads);
  // As zstd does, a failed input is reported and the others still run; the exit status is
  // the first failure's.
  int status = 0;
  for (const std::string& input : args.inputs) {
    const int code = CompressOne(args, input, encode);
    if (status == 0) status = code;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  return mln::cli::RunMain(kProg, [&] { return Main(argc, argv); });
}
