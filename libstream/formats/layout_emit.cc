#include "libstream/formats/layout_emit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "libstream/base/signal_cleanup.h"
#include "libstream/stream/background_writes.h"
#include "libstream/formats/onnx.h"

namespace mln::formats {

using stream::FrameKind;

namespace {

bool IsExternalPart(const stream::FrameHeader& h) {
  return h.format == "onnx" && h.Attr("onnx.part") == std::string_view(kOnnxExternalPart);
}

std::string ErrnoText() { return std::strerror(errno); }

// realpath(3) as a string; nullopt when the path does not resolve.
std::optional<std::string> RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

bool Inside(const std::string& real, const std::string& dir_real) {
  if (real == dir_real) return true;
  std::string prefix = dir_real == "/" ? "/" : dir_real + "/";
  return real.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

LayoutSink::LayoutSink(ByteSink& out, LayoutOptions options) : out_(out), options_(options) {
  if (options_.background) background_ = stream::BackgroundWrites::Start(nullptr);
}

LayoutSink::~LayoutSink() = default;

Result<void> LayoutSink::Put(stream::Frame frame) {
  ++frames_;
  // A write that already failed is the first error, before anything wrong with this frame.
  if (background_) MLN_RETURN_IF_ERROR(background_->Check());
  return Write(std::move(frame));
}

Result<void> LayoutSink::Write(stream::Frame frame) {
  const stream::FrameHeader& h = frame.header;
  if (h.Is(FrameKind::kSource)) {
    if (have_source_ && format_ == "onnx" && IsExternalPart(h)) {
      MLN_RETURN_IF_ERROR(EndFile());
      return StartExternal(h);
    }
    if (have_source_) {
      return Fail(Errc::kUnsupported, "stream holds more than one model; emit writes one file");
    }
    if (IsExternalPart(h)) {
      return Fail(Errc::kBadData, "external data file '" + h.name + "' before its model");
    }
    have_source_ = true;
    file_size_ = h.file_size;
    format_ = h.format;
    model_ = h.name;
    current_ = &out_;
    return {};
  }
  if (!h.Is(FrameKind::kBytes) && !h.Is(FrameKind::kTensor)) {
    if (h.Is(FrameKind::kPatch) || h.Is(FrameKind::kDelta)) saw_patch_ = true;
    ++skipped_;  // kinds from newer tools pass by (invariant 5)
    return {};
  }
  if (!have_source_) return Fail(Errc::kBadData, "model bytes before any source frame");
  if (auto ok = checker_.Check(h); !ok) {
    Error e = std::move(ok).error();
    if (!external_.empty()) e.message = "external data file '" + external_ + "': " + e.message;
    return Fail(std::move(e));
  }
  if (external_.empty() && h.Is(FrameKind::kTensor) && h.chunk_index == 0 &&
      h.Attr("onnx.external.carried") == std::string_view("false")) {
    ++uncarried_;
  }
  if (current_ == nullptr || frame.payload.empty()) return {};
  if (background_) {
    return background_->Push(
        {current_, {}, std::move(frame.payload), frames_ - 1, std::move(frame.header.name)});
  }
  return current_->Write(frame.payload.data(), frame.payload.size());
}

// Checks that the file just laid out is complete, and hands a data file back to its writer.
Result<void> LayoutSink::EndFile() {
  // Every byte of the file is written before it is checked, closed or passed on.
  if (background_) MLN_RETURN_IF_ERROR(background_->Drain());
  std::string what = external_.empty() ? "model" : "external data file '" + external_ + "'";
  MLN_RETURN_IF_ERROR(checker_.Finish());
  // file_size 0 means the parser read a pipe and could not know it.
  uint64_t end = checker_.file_position();
  if (file_size_ != 0 && end != file_size_) {
    return Fail(Errc::kBadData, what + " ends at byte " + std::to_string(end) +
                                    ", source file had " + std::to_string(file_size_));
  }
  if (external_open_) {
    external_open_ = false;
    MLN_RETURN_IF_ERROR(options_.external->Close());
  }
  return {};
}

Result<void> LayoutSink::StartExternal(const stream::FrameHeader& h) {
  auto location = h.Attr("onnx.external.location");
  if (!location || location->empty()) {
    return Fail(Errc::kBadData, "external data file '" + h.name + "' names no location");
  }
  external_ = std::string(*location);
  checker_ = stream::ChunkSequenceChecker();
  file_size_ = h.file_size;
  if (options_.external != nullptr) {
    MLN_TRY(current_, options_.external->Open(external_, h.file_size));
    external_open_ = true;
    ++external_written_;
  } else if (options_.skip_external) {
    current_ = nullptr;
    ++external_skipped_;
  } else {
    // Writing the model file alone would leave a model whose weights are elsewhere, which
    // for mln-diff and mln-apply would be a silently incomplete result.
    return Fail(Error{Errc::kUnsupported,
                      "has ONNX external data ('" + external_ +
                          "'): this tool writes a single file (mln-emit -o writes a model "
                          "with its data files)",
                      model_});
  }
  return {};
}

Result<void> LayoutSink::Finish() {
  if (!have_source_) {
    return Fail(Errc::kBadData, saw_patch_ ? "stream is a patch (mln-diff), not a model: apply it "
                                             "to its base with mln-apply BASE PATCH"
                                           : "stream holds no model (no source frame)");
  }
  MLN_RETURN_IF_ERROR(EndFile());
  background_.reset();  // drained by EndFile: its thread has nothing left to do
  return out_.Flush();
}

Result<std::unique_ptr<DirExternalWriter>> DirExternalWriter::Create(
    const std::string& dir, const std::string& model_path) {
  std::unique_ptr<DirExternalWriter> w(new DirExternalWriter);
  w->dir_ = dir;
  auto real = RealPath(dir);
  struct stat st;
  if (!real || ::stat(real->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Fail(Error{Errc::kCantCreate, "not a directory to write external data into", dir});
  }
  w->dir_real_ = *real;
  if (!model_path.empty()) {
    // The model's own temporary sits beside it, but its final name must not be a data file.
    if (auto mreal = RealPath(DirName(model_path))) {
      w->model_real_ = (*mreal == "/" ? "" : *mreal) + "/" + BaseName(model_path);
    }
  }
  return w;
}

DirExternalWriter::~DirExternalWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(open_tmp_.c_str());
    ForgetOnSignal(open_slot_);
  }
  if (committed_) return;
  for (const Written& f : written_) {
    ::unlink(f.tmp.c_str());
    ForgetOnSignal(f.signal_slot);
  }
  // Only the directories this run made, deepest first; rmdir leaves any that are not empty.
  for (auto it = made_dirs_.rbegin(); it != made_dirs_.rend(); ++it) ::rmdir(it->c_str());
}

// The resolved path `location` is written to, making missing directories on the way. Each
// directory is resolved before anything is made in it, so a symbolic link cannot lead a
// mkdir or the file itself out of dir_.
Result<std::string> DirExternalWriter::PlaceFor(const std::string& location) {
  std::string shown = dir_ + "/" + location;
  auto refuse = [&](const std::string& why) {
    return Fail(Error{Errc::kBadData, "external data location '" + location + "' refused: " + why,
                      shown});
  };
  if (location.empty() || location.find('\0') != std::string::npos) return refuse("not a file name");
  if (location.size() > kMaxOnnxLocationBytes) return refuse("too long");
  if (location[0] == '/') return refuse("absolute path");
  std::vector<std::string> parts;
  for (size_t start = 0; start <= location.size();) {
    size_t end = location.find('/', start);
    if (end == std::string::npos) end = location.size();
    parts.push_back(location.substr(start, end - start));
    start = end + 1;
  }
  for (const auto& p : parts) {
    if (p == "..") return refuse("'..' would leave the output directory");
  }
  const std::string base = parts.back();
  if (base.empty() || base == ".") return refuse("not a file name");
  parts.pop_back();
  std::string at = dir_real_;
  for (const auto& p : parts) {
    if (p.empty() || p == ".") continue;
    std::string next = (at == "/" ? "" : at) + "/" + p;
    struct stat st;
    if (::lstat(next.c_str(), &st) != 0) {
      if (errno != ENOENT || ::mkdir(next.c_str(), 0777) != 0) {
        return Fail(Error{Errc::kCantCreate, "cannot make directory: " + ErrnoText(), next});
      }
      made_dirs_.push_back(next);
    }
    auto real = RealPath(next);
    if (!real || !Inside(*real, dir_real_)) {
      return refuse("'" + p + "' leads outside the output directory");
    }
    if (::stat(real->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return refuse("'" + p + "' is not a directory");
    }
    at = *real;
  }
  std::string path = (at == "/" ? "" : at) + "/" + base;
  if (!model_real_.empty() && path == model_real_) return refuse("it is the model file itself");
  if (!taken_.insert(path).second) return refuse("the stream holds it twice");
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return refuse("it is a directory");
  return path;
}

Result<ByteSink*> DirExternalWriter::Open(const std::string& location, uint64_t /*size*/) {
  if (fd_ >= 0) return Fail(Errc::kInternal, "external data file opened twice");
  MLN_TRY(std::string path, PlaceFor(location));
  size_t slash = path.rfind('/');
  // Hidden and beside its place, as cli::Output does it: rename(2) stays in one directory,
  // and a crash never leaves something that looks like the real file.
  std::string tmp = path.substr(0, slash + 1) + "." + path.substr(slash + 1) + ".mln-XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    return Fail(Error{Errc::kCantCreate, "cannot create a temporary file beside it: " + ErrnoText(),
                      dir_ + "/" + location});
  }
  mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  fd_ = fd;
  open_slot_ = RemoveOnSignal(tmp);
  open_tmp_ = tmp;
  open_path_ = path;
  open_name_ = dir_ + "/" + location;
  sink_ = MakeFileSink(fd, open_name_);
  return sink_.get();
}

