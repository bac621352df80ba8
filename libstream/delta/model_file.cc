#include "libstream/delta/model_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "libstream/formats/convert.h"
#include "libstream/formats/layout_emit.h"
#include "libstream/stream/chunker.h"
#include "libstream/stream/reader.h"

namespace mln::delta {
namespace {

Result<int> MakeTempFile(const std::string& for_name) {
  const char* dir = std::getenv("TMPDIR");
  std::string d = dir && *dir ? dir : "/tmp";
  int fd = ::open(d.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    // Filesystems without O_TMPFILE: create, then unlink at once.
    std::string tmpl = d + "/mln-model-XXXXXX";
    fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(tmpl.c_str());
  }
  if (fd < 0) {
    return Fail(Error{Errc::kCantCreate,
                      "cannot create a temporary copy in " + d + ": " + std::strerror(errno),
                      for_name});
  }
  return fd;
}

bool IsRegular(int fd) {
  struct stat st;
  return fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

Result<void> ReadAt(int fd, const std::string& name, uint64_t offset, void* dst, size_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      return Fail(Error{Errc::kIo, std::string("read failed: ") + std::strerror(errno), name});
    }
    if (r == 0) {
      return Fail(Error{Errc::kBadData,
                        "file ended at byte " + std::to_string(offset + done) + ", expected " +
                            std::to_string(offset + n) + " (did it change while being read?)",
                        name});
    }
    done += static_cast<size_t>(r);
  }
  return {};
}

ModelFile::~ModelFile() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

std::unique_ptr<ByteSource> ModelFile::Reader() const {
  return MakePreadSource(fd_, name_, size_);
}

Result<std::unique_ptr<ModelFile>> ModelFile::Open(ByteSource& src,
                                                   const formats::ParseOptions& options,
                                                   bool need_plan) {
  std::unique_ptr<ModelFile> m(new ModelFile);
  m->name_ = src.name();
  MLN_TRY(auto head, src.Peek(64 * 1024));
  bool is_stream = stream::LooksLikeStream(head);

  if (!is_stream && IsRegular(src.fd()) && src.position() == 0) {
    m->fd_ = src.fd();
    m->size_ = src.size().value_or(0);
    if (!need_plan) return m;
    // Archives are parsed through libarchive, not a segment plan: copy the member out.
    // A model's parse is kept for IndexModel and OpenFrames: parsing verifies the whole
    // FlatBuffer of a TFLite model, and mln-diff used to do it five times for two files.
    auto probe_reader = m->Reader();
    MLN_TRY(auto probe, formats::OpenModel(*probe_reader, "", options));
    if (dynamic_cast<stream::SegmentSource*>(probe.get()) != nullptr) {
      m->parsed_reader_ = std::move(probe_reader);
      m->parsed_ = std::move(probe);
      return m;
    }
  }

  MLN_TRY(int fd, MakeTempFile(m->name_));
  m->fd_ = fd;
  m->owned_ = true;
  m->materialized_ = true;
  auto sink = MakeFdSink(fd, m->name_ + " (temporary copy)");
  if (is_stream) {
    auto done = formats::EmitFromStream(src, *sink);
    if (!done) return Fail(std::move(done).error());
  } else {
    // A pipe or an archive: parse it once and lay the frames out (as mln-emit does).
    std::unique_ptr<ByteSource> again;
    ByteSource* in = &src;
    if (IsRegular(src.fd())) {
      again = MakePreadSource(src.fd(), src.name(), src.size().value_or(0));
      in = again.get();
    }
    MLN_TRY(auto frames, formats::OpenModel(*in, "", options));
    formats::LayoutSink layout(*sink);
    for (;;) {
      auto f = frames->Next();
      if (!f) return Fail(std::move(f).error().WithFile(m->name_));
      if (!f->has_value()) break;
      stream::SealFrame(**f);  // the layout checks sizes as sealed frames state them
      MLN_RETURN_IF_ERROR(layout.Put(std::move(**f)));
    }
    MLN_RETURN_IF_ERROR(layout.Finish());
  }
  MLN_RETURN_IF_ERROR(sink->Flush());
  struct stat st;
  if (fstat(fd, &st) != 0) return Fail(Error{Errc::kIo, "cannot stat the temporary copy", m->name_});
  m->size_ = static_cast<uint64_t>(st.st_size);
  return m;
}

Result<std::unique_ptr<stream::FrameSource>> OpenFrames(ModelFile& file,
                                                        const formats::ParseOptions& options,
                                                        std::unique_ptr<ByteSource>& reader) {
  if (file.parsed_) {
    reader = std::move(file.parsed_reader_);
    return std::move(file.parsed_);
  }
  reader = file.Reader();
  auto frames = formats::OpenModel(*reader, "", options);
  if (!frames) return Fail(std::move(frames).error().WithFile(file.name()));
  return std::move(*frames);
}

Result<ModelIndex> IndexModel(const ModelFile& file, const formats::ParseOptions& options) {
  const stream::FrameSource* frames = file.parsed();
  std::unique_ptr<ByteSource> reader;
  std::unique_ptr<stream::FrameSource> own;
  if (frames == nullptr) {
    reader = file.Reader();
    auto opened = formats::OpenModel(*reader, "", options);
    if (!opened) return Fail(std::move(opened).error().WithFile(file.name()));
    own = std::move(*opened);
    frames = own.get();
  }
  auto* plan = dynamic_cast<const stream::SegmentSource*>(frames);
  if (plan == nullptr || !plan->source_frame()) {
    return Fail(Error{Errc::kInternal, "no segment plan for this model", file.name()});
  }
  ModelIndex index;
  index.source = *plan->source_frame();
  // A patch rebuilds one file; ONNX weights in external data files would be silently left
  // out of it. (A model whose data files were found does not even get here: its frames are
  // not one segment plan, and laying it out in one file is refused.)
  if (auto ext = index.source.Attr("onnx.external_tensors"); ext && *ext != "0") {
    return Fail(Error{Errc::kUnsupported,
                      "ONNX model with external data (" + std::string(*ext) +
                          " tensors): only single-file models can be diffed",
                      file.name()});
  }
  uint32_t tensors = 0;
  std::unordered_map<std::string, uint32_t> occurrences;
  for (const stream::Segment& s : plan->segments()) {
    IndexEntry e;
    e.tmpl = s.tmpl;
    e.offset = s.file_offset;
    e.size = s.size == stream::kUntilEnd ? file.size() - std::min(file.size(), s.file_offset)
                                         : s.size;
    size_t at = index.entries.size();
    if (s.tmpl.Is(stream::FrameKind::kTensor)) {
      e.ordinal = tensors++;
      index.tensor_by_name.emplace(s.tmpl.name, at);
      index.tensors.push_back(at);
    } else {
      e.ordinal = occurrences[s.tmpl.name]++;
      index.bytes_by_name[s.tmpl.name].push_back(at);
    }
    index.entries.push_back(std::move(e));
  }
  return index;
}

}  // namespace mln::delta
