#include "libstream/stream/read_ahead.h"

#include <algorithm>
#include <system_error>

namespace mln::stream {
namespace {

// What a queued frame holds in memory: its payload and the variable parts of its header.
size_t QueuedBytes(const Frame& f) {
  const FrameHeader& h = f.header;
  size_t n = f.payload.size() + h.name.size() + h.format.size() + h.digest.size() +
             h.shape.size() * sizeof(int64_t);
  for (const Attribute& a : h.attrs) n += a.key.size() + a.value.size();
  return std::max(n, ReadAhead::kFrameFloor);
}

}  // namespace

std::unique_ptr<ReadAhead> ReadAhead::Start(FrameSource& source) {
  try {
    return std::unique_ptr<ReadAhead>(new ReadAhead(source));
  } catch (const std::system_error&) {
    return nullptr;
  }
}

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
      if (!frames_.empty() && bytes_ >= kMaxBytes) {
        // Full: wait until half is taken, so the consumer wakes this thread once per half
        // queue rather than once per frame (a context switch each way, per small frame).
        waiting_for_room_ = true;
        room_.wait(lock, [&] { return stop_ || frames_.empty() || bytes_ <= kMaxBytes / 2; });
        waiting_for_room_ = false;
      }
      if (stop_) return;
    }
    bool more;
    try {
      more = ReadOne();
    } catch (...) {
      // Nothing may escape this thread, where it would end the process; the consumer gets
      // an error instead, whose message needs no memory to make if that is what ran out.
      std::lock_guard lock(mu_);
      error_ = Error{Errc::kOs, "out of memory while reading"};
      ended_ = true;
      ready_.notify_one();
      return;
    }
    if (!more) return;
  }
}

bool ReadAhead::ReadOne() {
  Result<std::optional<Frame>> next = source_.Next();
  std::lock_guard lock(mu_);
  if (!next) {
    error_ = std::move(next).error();
    ended_ = true;
  } else if (!next->has_value()) {
    ended_ = true;
  } else {
    size_t bytes = QueuedBytes(**next);
    frames_.emplace_back(std::move(**next), bytes);
    bytes_ += bytes;
  }
  ready_.notify_one();
  return !ended_;
}

Result<std::optional<Frame>> ReadAhead::Next() {
  std::unique_lock lock(mu_);
  ready_.wait(lock, [&] { return !frames_.empty() || ended_; });
  if (!frames_.empty()) {
    auto [f, bytes] = std::move(frames_.front());
    frames_.pop_front();
    bytes_ -= bytes;
    const bool room = waiting_for_room_ && (frames_.empty() || bytes_ <= kMaxBytes / 2);
    lock.unlock();
    if (room) room_.notify_one();
    return std::move(f);
  }
  if (error_) return Fail(*error_);
  return std::nullopt;
}

}  // namespace mln::stream
