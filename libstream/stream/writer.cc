#include "libstream/stream/writer.h"

#include <cstring>

#include "libstream/base/checked_math.h"
#include "libstream/base/endian.h"
#include "libstream/stream/frame_codec_internal.h"

namespace mln::stream {

using internal::kFramePrefixSize;

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
  return Emit(head, sizeof head);
}

Result<void> Writer::WriteFrame(const FrameHeader& header, std::span<const uint8_t> payload) {
  std::vector<uint8_t> fb = internal::EncodeHeader(header);
  if (fb.size() > internal::kMaxHeaderBytes) {
    return Fail(Errc::kInternal, "frame header of " + std::to_string(fb.size()) +
                                     " bytes exceeds the 1 MiB limit readers enforce");
  }
  uint8_t prefix[kFramePrefixSize];
  StoreLE<uint32_t>(prefix, internal::kFrameMagic);
  StoreLE<uint32_t>(prefix + 4, static_cast<uint32_t>(fb.size()));
  StoreLE<uint64_t>(prefix + 8, payload.size());
  crypto::Xxh3Hasher check;
  check.Update(prefix, 16);
  check.Update(fb.data(), fb.size());
  StoreLE<uint64_t>(prefix + 16, check.Digest());
  MLN_RETURN_IF_ERROR(Emit(prefix, sizeof prefix));
  MLN_RETURN_IF_ERROR(Emit(fb.data(), fb.size()));
  if (!payload.empty()) {
    // Zero padding puts the payload at a 64-byte boundary of the stream (invariant 1).
    uint64_t pad = PadTo(sink_.position(), kPayloadAlignment);
    static const uint8_t kZeros[kPayloadAlignment] = {};
    MLN_RETURN_IF_ERROR(Emit(kZeros, pad));
    MLN_RETURN_IF_ERROR(Emit(payload.data(), payload.size()));
  }
  return {};
}

Result<void> Writer::Put(Frame frame) {
  if (finished_) return Fail(Errc::kInternal, "frame written after the trailer");
  if (frame.header.Is(FrameKind::kTrailer)) {
    return Fail(Errc::kInternal, "a trailer frame can only be written by Finish()");
  }
  MLN_RETURN_IF_ERROR(Begin());
  MLN_RETURN_IF_ERROR(WriteFrame(frame.header, frame.payload.span()));
  ++frames_;
  return {};
}

Result<void> Writer::Finish() {
  if (finished_) return {};
  MLN_RETURN_IF_ERROR(Begin());
  finished_ = true;
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