Result<void> DirExternalWriter::Close() {
  if (fd_ < 0) return Fail(Errc::kInternal, "no external data file open");
  MLN_RETURN_IF_ERROR(sink_->Flush());
  if (::fsync(fd_) != 0) return Fail(Error{Errc::kIo, "fsync failed: " + ErrnoText(), open_name_});
  int fd = fd_;
  fd_ = -1;
  sink_.reset();
  written_.push_back({open_tmp_, open_path_, open_slot_});
  open_slot_ = -1;
  if (::close(fd) != 0) return Fail(Error{Errc::kIo, "close failed: " + ErrnoText(), open_name_});
  return {};
}

Result<void> DirExternalWriter::Commit() {
  if (fd_ >= 0) return Fail(Errc::kInternal, "external data file still open at commit");
  for (const Written& f : written_) {
    if (::rename(f.tmp.c_str(), f.path.c_str()) != 0) {
      return Fail(Error{Errc::kCantCreate, "cannot rename into place: " + ErrnoText(), f.path});
    }
    ForgetOnSignal(f.signal_slot);
  }
  committed_ = true;
  // Make the renames durable before the model that names these files appears.
  std::unordered_set<std::string> dirs;
  for (const Written& f : written_) dirs.insert(f.path.substr(0, f.path.rfind('/') + 1));
  for (const auto& d : dirs) {
    int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }
  return {};
}

}  // namespace mln::formats
