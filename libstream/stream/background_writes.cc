#include "libstream/stream/background_writes.h"

#include <system_error>

namespace mln::stream {
namespace {

size_t JobBytes(const BackgroundWrites::Job& job) { return job.head.size() + job.payload.size(); }

}  // namespace

std::unique_ptr<BackgroundWrites> BackgroundWrites::Start(crypto::Sha256* sha) {
  try {
    return std::unique_ptr<BackgroundWrites>(new BackgroundWrites(sha));
  } catch (const std::system_error&) {
    return nullptr;
  }
}

BackgroundWrites::BackgroundWrites(crypto::Sha256* sha) : sha_(sha), thread_([this] { Run(); }) {}

BackgroundWrites::~BackgroundWrites() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

Result<void> BackgroundWrites::Push(Job job) {
  const size_t bytes = JobBytes(job);
  std::unique_lock lock(mu_);
  // An oversized job waits until nothing else is held, so the bound stays kMaxBytes or
  // one job.
  auto room = [&] { return failed_ || queued_bytes_ == 0 || queued_bytes_ + bytes <= kMaxBytes; };
  if (!room()) {
    wake_.notify_one();  // the writer may be waiting for a batch: this is one
    room_.wait(lock, room);
  }
  if (failed_) return Fail(error_);
  queued_bytes_ += bytes;
  jobs_.push_back(std::move(job));
  const bool batch = queued_bytes_ >= kWakeBytes;
  lock.unlock();
  if (batch) wake_.notify_one();
  return {};
}

Result<void> BackgroundWrites::Check() {
  std::lock_guard lock(mu_);
  if (failed_) return Fail(error_);
  return {};
}

Result<void> BackgroundWrites::Drain() {
  std::unique_lock lock(mu_);
  wake_.notify_one();  // whatever is queued, however little
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
    const size_t done = JobBytes(job);
    const uint64_t job_index = job.index;
    std::string job_name;
    job_name.swap(job.name);
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
  // Nothing may escape this thread, where it would end the process: a sink that throws,
  // even for want of memory to describe it, fails with a message that needs none.
  try {
    if (!job.head.empty()) {
      if (sha_ != nullptr) sha_->Update(job.head.data(), job.head.size());
      MLN_RETURN_IF_ERROR(job.sink->Write(job.head.data(), job.head.size()));
    }
    if (job.payload.empty()) return {};
    if (sha_ != nullptr) sha_->Update(job.payload.data(), job.payload.size());
    return job.sink->Write(job.payload.data(), job.payload.size());
  } catch (...) {
    return Fail(Errc::kOs, "out of memory while writing");
  }
}

}  // namespace mln::stream
