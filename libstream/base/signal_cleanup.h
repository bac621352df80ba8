// Temporary files to remove if a signal ends the process (Ctrl-C, kill, hang-up), so an
// interrupted run leaves no hidden partial file behind: cli::Output's temporary and the
// ONNX external data files mln-emit writes beside the model.
#pragma once

#include <string>

namespace mln {

/// Registers `path` for removal if SIGINT, SIGTERM or SIGHUP ends the process (installing
/// the handlers on first use, except for a signal ignored from the start, which stays
/// ignored); returns its slot, or -1 when every slot is taken, in which case the file is
/// only removed by its owner on a normal failure.
int RemoveOnSignal(const std::string& path);

/// Forgets a slot once its file was renamed into place or removed; -1 is ignored.
void ForgetOnSignal(int slot);

}  // namespace mln
