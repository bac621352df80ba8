#include "libstream/cli/io.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "libstream/base/signal_cleanup.h"

namespace mln::cli {
namespace {

std::string ErrnoText() { return std::strerror(errno); }

// ".NAME.mln-" beside `path`: the prefix of its temporary files.
std::string TemporaryName(const std::string& path) {
  return DirName(path) + "/." + BaseName(path) + ".mln-";
}

}  // namespace

Result<void> Output::NameTemporary() {
  // linkat cannot replace a file, so the nameless file gets a temporary name first, which
  // rename(2) then moves over the target. Only this short step can leave a name behind.
  const std::string proc = "/proc/self/fd/" + std::to_string(fd_);
  for (int attempt = 0; attempt < 100; ++attempt) {
    uint64_t r = 0;
    if (::getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) r ^= ::getpid() + attempt;
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, "%06llx", static_cast<unsigned long long>(r & 0xffffff));
    std::string name = TemporaryName(path_) + suffix;
    if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
      tmp_path_ = std::move(name);
      signal_slot_ = RemoveOnSignal(tmp_path_);
      return {};
    }
    if (errno != EEXIST) break;
  }
  return Fail(Error{Errc::kCantCreate, "cannot name the finished file beside it: " + ErrnoText(), name_});
}

Result<std::unique_ptr<ByteSource>> OpenInput(const std::string& path) {
  if (IsStdio(path)) {
    // As zstd: a terminal holds no model, and a filter waiting on it looks hung.
    if (isatty(STDIN_FILENO)) {
      return Fail(Error{Errc::kUsage,
                        "is a terminal: give a file, or pipe a model or stream in",
                        "<stdin>"});
    }
    return MakeFdSource(STDIN_FILENO, "<stdin>", false);
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Fail(Error{Errc::kNoInput, "cannot open: " + ErrnoText(), path});
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    return Fail(Error{Errc::kNoInput, "is a directory", path});
  }
  return MakeFdSource(fd, path, true);
}

Result<std::unique_ptr<Output>> Output::Open(const std::string& path, bool force, bool binary) {
  std::unique_ptr<Output> out(new Output());
  if (IsStdio(path)) {
    if (binary && !force && isatty(STDOUT_FILENO)) {
      return Fail(Error{Errc::kUsage,
                        "refusing to write binary data to a terminal (use -o FILE, a pipe, or -f)",
                        "<stdout>"});
    }
    out->name_ = "<stdout>";
    out->fd_ = STDOUT_FILENO;
    out->sink_ = MakeFdSink(STDOUT_FILENO, out->name_);
    return out;
  }
  out->name_ = path;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return Fail(Error{Errc::kCantCreate, "is a directory", path});
  }
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    // A device or a FIFO (-o /dev/null, -o /dev/stdout): write to it as it is. Renaming a
    // temporary file over it would replace the device node itself.
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Fail(Error{Errc::kCantCreate, "cannot open: " + ErrnoText(), path});
    out->fd_ = fd;
    out->device_ = true;
    out->sink_ = MakeFdSink(fd, path);
    return out;
  }
  // A symbolic link is written through, as open(2) would, not replaced by a file:
  // mln-apply --in-place current.tflite, with current.tflite -> releases/v1.tflite, has to
  // update the model, not turn the link into a copy beside it. A dangling link is replaced.
  out->path_ = path;
  struct stat link;
  if (::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
    if (char* real = ::realpath(path.c_str(), nullptr)) {
      out->path_ = real;
      std::free(real);
    }
  }
  mode_t mask = umask(0);
  umask(mask);
  // Written nameless where the file system allows (O_TMPFILE), in the target's directory so
  // that rename(2) is atomic, and named only at Commit: a process killed by SIGKILL, the OOM
  // killer or a power cut leaves nothing behind, where a named temporary file stayed for
  // good (one per killed mln-apply on an edge device). Linking it needs /proc.
  int fd = -1;
#ifdef O_TMPFILE
  if (::access("/proc/self/fd", X_OK) == 0) {
    fd = ::open(DirName(out->path_).c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666 & ~mask);
  }
#endif
  if (fd >= 0) {
    out->nameless_ = true;
  } else {
    // Elsewhere a named one, hidden so that it never looks like the real output; a signal
    // that ends the run removes it.
    std::string tmpl = TemporaryName(out->path_) + "XXXXXX";
    fd = mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd < 0) {
      return Fail(Error{Errc::kCantCreate, "cannot create a temporary file beside it: " + ErrnoText(), path});
    }
    out->tmp_path_ = tmpl;
    out->signal_slot_ = RemoveOnSignal(tmpl);
  }
  fchmod(fd, 0666 & ~mask);
  out->fd_ = fd;
  // Commit fsyncs the file before it renames it. Direct writes (or, where the filesystem
  // refuses them, writeback hints) get the bytes to disk while the filter still computes,
  // instead of all at fsync (a 1 GiB mln-apply once waited ~0.8 s for it at the end).
  out->sink_ = MakeFileSink(fd, path);
  return out;
}

Result<void> Output::Commit() {
  if (committed_) return {};
  if (auto ok = sink_->Flush(); !ok) return Fail(std::move(ok).error().WithFile(name_));
  if (path_.empty()) {
    committed_ = true;
    return {};
  }
  if (set_times_) ::futimens(fd_, times_);  // after the last write, which would move them
  if (::fsync(fd_) != 0) return Fail(Error{Errc::kIo, "fsync failed: " + ErrnoText(), name_});
  if (nameless_) MLN_RETURN_IF_ERROR(NameTemporary());
  if (::close(fd_) != 0) {
    fd_ = -1;
    return Fail(Error{Errc::kIo, "close failed: " + ErrnoText(), name_});
  }
  fd_ = -1;
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    return Fail(Error{Errc::kCantCreate, "cannot rename into place: " + ErrnoText(), name_});
  }
  committed_ = true;
  ForgetOnSignal(signal_slot_);  // after the rename: until then a signal removes the temporary
  signal_slot_ = -1;
  // Make the rename itself durable.
  int dir = ::open(DirName(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

void Output::SetMode(unsigned mode) {
  if (!path_.empty() && fd_ >= 0) fchmod(fd_, static_cast<mode_t>(mode));
}

void Output::KeepAttributesOf(const std::string& source) {
  struct stat st;
  if (path_.empty() || IsStdio(source) || ::stat(source.c_str(), &st) != 0 ||
      !S_ISREG(st.st_mode)) {
    return;
  }
  SetMode(st.st_mode & 07777);
  times_[0] = st.st_atim;
  times_[1] = st.st_mtim;
  set_times_ = true;
}

Output::~Output() {
  if (device_ && fd_ >= 0) ::close(fd_);
  if (!path_.empty()) {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_ && !tmp_path_.empty()) ::unlink(tmp_path_.c_str());
    ForgetOnSignal(signal_slot_);
  }
}

}  // namespace mln::cli
