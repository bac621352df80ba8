#include "libstream/kernels/delta.h"

#include <bit>

#include "libstream/base/endian.h"

namespace mln::kernels {

size_t EncodeSparse(const uint8_t* base, const uint8_t* target, size_t n, uint8_t* out) {
  size_t bitmap = (n + 7) / 8;
  uint8_t* values = out + bitmap;
  size_t count = 0;
  for (size_t i = 0; i < bitmap; ++i) {
    uint8_t bits = 0;
    for (size_t b = 0; b < 8 && i * 8 + b < n; ++b) {
      uint8_t d = static_cast<uint8_t>(target[i * 8 + b] - base[i * 8 + b]);
      if (d != 0) {
        bits |= static_cast<uint8_t>(1u << b);
        values[count++] = d;
      }
    }
    out[i] = bits;
  }
  return bitmap + count;
}

bool ApplySparse(const uint8_t* payload, size_t size, size_t n, uint8_t* inout) {
  size_t bitmap = (n + 7) / 8;
  if (size < bitmap) return false;
  size_t count = 0;
  for (size_t i = 0; i < bitmap; ++i) count += static_cast<size_t>(std::popcount(payload[i]));
  if (count != size - bitmap) return false;
  if (n % 8 != 0 && (payload[bitmap - 1] >> (n % 8)) != 0) return false;
  const uint8_t* values = payload + bitmap;
  for (size_t i = 0; i < bitmap; ++i) {
    for (unsigned bits = payload[i]; bits != 0; bits &= bits - 1) {
      size_t at = i * 8 + static_cast<size_t>(std::countr_zero(bits));
      inout[at] = static_cast<uint8_t>(inout[at] + *values++);
    }
  }
  return true;
}

namespace {

template <typename T>
void Diff(uint8_t* p, size_t count) {
  T prev = 0;
  for (size_t i = 0; i < count; ++i) {
    T v = LoadLE<T>(p + i * sizeof(T));
    StoreLE<T>(p + i * sizeof(T), static_cast<T>(v - prev));
    prev = v;
  }
}

template <typename T>
void Sum(uint8_t* p, size_t count) {
  T acc = 0;
  for (size_t i = 0; i < count; ++i) {
    acc = static_cast<T>(acc + LoadLE<T>(p + i * sizeof(T)));
    StoreLE<T>(p + i * sizeof(T), acc);
  }
}

}  // namespace

void DiffElements(uint8_t* bytes, size_t size, size_t width) {
  size_t count = width == 0 ? 0 : size / width;
  if (width == 1) Diff<uint8_t>(bytes, count);
  else if (width == 2) Diff<uint16_t>(bytes, count);
  else if (width == 4) Diff<uint32_t>(bytes, count);
}

void SumElements(uint8_t* bytes, size_t size, size_t width) {
  size_t count = width == 0 ? 0 : size / width;
  if (width == 1) Sum<uint8_t>(bytes, count);
  else if (width == 2) Sum<uint16_t>(bytes, count);
  else if (width == 4) Sum<uint32_t>(bytes, count);
}

}  // namespace mln::kernels

namespace mln::kernels::ref {

void XorBytes(uint8_t* inout, const uint8_t* other, size_t n) {
  for (size_t i = 0; i < n; ++i) inout[i] ^= other[i];
}

void SubBytes(uint8_t* inout, const uint8_t* base, size_t n) {
  for (size_t i = 0; i < n; ++i) inout[i] = static_cast<uint8_t>(inout[i] - base[i]);
}

void AddBytes(uint8_t* inout, const uint8_t* base, size_t n) {
  for (size_t i = 0; i < n; ++i) inout[i] = static_cast<uint8_t>(inout[i] + base[i]);
}

}  // namespace mln::kernels::ref
