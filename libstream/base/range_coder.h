// The binary range coder of LZMA: a 32-bit range, a 64-bit low whose carries go back into
// the bytes already written (held in `cache_` and `pending_` until they cannot change), and
// a probability of each bit supplied by the caller's model.
//
// Hand-written because no library offers it: zstd and xz have range or ANS coders only
// inside their own formats, with their own fixed models, not as a coder a caller drives
// with its own contexts. Two models drive this one: the Q8_0 re-quantization delta
// (kernels/q8_delta.cc) and the context model of byte planes (codecs/context_model.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mln {

/// Probabilities are of a 0 bit, in units of 1/4096, and must lie in 1..4095: at 0 or 4096
/// a bit could leave an empty range, which no renormalisation recovers from.
inline constexpr unsigned kRangeProbBits = 12;

class RangeEncoder {
 public:
  RangeEncoder(uint8_t* out, size_t cap) : out_(out), cap_(cap) {}

  /// Codes `bit`, whose probability of being 0 is p0 / 4096.
  void Encode(unsigned bit, uint32_t p0) {
    const uint32_t bound = (range_ >> kRangeProbBits) * p0;
    if (bit == 0) {
      range_ = bound;
    } else {
      low_ += bound;
      range_ -= bound;
    }
    while (range_ < kTop) {
      range_ <<= 8;
      ShiftLow();
    }
  }

  /// Flushes the last bytes; returns the bytes written, or 0 when they did not fit.
  size_t Finish() {
    for (int i = 0; i < 5; ++i) ShiftLow();
    return overflow_ ? 0 : size_;
  }
  /// Whether the output has already outgrown its capacity (the caller may stop early).
  bool overflow() const { return overflow_; }

 private:
  static constexpr uint32_t kTop = 1u << 24;  // the range is renormalised below this

  void ShiftLow() {
    if (static_cast<uint32_t>(low_) < 0xFF000000u || (low_ >> 32) != 0) {
      auto carry = static_cast<uint8_t>(low_ >> 32);
      uint8_t byte = cache_;
      do {
        Put(static_cast<uint8_t>(byte + carry));
        byte = 0xFF;
      } while (--pending_ != 0);
      cache_ = static_cast<uint8_t>(low_ >> 24);
    }
    ++pending_;
    low_ = (low_ & 0x00FFFFFFu) << 8;
  }

  void Put(uint8_t b) {
    if (size_ < cap_) {
      out_[size_++] = b;
    } else {
      overflow_ = true;
    }
  }

  uint64_t low_ = 0;
  uint32_t range_ = 0xFFFFFFFFu;
  uint8_t cache_ = 0;
  uint64_t pending_ = 1;
  uint8_t* out_;
  size_t cap_;
  size_t size_ = 0;
  bool overflow_ = false;
};

class RangeDecoder {
 public:
  RangeDecoder(const uint8_t* in, size_t n) : in_(in), n_(n) {
    for (int i = 0; i < 5; ++i) code_ = (code_ << 8) | Next();
  }

  /// The next bit, whose probability of being 0 is p0 / 4096.
  unsigned Decode(uint32_t p0) {
    const uint32_t bound = (range_ >> kRangeProbBits) * p0;
    unsigned bit;
    if (code_ < bound) {
      range_ = bound;
      bit = 0;
    } else {
      code_ -= bound;
      range_ -= bound;
      bit = 1;
    }
    while (range_ < kTop) {
      range_ <<= 8;
      code_ = (code_ << 8) | Next();
    }
    return bit;
  }

 private:
  static constexpr uint32_t kTop = 1u << 24;

  // Past the end a damaged payload reads zeros: the output keeps its size, and the checksum
  // of what it decodes to reports the damage.
  uint8_t Next() { return pos_ < n_ ? in_[pos_++] : 0; }

  const uint8_t* in_;
  size_t n_;
  size_t pos_ = 0;
  uint32_t code_ = 0;
  uint32_t range_ = 0xFFFFFFFFu;
};

}  // namespace mln
