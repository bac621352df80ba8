// Little-endian loads and stores; every on-disk integer in mln and GGUF is little-endian.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace mln {

static_assert(std::endian::native == std::endian::little,
              "mln assumes a little-endian host; add byte swaps here to port it");

template <typename T>
inline T LoadLE(const void* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
inline void StoreLE(void* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

}  // namespace mln
