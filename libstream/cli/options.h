// Options every filter shares (-o, -f, -q, -v, -T, --[no-]progress, -V) and parsing helpers.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libstream/base/status.h"

namespace mln::cli {

/// --progress / --no-progress; the default draws progress only when stderr is a terminal.
enum class ProgressMode { kAuto, kAlways, kNever };

struct CommonArgs {
  std::string output;    ///< -o FILE; empty or "-" is stdout
  bool force = false;    ///< -f: write binary to a terminal
  bool quiet = false;    ///< -q: no diagnostics but errors
  int verbose = 0;       ///< -v, repeatable
  unsigned threads = 0;  ///< -T N; 0 = all cores
  ProgressMode progress = ProgressMode::kAuto;  ///< cli/progress.h
};

/// Adds -f, -q, -v, -T, --progress, --no-progress and -V/--version; -o/--output too when
/// `with_output`.
void AddCommonOptions(CLI::App& app, CommonArgs& args, bool with_output = true);

/// Parses argv. Returns an exit code when the program should stop now: 0 after --help or
/// --version (printed on stdout), 64 after a usage error (message and a hint on stderr).
std::optional<int> ParseArgs(CLI::App& app, int argc, char** argv);

/// mln-parse's `-f FORMAT`: returns argv with every `-f` that is followed by a word
/// `is_format` accepts spelled `--format`, so `-f onnx` forces the format while a bare `-f`
/// (or `-f model.bin`) keeps meaning --force, as in every other filter.
std::vector<char*> SpellFormatShortOption(int argc, char** argv,
                                          const std::function<bool(std::string_view)>& is_format);

/// argv with zstd's level shorthand spelled out: each `-N` (digits only, before `--`, and
/// not the value of an option of `app` that takes one, as in `-o -19`) becomes
/// `--level=N`, so `mln-compress -19 model.gguf` does what `zstd -19` does. The returned
/// pointers live as long as the returned object.
struct SpelledArgs {
  std::vector<std::string> words;
  std::vector<char*> argv;  ///< argc entries, then a null
};
SpelledArgs SpellLevelShorthand(const CLI::App& app, int argc, char** argv);

/// Parses "4M", "64K", "1G" or plain bytes (binary units).
Result<uint64_t> ParseSize(const std::string& text);

/// Caps oneTBB at `threads` workers for the lifetime of the returned object (0 = all cores).
std::shared_ptr<void> LimitThreads(unsigned threads);

/// "mln 0.1.0 (stream format 1.0)".
std::string VersionString();

}  // namespace mln::cli
