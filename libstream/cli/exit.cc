#include "libstream/cli/exit.h"

#include <cstdio>
#include <string>

namespace mln::cli {

int ExitCodeFor(Errc code) {
  switch (code) {
    case Errc::kRejected: return kExitRejected;
    case Errc::kUsage: return kExitUsage;
    case Errc::kBadData: return kExitDataErr;
    case Errc::kNoInput: return kExitNoInput;
    case Errc::kUnsupported: return kExitUnavailable;
    case Errc::kInternal: return kExitSoftware;
    case Errc::kOs: return kExitOsErr;
    case Errc::kCantCreate: return kExitCantCreate;
    case Errc::kIo: return kExitIoErr;
  }
  return kExitSoftware;
}

void ReportError(std::string_view prog, const Error& error) {
  std::string line = std::string(prog) + ": " + error.ToString() + "\n";
  std::fputs(line.c_str(), stderr);
}

int ReportAndExitCode(std::string_view prog, const Result<void>& result) {
  if (result) return kExitOk;
  ReportError(prog, result.error());
  return ExitCodeFor(result.error().code);
}

}  // namespace mln::cli
