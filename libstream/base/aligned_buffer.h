// A move-only byte buffer whose data is 64-byte aligned, so SIMD kernels can work on
// frame payloads in place (stream invariant 1).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <utility>

namespace mln {

inline constexpr size_t kPayloadAlignment = 64;

namespace internal {
/// Returns a 64-byte aligned block of at least `size` bytes, reusing a recently released
/// large block when one fits. Throws std::bad_alloc.
void* AcquireBlock(size_t size, size_t* capacity);
/// Gives a block back; large blocks are kept for reuse up to a fixed total.
void ReleaseBlock(void* p, size_t capacity);
}  // namespace internal

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t size) { Resize(size); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        capacity_(std::exchange(o.capacity_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      internal::ReleaseBlock(data_, capacity_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      capacity_ = std::exchange(o.capacity_, 0);
    }
    return *this;
  }
  ~AlignedBuffer() { internal::ReleaseBlock(data_, capacity_); }

  /// Grows or shrinks to `size` bytes, keeping the prefix; new bytes are uninitialised.
  /// Throws std::bad_alloc (mapped to exit 71 by cli::RunMain).
  void Resize(size_t size) {
    if (size > capacity_) Reserve(size);
    size_ = size;
  }
  void Reserve(size_t capacity) {
    if (capacity <= capacity_) return;
    size_t got = 0;
    void* p = internal::AcquireBlock(capacity, &got);
    if (size_ != 0) std::memcpy(p, data_, size_);
    internal::ReleaseBlock(data_, capacity_);
    data_ = static_cast<uint8_t*>(p);
    capacity_ = got;
  }
  void Append(const void* src, size_t n) {
    size_t old = size_;
    if (old + n > capacity_) Reserve(std::max(old + n, capacity_ * 2));
    if (n != 0) std::memcpy(data_ + old, src, n);
    size_ = old + n;
  }
  void Clear() { size_ = 0; }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  std::span<uint8_t> span() { return {data_, size_}; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace mln
