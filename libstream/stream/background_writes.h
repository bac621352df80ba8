// A thread that writes queued buffers to ByteSinks in order, so the write calls (and, for a
// stream, its SHA-256) overlap the work that makes the next frames, as zstd's asynchronous
// I/O does. stream::Writer and formats::LayoutSink use it. Callers must not read the sinks
// (their position, their bytes) until Drain has returned.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "libstream/base/aligned_buffer.h"
#include "libstream/base/byte_io.h"
#include "libstream/crypto/digest.h"

namespace mln::stream {

class BackgroundWrites {
 public:
  /// Bytes (heads and payloads) queued before Push waits; one job of any size always fits.
  static constexpr size_t kMaxBytes = 8 << 20;
  /// Bytes queued before Push wakes the writer (Drain and a full queue wake it too): woken
  /// for every frame, the writer cost a context switch each way per frame, 12% of
  /// mln-compress -dc's time on a model of 400 small tensors.
  static constexpr size_t kWakeBytes = 1 << 20;

  struct Job {
    ByteSink* sink;             // where head and payload go
    std::vector<uint8_t> head;  // written before the payload (a frame's prefix and header)
    AlignedBuffer payload;
    uint64_t index;    // the frame's place and name: a write error names the frame it
    std::string name;  // failed on, as an inline write's would
  };

  /// A started writer, or null when no thread can be had (a process or container limit):
  /// the caller then writes on its own thread. With `sha`, every byte written is hashed
  /// into it, in order.
  static std::unique_ptr<BackgroundWrites> Start(crypto::Sha256* sha);
  /// Waits for the job being written and drops the rest (a run that failed elsewhere).
  ~BackgroundWrites();
  BackgroundWrites(const BackgroundWrites&) = delete;
  BackgroundWrites& operator=(const BackgroundWrites&) = delete;

  /// Queues a job, first waiting for room. After a write error every later Push returns it.
  Result<void> Push(Job job);
  /// The first write error so far, without waiting for the queue.
  Result<void> Check();
  /// Waits until every queued job is written; the first write error, if any.
  Result<void> Drain();

 private:
  explicit BackgroundWrites(crypto::Sha256* sha);
  void Run();
  Result<void> Write(const Job& job);

  crypto::Sha256* sha_;
  std::mutex mu_;
  std::condition_variable wake_;  // to the thread: a job, or stop
  std::condition_variable room_;  // to the producer: queue space, drained, or failed
  std::deque<Job> jobs_;
  size_t queued_bytes_ = 0;
  bool busy_ = false;
  bool stop_ = false;
  bool failed_ = false;
  Error error_;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace mln::stream
