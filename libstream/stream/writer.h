// Writes an mln stream (layout in man/mln-stream.5) to a forward-only ByteSink.
#pragma once

#include "libstream/base/byte_io.h"
#include "libstream/crypto/digest.h"
#include "libstream/stream/frame_io.h"

namespace mln::stream {

class Writer final : public FrameSink {
 public:
  /// `sink` must outlive the writer. Nothing is written until the first Put or Finish.
  explicit Writer(ByteSink& sink) : sink_(sink) {}
  /// `bare`: frames only, no stream header, trailer or digest: the body of a bundle frame
  /// (kind 7), which a Reader with ReaderOptions::bare reads back.
  Writer(ByteSink& sink, bool bare) : sink_(sink), bare_(bare) {}

  /// Appends one frame. The frame must be sealed (SealFrame) or carry a valid encoded
  /// payload; trailer frames are refused (Finish writes the only one).
  Result<void> Put(Frame frame) override;
  /// Writes the trailer (frame count and SHA-256 of every byte before it) and flushes.
  Result<void> Finish() override;

  uint64_t frames_written() const { return frames_; }

 private:
  Result<void> Begin();
  Result<void> WriteFrame(const FrameHeader& header, std::span<const uint8_t> payload);
  Result<void> Emit(const void* data, size_t n);

  ByteSink& sink_;
  crypto::Sha256 sha_;
  bool bare_ = false;
  bool begun_ = false;
  bool finished_ = false;
  uint64_t frames_ = 0;
};

}  // namespace mln::stream
