// Overflow-checked arithmetic for sizes read from untrusted headers.
#pragma once

#include <cstdint>
#include <optional>

namespace mln {

inline std::optional<uint64_t> CheckedMul(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}
inline std::optional<uint64_t> CheckedAdd(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}
/// Rounds `v` up to a multiple of `align` (a power of two or any non-zero value).
inline std::optional<uint64_t> AlignUp(uint64_t v, uint64_t align) {
  uint64_t rem = v % align;
  if (rem == 0) return v;
  return CheckedAdd(v, align - rem);
}
/// Bytes of padding that bring `v` to a multiple of `align`.
inline uint64_t PadTo(uint64_t v, uint64_t align) { return (align - v % align) % align; }

}  // namespace mln
