// mln-inspect: summarise model files and mln streams.
#include <algorithm>
#include <cstdio>

#include "libstream/cli/exit.h"
#include "libstream/cli/io.h"
#include "libstream/cli/options.h"
#include "libstream/cli/run.h"
#include "libstream/inspect/inspect.h"

namespace {

struct InspectArgs {
  mln::cli::CommonArgs common;
  std::vector<std::string> inputs;
  bool json = false;
};

int Main(int argc, char** argv) {
  constexpr const char* kProg = "mln-inspect";
  InspectArgs args;
  CLI::App app("List the header, metadata and tensors of model files or mln streams.", kProg);
  app.add_option("inputs", args.inputs, "Model or stream files; '-' or none reads stdin");
  app.add_flag("--json", args.json, "Print JSON (one document per input) instead of a table");
  mln::cli::AddCommonOptions(app, args.common, /*with_output=*/false);
  if (auto code = mln::cli::ParseArgs(app, argc, argv)) return *code;
  if (args.inputs.empty()) args.inputs.push_back("-");
  auto threads = mln::cli::LimitThreads(args.common.threads);

  // Like zstd -l: carry on after a bad input and return the worst status.
  int worst = 0;
  bool first = true;
  for (const auto& path : args.inputs) {
    auto in = mln::cli::OpenInput(path);
    mln::Result<void> status;
    if (!in) {
      status = mln::Fail(in.error());
    } else if (auto report = mln::inspect::Inspect(**in); !report) {
      status = mln::Fail(report.error());
    } else {
      std::string text = args.json ? mln::inspect::RenderJson(*report)
                                   : mln::inspect::RenderTable(*report, args.common.verbose > 0);
      if (!first && !args.json) std::fputs("\n", stdout);
      std::fputs(text.c_str(), stdout);
      first = false;
    }
    worst = std::max(worst, mln::cli::ReportAndExitCode(kProg, status));
  }
  return worst;  // cli::RunMain flushes stdout: a failed write there is exit code 74
}

}  // namespace

int main(int argc, char** argv) {
  return mln::cli::RunMain("mln-inspect", [&] { return Main(argc, argv); });
}
