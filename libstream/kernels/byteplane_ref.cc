#include <cstring>

#include "libstream/kernels/byteplane.h"

namespace mln::kernels::ref {
namespace {

uint32_t Load(const uint8_t* p, size_t width) {
  uint32_t v = 0;
  std::memcpy(&v, p, width);
  return v;
}

uint32_t RotateLeft1(uint32_t v, size_t width) {
  uint32_t bits = static_cast<uint32_t>(width * 8);
  uint32_t mask = bits == 32 ? 0xFFFFFFFFu : (1u << bits) - 1;
  return ((v << 1) | (v >> (bits - 1))) & mask;
}

uint32_t RotateRight1(uint32_t v, size_t width) {
  uint32_t bits = static_cast<uint32_t>(width * 8);
  uint32_t mask = bits == 32 ? 0xFFFFFFFFu : (1u << bits) - 1;
  return ((v >> 1) | (v << (bits - 1))) & mask;
}

}  // namespace

void SplitPlanes(const uint8_t* in, size_t n, size_t width, bool rotate, uint8_t* const* planes) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t v = Load(in + i * width, width);
    if (rotate) v = RotateLeft1(v, width);
    for (size_t b = 0; b < width; ++b) planes[b][i] = static_cast<uint8_t>(v >> (8 * b));
  }
}

void MergePlanes(const uint8_t* const* planes, size_t n, size_t width, bool rotate, uint8_t* out) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t v = 0;
    for (size_t b = 0; b < width; ++b) v |= static_cast<uint32_t>(planes[b][i]) << (8 * b);
    if (rotate) v = RotateRight1(v, width);
    std::memcpy(out + i * width, &v, width);
  }
}

}  // namespace mln::kernels::ref
