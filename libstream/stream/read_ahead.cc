#include "libstream/stream/read_ahead.h"

#include <exception>
#include <new>

namespace mln::stream {

ReadAhead::ReadAhead(FrameSource& source) : source_(source), thread_([this] { Run(); }) {}

ReadAhead::~ReadAhead() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  room_.notify_all();
  thread_.join();
}

void ReadAhead::Run() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      room_.wait(lock, [&] { return stop_ || frames_.empty() || bytes_ < kMaxBytes; });
      if (stop_) return;
    }
    Result<std::optional<Frame>> next = std::nullopt;
    try {
      next = source_.Next();
    } catch (const std::bad_alloc&) {
      next = Fail(Errc::kOs, "out of memory while reading");
    } catch (const std::exception& e) {
      // A source that throws would end the process from this thread; the consumer gets it.
      next = Fail(Errc::kInternal, std::string("reading: ") + e.what());
    }
    std::lock_guard lock(mu_);
    if (!next) {
      error_ = std::move(next).error();
      ended_ = true;
    } else if (!next->has_value()) {
      ended_ = true;
    } else {
      bytes_ += (*next)->payload.size();
      frames_.push_back(std::move(**next));
    }
    ready_.notify_one();
    if (ended_) return;
  }
}

Result<std::optional<Frame>> ReadAhead::Next() {
  std::unique_lock lock(mu_);
  ready_.wait(lock, [&] { return !frames_.empty() || ended_; });
  if (!frames_.empty()) {
    Frame f = std::move(frames_.front());
    frames_.pop_front();
    bytes_ -= f.payload.size();
    lock.unlock();
    room_.notify_one();
    return f;
  }
  if (error_) return Fail(*error_);
  return std::nullopt;
}

}  // namespace mln::stream
