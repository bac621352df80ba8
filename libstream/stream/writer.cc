#include "libstream/stream/writer.h"

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include "libstream/base/checked_math.h"
#include "libstream/base/endian.h"
#include "libstream/stream/frame_codec_internal.h"

namespace mln::stream {

using internal::kFramePrefixSize;

// The queue and thread of a background writer. Jobs are written in order; after the first
// error the rest are dropped, and the error waits for the producer's next Put or Finish.
class BackgroundWrites {
 public:
  struct Job {
    std::vector<uint8_t> head;  // prefix, header, padding
    AlignedBuffer payload;
    uint64_t index;    // the frame's place in the output, and its name: a write error
    std::string name;  // names the frame it failed on, as an inline write's would
  };

  BackgroundWrites(ByteSink& sink, crypto::Sha256& sha)
      : sink_(sink), sha_(sha), thread_([this] { Run(); }) {}
  ~BackgroundWrites() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  /// Queues a job, first waiting while the queue holds kBackgroundBytes of payload.
  Result<void> Push(Job job) {
    std::unique_lock lock(mu_);
    // An oversized frame waits until nothing else is held, so the bound stays
    // kBackgroundBytes or one frame.
    room_.wait(lock, [&] {
      return failed_ || queued_bytes_ == 0 ||
             queued_bytes_ + job.payload.size() <= Writer::kBackgroundBytes;
    });
    if (failed_) return Fail(error_);
    queued_bytes_ += job.payload.size();
    jobs_.push_back(std::move(job));
    lock.unlock();
    wake_.notify_one();
    return {};
  }

  /// Waits until every queued job is written; the first write error, if any.
  Result<void> Drain() {
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return failed_ || (jobs_.empty() && !busy_); });
    if (failed_) return Fail(error_);
    return {};
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopped with nothing left
      if (stop_ || failed_) {     // abandoned (destroyed before Finish) or already failed
        jobs_.clear();
        queued_bytes_ = 0;
        room_.notify_all();
        continue;
      }
      Job job = std::move(jobs_.front());
      jobs_.pop_front();
      busy_ = true;
      lock.unlock();
      Result<void> ok = Write(job);
      size_t done = job.payload.size();
      uint64_t job_index = job.index;
      std::string job_name = std::move(job.name);
      job = {};  // the payload's block goes back to the pool before the producer goes on
      lock.lock();
      busy_ = false;
      queued_bytes_ -= done;
      if (!ok && !failed_) {
        failed_ = true;
        error_ = std::move(ok).error().WithFrame(job_index, std::move(job_name));
      }
      room_.notify_all();
    }
  }

  Result<void> Write(const Job& job) {
    try {
      sha_.Update(job.head.data(), job.head.size());
      MLN_RETURN_IF_ERROR(sink_.Write(job.head.data(), job.head.size()));
      if (job.payload.empty()) return {};
      sha_.Update(job.payload.data(), job.payload.size());
      return sink_.Write(job.payload.data(), job.payload.size());
    } catch (const std::bad_alloc&) {
      return Fail(Errc::kOs, sink_.name() + ": out of memory while writing");
    }
  }

  ByteSink& sink_;
  crypto::Sha256& sha_;
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

Writer::Writer(ByteSink& sink, const WriterOptions& options)
    : sink_(sink), bare_(options.bare) {
  if (options.background && !options.bare) {
    try {
      background_ = std::make_unique<BackgroundWrites>(sink_, sha_);
    } catch (const std::system_error&) {
      // No thread to be had (a process or container limit): write on the caller's thread.
    }
  }
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
        {std::move(head), std::move(frame.payload), frames_, std::move(frame.header.name)}));
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
