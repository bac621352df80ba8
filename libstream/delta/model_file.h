// A model as random-access bytes on disk, and the index of its tensors and non-tensor
// ranges: what mln-diff needs of the old model (read at any offset, never held in memory)
// and what both sides of a diff are planned from.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/formats/format.h"
#include "libstream/stream/frame.h"

namespace mln::delta {

/// Reads exactly `n` bytes at `offset` of `fd` (pread, so threads may share the descriptor);
/// a short read means the file changed under us and fails with Errc::kBadData naming `name`.
Result<void> ReadAt(int fd, const std::string& name, uint64_t offset, void* dst, size_t n);

class ModelFile {
 public:
  /// Uses `src` directly when it is a regular file holding a model in a directly parsed
  /// format. Otherwise the model is first written to an unlinked temporary file in $TMPDIR
  /// (so nothing is left behind, whatever happens): the model an mln stream carries (any
  /// codec), a model arriving on a pipe, or the member of an archive. `src` must not have
  /// been read from (Peek is fine). Without `need_plan` (mln-apply, which only reads byte
  /// ranges) a regular file is used as it is, whatever it holds.
  static Result<std::unique_ptr<ModelFile>> Open(ByteSource& src,
                                                 const formats::ParseOptions& options,
                                                 bool need_plan = true);
  ~ModelFile();
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;

  const std::string& name() const { return name_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_; }
  /// True when the bytes were copied to a temporary file.
  bool materialized() const { return materialized_; }
  Result<void> ReadAt(uint64_t offset, void* dst, size_t n) const {
    return delta::ReadAt(fd_, name_, offset, dst, n);
  }
  /// A fresh forward reader over the file from offset 0, independent of other readers.
  std::unique_ptr<ByteSource> Reader() const;
  /// The parse Open made to tell a directly parsed model from an archive, not yet read
  /// from (its segment plan), or null; IndexModel and OpenFrames use it instead of
  /// parsing the file again.
  const stream::FrameSource* parsed() const { return parsed_.get(); }

 private:
  friend Result<std::unique_ptr<stream::FrameSource>> OpenFrames(
      ModelFile&, const formats::ParseOptions&, std::unique_ptr<ByteSource>&);
  ModelFile() = default;
  std::string name_;
  int fd_ = -1;
  bool owned_ = false;
  bool materialized_ = false;
  uint64_t size_ = 0;
  std::unique_ptr<ByteSource> parsed_reader_;     // what parsed_ reads; outlives it
  std::unique_ptr<stream::FrameSource> parsed_;
};

/// One tensor or one non-tensor range of a model file.
struct IndexEntry {
  stream::FrameHeader tmpl;  ///< kind, name, dtype, shape, attrs as the parser sets them
  uint64_t offset = 0;
  uint64_t size = 0;
  uint32_t ordinal = 0;  ///< tensors: index among tensors; bytes: occurrence of this name
};

/// The layout of a model file: every range, in file order, tiling the file.
struct ModelIndex {
  stream::FrameHeader source;  ///< the parser's source frame (format, file size, attrs)
  std::vector<IndexEntry> entries;
  std::unordered_map<std::string, size_t> tensor_by_name;                ///< -> entries
  std::unordered_map<std::string, std::vector<size_t>> bytes_by_name;    ///< -> entries
  std::vector<size_t> tensors;                                           ///< -> entries
};

/// Parses `file`'s layout without reading its tensor bytes.
Result<ModelIndex> IndexModel(const ModelFile& file, const formats::ParseOptions& options);

/// Opens `file`'s frames from the start (the parser's own chunking): the parse Open
/// made, the first time (it is handed over), else a new one. `reader` receives what the
/// frames read from and must outlive them.
Result<std::unique_ptr<stream::FrameSource>> OpenFrames(ModelFile& file,
                                                        const formats::ParseOptions& options,
                                                        std::unique_ptr<ByteSource>& reader);

}  // namespace mln::delta
