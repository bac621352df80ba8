// Writes a parsed model back out by laying every kBytes/kTensor payload at its file
// offset: byte-identical to the source whenever no filter changed the layout.
//
// An ONNX model with external data is several files: the model's frames, then for each
// data file a source frame marked onnx.part "external-data" and the frames tiling that file
// (mln-stream(5), ONNX). Each file is checked on its own; data files go to an
// ExternalFileWriter, or are passed over or refused when there is none.
#pragma once

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/stream/chunker.h"
#include "libstream/stream/frame_io.h"

namespace mln::stream {
class BackgroundWrites;
}

namespace mln::formats {

/// Receives the external data files of a model, one at a time, in stream order.
class ExternalFileWriter {
 public:
  virtual ~ExternalFileWriter() = default;
  /// Starts the file the model names `location` (relative to the model), `size` bytes.
  virtual Result<ByteSink*> Open(const std::string& location, uint64_t size) = 0;
  /// The file opened last is complete.
  virtual Result<void> Close() = 0;
};

struct LayoutOptions {
  /// Where external data files go. When null they are refused (Errc::kUnsupported), so a
  /// tool that writes one file never silently drops part of a model, unless...
  ExternalFileWriter* external = nullptr;
  /// ...this is set: then they are passed over and counted (mln-emit to stdout).
  bool skip_external = false;
  /// Write payloads on a thread of the sink's own (stream::BackgroundWrites), so the write
  /// calls overlap the decoding of the next frames. Put then returns once the payload is
  /// queued; a write error is reported by a later Put or by Finish. At most
  /// BackgroundWrites::kMaxBytes wait (or one frame of any size). The sinks are not to be
  /// read until Finish has returned.
  bool background = false;
};

/// A FrameSink for decoded frames of one model. Refuses gaps, overlaps, missing chunks and
/// a size that disagrees with the source frame; skips frame kinds it does not know.
class LayoutSink final : public stream::FrameSink {
 public:
  explicit LayoutSink(ByteSink& out, LayoutOptions options = {});
  ~LayoutSink() override;
  Result<void> Put(stream::Frame frame) override;
  Result<void> Finish() override;

  uint64_t skipped_frames() const { return skipped_; }
  const std::string& format() const { return format_; }
  /// External data files written through LayoutOptions::external, and passed over.
  uint64_t external_files_written() const { return external_written_; }
  uint64_t external_files_skipped() const { return external_skipped_; }
  /// Tensor frames of external data the stream does not carry (the model was parsed
  /// from a pipe): the model refers to data files that are nowhere in the stream.
  uint64_t uncarried_external() const { return uncarried_; }

 private:
  Result<void> Write(stream::Frame frame);
  Result<void> EndFile();
  Result<void> StartExternal(const stream::FrameHeader& h);

  ByteSink& out_;
  LayoutOptions options_;
  stream::ChunkSequenceChecker checker_;
  bool have_source_ = false;
  bool saw_patch_ = false;  // patch frames (mln-diff's): said so when no model follows
  uint64_t file_size_ = 0;
  std::string format_;
  std::string model_;  // the model's name as parsed, for messages
  uint64_t skipped_ = 0;
  ByteSink* current_ = nullptr;  // where payloads go; null while passing a file over
  std::string external_;         // location of the data file being laid out, "" for the model
  bool external_open_ = false;   // options_.external has a file open
  uint64_t external_written_ = 0, external_skipped_ = 0, uncarried_ = 0;
  uint64_t frames_ = 0;                                   // frames Put so far
  std::unique_ptr<stream::BackgroundWrites> background_;  // null: written by Put itself
};

/// Writes external data files under a directory, each to a hidden temporary file beside
/// its place. Commit() renames them all into place; destroyed without Commit() it removes
/// them and the directories it made, so a failed run leaves nothing behind. Locations that
/// are absolute, hold a ".." component or lead through a symbolic link out of the
/// directory are refused (Errc::kBadData), as is a location naming `model_path` (the model
/// file being written) or one already written.
class DirExternalWriter final : public ExternalFileWriter {
 public:
  /// `dir` must exist. `model_path` may be empty (the model goes to stdout).
  static Result<std::unique_ptr<DirExternalWriter>> Create(const std::string& dir,
                                                           const std::string& model_path);
  ~DirExternalWriter() override;
  Result<ByteSink*> Open(const std::string& location, uint64_t size) override;
  Result<void> Close() override;
  /// Renames every written file into place.
  Result<void> Commit();

 private:
  DirExternalWriter() = default;
  Result<std::string> PlaceFor(const std::string& location);

  struct Written {
    std::string tmp, path;
    int signal_slot;  // base/signal_cleanup.h: removes tmp if a signal ends the run
  };
  std::string dir_, dir_real_, model_real_;
  std::vector<Written> written_;
  std::vector<std::string> made_dirs_;
  std::unordered_set<std::string> taken_;
  std::string open_tmp_, open_path_, open_name_;
  int fd_ = -1;
  int open_slot_ = -1;
  std::unique_ptr<ByteSink> sink_;
  bool committed_ = false;
};

}  // namespace mln::formats
