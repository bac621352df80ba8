// The frame every filter's main() runs in.
#pragma once

#include <functional>

namespace mln::cli {

/// Runs `body` and owns the last-resort catch: std::bad_alloc -> 71, anything else -> 70
/// ("internal error"). SIGPIPE keeps its default, so a filter whose reader went away dies
/// quietly, as cat does. SIGXFSZ is ignored, so exceeding `ulimit -f` is a write error.
int RunMain(const char* prog, const std::function<int()>& body);

}  // namespace mln::cli
