#include "libstream/formats/layout_emit.h"

namespace mln::formats {

using stream::FrameKind;

Result<void> LayoutSink::Put(stream::Frame frame) {
  const stream::FrameHeader& h = frame.header;
  if (h.Is(FrameKind::kSource)) {
    if (have_source_) {
      return Fail(Errc::kUnsupported, "stream holds more than one model; emit writes one file");
    }
    have_source_ = true;
    file_size_ = h.file_size;
    format_ = h.format;
    return {};
  }
  if (!h.Is(FrameKind::kBytes) && !h.Is(FrameKind::kTensor)) {
    ++skipped_;  // kinds from newer tools pass by (invariant 5)
    return {};
  }
  if (!have_source_) return Fail(Errc::kBadData, "model bytes before any source frame");
  MLN_RETURN_IF_ERROR(checker_.Check(h));
  return out_.Write(frame.payload.data(), frame.payload.size());
}

Result<void> LayoutSink::Finish() {
  if (!have_source_) return Fail(Errc::kBadData, "stream holds no model (no source frame)");
  MLN_RETURN_IF_ERROR(checker_.Finish());
  // file_size 0 means the parser read a pipe and could not know it.
  if (file_size_ != 0 && out_.position() != file_size_) {
    return Fail(Errc::kBadData, "model ends at byte " + std::to_string(out_.position()) +
                                    ", source file had " + std::to_string(file_size_));
  }
  return out_.Flush();
}

}  // namespace mln::formats
