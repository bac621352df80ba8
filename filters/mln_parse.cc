// mln-parse: model file -> mln stream.
#include <cstdio>

#include "libstream/cli/exit.h"
#include "libstream/cli/io.h"
#include "libstream/cli/options.h"
#include "libstream/cli/progress.h"
#include "libstream/cli/run.h"
#include "libstream/formats/container.h"
#include "libstream/formats/convert.h"
#include "libstream/formats/format.h"

namespace {

struct ParseArgs {
  mln::cli::CommonArgs common;
  std::string input;
  std::string format;
  std::string chunk_size = "4M";
  std::string member;
  bool list = false;
};

// --list: one line per archive member, "name<TAB>size<TAB>format" ("-" when unknown).
int ListMembers(const char* prog, mln::ByteSource& in) {
  auto members = mln::formats::ListArchive(in);
  if (!members) return mln::cli::ReportAndExitCode(prog, mln::Fail(members.error()));
  for (const auto& m : *members) {
    std::printf("%s\t%s\t%s\n", m.name.c_str(),
                m.size ? std::to_string(*m.size).c_str() : "-",
                m.format.empty() ? "-" : m.format.c_str());
  }
  return mln::cli::ReportAndExitCode(prog, mln::Result<void>{});
}

int Main(int argc, char** argv) {
  constexpr const char* kProg = "mln-parse";
  ParseArgs args;
  CLI::App app("Read a model file (" + mln::formats::FormatNames() +
                   ") and write it as an mln stream.",
               kProg);
  app.add_option("input", args.input, "Model file; '-' or none reads stdin");
  app.add_option("--format", args.format,
                 "Skip detection and read this format (also -f FORMAT: -f followed by a "
                 "format name; a bare -f is --force)");
  app.add_option("--chunk-size", args.chunk_size,
                 "Largest payload per frame; tensors are split into chunks (K, M, G)");
  app.add_option("--member", args.member,
                 "Read this member of a tar or zip input (default: the only model in it)");
  app.add_flag("--list", args.list,
               "List the members of a tar or zip input (name, size, format) and exit");
  mln::cli::AddCommonOptions(app, args.common);
  std::vector<char*> spelled = mln::cli::SpellFormatShortOption(
      argc, argv, [](std::string_view word) { return mln::formats::FindFormat(word) != nullptr; });
  if (auto code = mln::cli::ParseArgs(app, argc, spelled.data())) return *code;

  auto chunk = mln::cli::ParseSize(args.chunk_size);
  if (chunk && (*chunk == 0 || *chunk > (64u << 20))) {
    chunk = mln::Fail(mln::Errc::kUsage, "--chunk-size must be between 1 byte and 64M");
  }
  if (!chunk) return mln::cli::ReportAndExitCode(kProg, mln::Fail(chunk.error()));
  auto threads = mln::cli::LimitThreads(args.common.threads);

  auto in = mln::cli::OpenInput(args.input);
  if (!in) return mln::cli::ReportAndExitCode(kProg, mln::Fail(in.error()));
  if (args.list) return ListMembers(kProg, **in);
  auto out = mln::cli::Output::Open(args.common.output, args.common.force);
  if (!out) return mln::cli::ReportAndExitCode(kProg, mln::Fail(out.error()));

  mln::formats::ParseOptions options;
  options.chunk_size = *chunk;
  mln::cli::Progress progress(kProg, args.common);
  options.progress = progress.observer();
  auto stats =
      mln::formats::ParseToStream(**in, (*out)->sink(), args.format, options, args.member);
  progress.Finish();
  mln::Result<void> done = stats ? (*out)->Commit() : mln::Fail(stats.error());
  if (done && args.common.verbose && !args.common.quiet) {
    std::fprintf(stderr, "%s: %s: %llu bytes -> %llu frames, %llu bytes\n", kProg,
                 (*in)->name().c_str(), static_cast<unsigned long long>(stats->bytes_in),
                 static_cast<unsigned long long>(stats->frames),
                 static_cast<unsigned long long>(stats->bytes_out));
  }
  return mln::cli::ReportAndExitCode(kProg, done);
}

}  // namespace

int main(int argc, char** argv) {
  return mln::cli::RunMain("mln-parse", [&] { return Main(argc, argv); });
}
