#include "libstream/kernels/delta.h"

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
