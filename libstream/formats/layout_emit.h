// Writes a parsed model back out by laying every kBytes/kTensor payload at its file
// offset: byte-identical to the source whenever no filter changed the layout.
#pragma once

#include "libstream/base/byte_io.h"
#include "libstream/stream/chunker.h"
#include "libstream/stream/frame_io.h"

namespace mln::formats {

/// A FrameSink for decoded frames of one model. Refuses gaps, overlaps, missing chunks and
/// a size that disagrees with the source frame; skips frame kinds it does not know.
class LayoutSink final : public stream::FrameSink {
 public:
  explicit LayoutSink(ByteSink& out) : out_(out) {}
  Result<void> Put(stream::Frame frame) override;
  Result<void> Finish() override;

  uint64_t bytes_written() const { return out_.position(); }
  uint64_t skipped_frames() const { return skipped_; }
  const std::string& format() const { return format_; }

 private:
  ByteSink& out_;
  stream::ChunkSequenceChecker checker_;
  bool have_source_ = false;
  uint64_t file_size_ = 0;
  std::string format_;
  uint64_t skipped_ = 0;
};

}  // namespace mln::formats
