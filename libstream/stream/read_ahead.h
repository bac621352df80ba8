// Reads frames ahead of the pipeline on a thread of its own, as zstd's asynchronous I/O
// does: the read calls (and a parser's work) overlap the decoding or encoding of earlier
// frames instead of adding to it.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "libstream/stream/frame_io.h"

namespace mln::stream {

class ReadAhead final : public FrameSource {
 public:
  /// Bytes read ahead before the thread waits (one frame of any size always fits): payloads
  /// and headers, each frame counted at least kFrameFloor, so frames without payload (keep
  /// ops, unknown kinds) cannot pile up either. One frame ahead is what overlaps reading
  /// with work; 8 MiB ahead added ~20 MB of fresh memory to mln-compress -d of
  /// llama34m.Q8_0 (36 MB), whose page zeroing ate the gain.
  static constexpr size_t kMaxBytes = 1 << 20;
  static constexpr size_t kFrameFloor = 4 << 10;

  /// Reads `source` (which must outlive this and not be used by anyone else until it is
  /// gone) from a new thread; null when no thread can be had (a process or container
  /// limit), and the caller reads it itself. Only for sources whose reads end by
  /// themselves (files, memory): the destructor waits for a read in progress, which on a
  /// pipe could wait for its writer.
  static std::unique_ptr<ReadAhead> Start(FrameSource& source);
  /// Stops reading and waits for the thread; frames read ahead are dropped.
  ~ReadAhead() override;
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  /// The source's next frame, end, or error, in the order the source gave them.
  Result<std::optional<Frame>> Next() override;

 private:
  explicit ReadAhead(FrameSource& source);
  void Run();
  // One step of Run: reads a frame and queues it; false once the source ended or failed.
  bool ReadOne();

  FrameSource& source_;
  std::mutex mu_;
  std::condition_variable ready_;  // to the consumer: a frame, the end, or an error
  std::condition_variable room_;   // to the thread: space in the queue, or stop
  std::deque<std::pair<Frame, size_t>> frames_;  // with the bytes each is counted for
  size_t bytes_ = 0;
  bool ended_ = false;             // the source said end, or failed
  std::optional<Error> error_;
  bool stop_ = false;
  bool waiting_for_room_ = false;  // the thread waits for the queue to fall to half
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace mln::stream
