#include "libstream/cli/options.h"

#include <oneapi/tbb/global_control.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <string_view>

#include "libstream/cli/exit.h"

#ifndef MLN_VERSION
#define MLN_VERSION "0.0.0"
#endif

namespace mln::cli {

std::string VersionString() { return std::string("mln ") + MLN_VERSION + " (stream format 1.0)"; }

void AddCommonOptions(CLI::App& app, CommonArgs& args, bool with_output) {
  if (with_output) {
    app.add_option("-o,--output", args.output,
                   "Write to FILE (atomically: a temporary file renamed on success); "
                   "default or '-' is stdout");
  }
  app.add_flag("-f,--force", args.force, "Write binary output even to a terminal");
  app.add_flag("-q,--quiet", args.quiet, "Print nothing but errors");
  app.add_flag("-v,--verbose", args.verbose, "Print more detail on stderr (repeatable)");
  app.add_option("-T,--threads", args.threads, "Worker threads (0 = all cores)")
      ->check(CLI::Range(0u, 1024u));
  auto* progress = app.add_flag_callback(
      "--progress", [&args] { args.progress = ProgressMode::kAlways; },
      "Show progress on stderr even when it is not a terminal");
  app.add_flag_callback(
         "--no-progress", [&args] { args.progress = ProgressMode::kNever; },
         "Never show progress (default: only when stderr is a terminal)")
      ->excludes(progress);
  app.set_version_flag("-V,--version", VersionString(), "Print the version and exit");
}

std::vector<char*> SpellFormatShortOption(int argc, char** argv,
                                          const std::function<bool(std::string_view)>& is_format) {
  // The issue spells the option `-f FORMAT`, but -f is --force in every filter (zstd's
  // habit), so the word after it decides. A file named like a format stays reachable as
  // ./gguf. Only options before `--` are looked at.
  static char kFormat[] = "--format";
  std::vector<char*> out(argv, argv + argc);
  for (int i = 1; i + 1 < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "-f" && is_format(argv[i + 1])) out[i] = kFormat;
  }
  out.push_back(nullptr);
  return out;
}

SpelledArgs SpellLevelShorthand(const CLI::App& app, int argc, char** argv) {
  // Without this, CLI11 takes `-19` for a negative number, so a positional: an input file
  // named "-19", and a message about it rather than level 19.
  auto takes_value = [&app](std::string_view arg) {
    // A group of short flags takes a value when its last letter does (-fo FILE is -f -o FILE).
    std::string_view last_short;
    if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-' &&
        std::all_of(arg.begin() + 1, arg.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); })) {
      last_short = arg.substr(arg.size() - 1);
    }
    for (const CLI::Option* o : app.get_options()) {
      if (o->get_expected_max() == 0) continue;  // a flag
      for (const std::string& n : o->get_snames()) {
        if (n == last_short) return true;
      }
      for (const std::string& n : o->get_lnames()) {
        if (arg == "--" + n) return true;
      }
    }
    return false;
  };
  SpelledArgs out;
  out.words.assign(argv, argv + argc);
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") options_done = true;
    if (options_done || arg.size() < 2 || arg[0] != '-') continue;
    if (arg.find_first_not_of("0123456789", 1) != std::string_view::npos) continue;
    if (takes_value(argv[i - 1])) continue;
    out.words[i] = "--level=" + std::string(arg.substr(1));
  }
  for (std::string& w : out.words) out.argv.push_back(w.data());
  out.argv.push_back(nullptr);
  return out;
}

std::optional<int> ParseArgs(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp& e) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::CallForVersion& e) {
    std::cout << app.get_name() << " " << e.what() << "\n";
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    // CLI11's own exit codes (100+) are not ours: every usage error is 64.
    std::cerr << app.get_name() << ": " << e.what() << "\nTry '" << app.get_name()
              << " --help' for more information.\n";
    return kExitUsage;
  }
  return std::nullopt;
}

Result<uint64_t> ParseSize(const std::string& text) {
  if (text.empty()) return Fail(Errc::kUsage, "empty size");
  size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &used);
  } catch (...) {
    return Fail(Errc::kUsage, "bad size '" + text + "'");
  }
  std::string unit = text.substr(used);
  unsigned shift = 0;
  if (unit.empty() || unit == "B") shift = 0;
  else if (unit == "K" || unit == "KiB" || unit == "k") shift = 10;
  else if (unit == "M" || unit == "MiB") shift = 20;
  else if (unit == "G" || unit == "GiB") shift = 30;
  else return Fail(Errc::kUsage, "bad size unit in '" + text + "' (use K, M or G)");
  if (shift != 0 && v > (~0ull >> shift)) return Fail(Errc::kUsage, "size '" + text + "' too large");
  return static_cast<uint64_t>(v) << shift;
}

std::shared_ptr<void> LimitThreads(unsigned threads) {
  if (threads == 0) return nullptr;
  return std::make_shared<oneapi::tbb::global_control>(
      oneapi::tbb::global_control::max_allowed_parallelism, threads);
}

}  // namespace mln::cli
