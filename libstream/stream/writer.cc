#include "libstream/stream/writer.h"

#include <cstring>
#include <string>

#include "libstream/base/checked_math.h"
#include "libstream/base/endian.h"
#include "libstream/stream/background_writes.h"
#include "libstream/stream/frame_codec_internal.h"

namespace mln::stream {

using internal::kFramePrefixSize;

Writer::Writer(ByteSink& sink, const WriterOptions& options)
    : sink_(sink), bare_(options.bare) {
  if (options.background && !options.bare) background_ = BackgroundWrites::Start(&sha_);
}

Writer::~Writer() = default;

Result<void> Writer::Emit(const void* data, size_t n) {
  if (!bare_) sha_.Update(data, n);
  return sink_.Write(data, n);
}

Result<void> Writer::Begin() {
  if (begun_) return {};
  begun_ = true;
  if (bare_) return {};
  uint8_t head[internal::kStreamHeaderSize] = {};
  std::memcpy(head, internal::kStreamMagic, sizeof internal::kStreamMagic);
  StoreLE<uint16_t>(head + 8, internal::kVersionMajor);
  StoreLE<uint16_t>(head + 10, internal::kVersionMinor);
  StoreLE<uint32_t>(head + 12, 0);  // flags, none defined yet
  MLN_RETURN_IF_ERROR(Emit(head, sizeof head));
  queued_position_ = sink_.position();
  return {};
}

Result<std::vector<uint8_t>> Writer::FrameHead(const FrameHeader& header,
                                               uint64_t payload_size, uint64_t at) const {
  std::vector<uint8_t> fb = internal::EncodeHeader(header);
  if (fb.size() > internal::kMaxHeaderBytes) {
    return Fail(Errc::kInternal, "frame header of " + std::to_string(fb.size()) +
                                     " bytes exceeds the 1 MiB limit readers enforce");
  }
  std::vector<uint8_t> head(kFramePrefixSize + fb.size());
  uint8_t* prefix = head.data();
  StoreLE<uint32_t>(prefix, internal::kFrameMagic);
  StoreLE<uint32_t>(prefix + 4, static_cast<uint32_t>(fb.size()));
  StoreLE<uint64_t>(prefix + 8, payload_size);
  crypto::Xxh3Hasher check;
  check.Update(prefix, 16);
  check.Update(fb.data(), fb.size());
  StoreLE<uint64_t>(prefix + 16, check.Digest());
  std::memcpy(prefix + kFramePrefixSize, fb.data(), fb.size());
  if (payload_size != 0) {
    // Zero padding puts the payload at a 64-byte boundary of the stream (invariant 1).
    head.resize(head.size() + PadTo(at + head.size(), kPayloadAlignment), 0);
  }
  return head;
}

Result<void> Writer::WriteFrame(const FrameHeader& header, std::span<const uint8_t> payload) {
  MLN_TRY(std::vector<uint8_t> head, FrameHead(header, payload.size(), sink_.position()));
  MLN_RETURN_IF_ERROR(Emit(head.data(), head.size()));
  if (!payload.empty()) MLN_RETURN_IF_ERROR(Emit(payload.data(), payload.size()));
  return {};
}

Result<void> Writer::Put(Frame frame) {
  if (finished_) return Fail(Errc::kInternal, "frame written after the trailer");
  if (frame.header.Is(FrameKind::kTrailer)) {
    return Fail(Errc::kInternal, "a trailer frame can only be written by Finish()");
  }
  MLN_RETURN_IF_ERROR(Begin());
  if (background_) {
    MLN_TRY(std::vector<uint8_t> head,
            FrameHead(frame.header, frame.payload.size(), queued_position_));
    queued_position_ += head.size() + frame.payload.size();
    MLN_RETURN_IF_ERROR(background_->Push(
        {&sink_, std::move(head), std::move(frame.payload), frames_,
         std::move(frame.header.name)}));
  } else {
    MLN_RETURN_IF_ERROR(WriteFrame(frame.header, frame.payload.span()));
  }
  ++frames_;
  return {};
}

Result<void> Writer::Finish() {
  if (finished_) return {};
  MLN_RETURN_IF_ERROR(Begin());
  finished_ = true;
  if (background_) {
    // Every frame is hashed before the digest is taken; the thread is done with sha_ and
    // the sink once it is gone.
    Result<void> drained = background_->Drain();
    background_.reset();
    MLN_RETURN_IF_ERROR(drained);
  }
  if (bare_) return sink_.Flush();
  FrameHeader trailer;
  trailer.kind = static_cast<uint16_t>(FrameKind::kTrailer);
  trailer.frame_count = frames_;
  crypto::Sha256Digest d = sha_.Final();
  trailer.digest.assign(d.begin(), d.end());
  MLN_RETURN_IF_ERROR(WriteFrame(trailer, {}));
  return sink_.Flush();
}

}  // namespace mln::stream
