// Writes an mln stream (layout in man/mln-stream.5) to a forward-only ByteSink.
#pragma once

#include <memory>

#include "libstream/base/byte_io.h"
#include "libstream/crypto/digest.h"
#include "libstream/stream/frame_io.h"

namespace mln::stream {

struct WriterOptions {
  /// Frames only, no stream header, trailer or digest: the body of a bundle frame (kind 7),
  /// which a Reader with ReaderOptions::bare reads back.
  bool bare = false;
  /// Hash and write on a thread of the writer's own, so the stream's SHA-256 and the write
  /// calls overlap the work that makes the next frames (what zstd's asynchronous I/O does).
  /// Put then returns once the frame is queued; a write error is reported by a later Put or
  /// by Finish. The queue holds at most BackgroundWrites::kMaxBytes (and one frame of any
  /// size), so memory stays bounded. Not for callers that read the sink between Puts.
  bool background = false;
};

class BackgroundWrites;

class Writer final : public FrameSink {
 public:
  /// `sink` must outlive the writer. Nothing is written until the first Put or Finish.
  explicit Writer(ByteSink& sink) : Writer(sink, WriterOptions{}) {}
  Writer(ByteSink& sink, bool bare) : Writer(sink, WriterOptions{.bare = bare}) {}
  Writer(ByteSink& sink, const WriterOptions& options);
  ~Writer() override;

  /// Appends one frame. The frame must be sealed (SealFrame) or carry a valid encoded
  /// payload; trailer frames are refused (Finish writes the only one).
  Result<void> Put(Frame frame) override;
  /// Writes the trailer (frame count and SHA-256 of every byte before it) and flushes.
  Result<void> Finish() override;

  uint64_t frames_written() const { return frames_; }

 private:
  Result<void> Begin();
  /// The prefix, header and padding that go before `payload_size` bytes of payload, given
  /// the stream position they start at.
  Result<std::vector<uint8_t>> FrameHead(const FrameHeader& header, uint64_t payload_size,
                                         uint64_t at) const;
  Result<void> WriteFrame(const FrameHeader& header, std::span<const uint8_t> payload);
  Result<void> Emit(const void* data, size_t n);

  ByteSink& sink_;
  crypto::Sha256 sha_;
  bool bare_ = false;
  std::unique_ptr<BackgroundWrites> background_;  // null: written on the caller's thread
  uint64_t queued_position_ = 0;  // sink position once every queued byte is written
  bool begun_ = false;
  bool finished_ = false;
  uint64_t frames_ = 0;
};

}  // namespace mln::stream
