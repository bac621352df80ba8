// The frame every filter's main() runs in.
#pragma once

#include <functional>

namespace mln::cli {

/// Runs `body` and owns the last-resort catch: std::bad_alloc -> 71, anything else -> 70
/// ("internal error"). SIGPIPE keeps its default, so a filter whose reader went away dies
/// quietly, as cat does. SIGXFSZ is ignored, so exceeding `ulimit -f` is a write error.
/// A closed stdin, stdout or stderr is held on /dev/null, opened so that using it fails
/// (no file opened later takes its number); text printed through stdio is flushed at the
/// end, and a failed write there is exit code 74.
int RunMain(const char* prog, const std::function<int()>& body);

}  // namespace mln::cli
