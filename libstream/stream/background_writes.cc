#include "libstream/stream/background_writes.h"

#include <new>

namespace mln::stream {

BackgroundWrites::BackgroundWrites(crypto::Sha256* sha, size_t max_bytes)
    : sha_(sha), max_bytes_(max_bytes), thread_([this] { Run(); }) {}

BackgroundWrites::~BackgroundWrites() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

Result<void> BackgroundWrites::Push(Job job) {
  std::unique_lock lock(mu_);
  // An oversized job waits until nothing else is held, so the bound stays max_bytes_ or
  // one job.
  room_.wait(lock, [&] {
    return failed_ || queued_bytes_ == 0 || queued_bytes_ + job.payload.size() <= max_bytes_;
  });
  if (failed_) return Fail(error_);
  queued_bytes_ += job.payload.size();
  jobs_.push_back(std::move(job));
  lock.unlock();
  wake_.notify_one();
  return {};
}

Result<void> BackgroundWrites::Drain() {
  std::unique_lock lock(mu_);
  room_.wait(lock, [&] { return failed_ || (jobs_.empty() && !busy_); });
  if (failed_) return Fail(error_);
  return {};
}

void BackgroundWrites::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopped with nothing left
    if (stop_ || failed_) {     // abandoned (destroyed before draining) or already failed
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

Result<void> BackgroundWrites::Write(const Job& job) {
  try {
    if (!job.head.empty()) {
      if (sha_ != nullptr) sha_->Update(job.head.data(), job.head.size());
      MLN_RETURN_IF_ERROR(job.sink->Write(job.head.data(), job.head.size()));
    }
    if (job.payload.empty()) return {};
    if (sha_ != nullptr) sha_->Update(job.payload.data(), job.payload.size());
    return job.sink->Write(job.payload.data(), job.payload.size());
  } catch (const std::bad_alloc&) {
    return Fail(Errc::kOs, job.sink->name() + ": out of memory while writing");
  }
}

}  // namespace mln::stream
