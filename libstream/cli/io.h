// Opening inputs and outputs the way every filter does: "-" or nothing is stdin/stdout,
// binary never goes to a terminal without -f, and -o FILE appears only when complete.
#pragma once

#include <time.h>

#include <memory>
#include <string>

#include "libstream/base/byte_io.h"
#include "libstream/base/status.h"

namespace mln::cli {

/// True for "" and "-".
inline bool IsStdio(const std::string& path) { return path.empty() || path == "-"; }

/// Opens a file, or stdin for "" / "-" (named "<stdin>" in messages). Missing or
/// unreadable files fail with Errc::kNoInput, a terminal on stdin with Errc::kUsage.
Result<std::unique_ptr<ByteSource>> OpenInput(const std::string& path);

/// An output that becomes visible only on Commit(). For a path, bytes go to a temporary
/// file in the same directory (nameless, O_TMPFILE, where the file system allows), which
/// Commit() fsyncs and renames over the path; destroying an uncommitted Output removes the
/// temporary, so a failed run leaves what was there. A SIGINT, SIGTERM or SIGHUP removes a
/// named one too before the process dies of the signal; a nameless one leaves nothing even
/// after SIGKILL or a power cut. An existing device or FIFO (/dev/null) is written
/// directly; a symbolic link is followed, and the file it names replaced.
class Output {
 public:
  /// `path` "" or "-" is stdout; with `binary`, a terminal is refused unless `force`.
  static Result<std::unique_ptr<Output>> Open(const std::string& path, bool force,
                                              bool binary = true);
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  ByteSink& sink() { return *sink_; }
  const std::string& name() const { return name_; }
  /// The file the output replaces at Commit (a symbolic link's target); empty for stdout
  /// or a device.
  const std::string& path() const { return path_; }
  /// Written in place: stdout, or an existing device or FIFO.
  bool is_device() const { return path_.empty(); }
  /// Flushes, fsyncs and renames into place (stdout: flushes).
  Result<void> Commit();
  /// Sets the permission bits the file will have (default: 0666 minus the umask).
  void SetMode(unsigned mode);
  /// Gives the file the permission bits and the access and modification times of `source`
  /// when that is a regular file, as zstd does for its outputs (the times are set at
  /// Commit, after the last write). Nothing for stdout or a device.
  void KeepAttributesOf(const std::string& source);

 private:
  Output() = default;
  Result<void> NameTemporary();

  std::string name_;      // what messages call it
  std::string path_;      // final path; empty for stdout
  std::string tmp_path_;  // temporary file while not committed (a nameless one: at Commit)
  bool nameless_ = false; // fd_ is an O_TMPFILE, named only at Commit
  int fd_ = -1;
  bool device_ = false;   // an existing device or FIFO, written in place
  int signal_slot_ = -1;  // where a signal handler finds tmp_path_ to remove it
  bool committed_ = false;
  bool set_times_ = false;
  struct timespec times_[2] = {};  // access, modification: for futimens at Commit
  std::unique_ptr<ByteSink> sink_;
};

}  // namespace mln::cli
