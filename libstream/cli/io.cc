#include "libstream/cli/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "libstream/base/signal_cleanup.h"

namespace mln::cli {
namespace {

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

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
  // Same directory as the target, so rename(2) is atomic; hidden so that a crash never
  // leaves something that looks like the real output.
  std::string tmpl = DirName(out->path_) + "/." + BaseName(out->path_) + ".mln-XXXXXX";
  int fd = mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) {
    return Fail(Error{Errc::kCantCreate, "cannot create a temporary file beside it: " + ErrnoText(), path});
  }
  mode_t mask = umask(0);
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  out->fd_ = fd;
  out->tmp_path_ = tmpl;
  out->signal_slot_ = RemoveOnSignal(tmpl);
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
