// Exit codes shared by every filter (sysexits.h style; man pages list them).
#pragma once

#include <string_view>

#include "libstream/base/status.h"

namespace mln::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRejected = 1;  ///< a clean "no", as cmp(1) gives one
inline constexpr int kExitUsage = 64;
inline constexpr int kExitDataErr = 65;
inline constexpr int kExitNoInput = 66;
inline constexpr int kExitUnavailable = 69;
inline constexpr int kExitSoftware = 70;
inline constexpr int kExitOsErr = 71;
inline constexpr int kExitCantCreate = 73;
inline constexpr int kExitIoErr = 74;

/// The one exit code for each error class.
int ExitCodeFor(Errc code);

/// Prints "prog: <error>" on stderr and returns its exit code; returns 0 for success.
int ReportAndExitCode(std::string_view prog, const Result<void>& result);
/// Prints "prog: <error>" on stderr.
void ReportError(std::string_view prog, const Error& error);

}  // namespace mln::cli
