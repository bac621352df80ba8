// Pieces of the block quantizers shared by the scalar reference and the SIMD targets:
// bit packing and the per-superblock scale step of Q4_K, which are scalar in both.
#pragma once

#include <cstdint>
#include <cstring>

namespace mln::kernels::internal {

/// ggml's nearest_int: round half to even through the 1.5 * 2^23 magic constant. Valid for
/// |f| <= 4194303, which every caller guarantees for finite input.
inline int NearestInt(float f) {
  float val = f + 12582912.f;
  int i;
  std::memcpy(&i, &val, sizeof(int));
  return (i & 0x007fffff) - 0x00400000;
}

/// Packs 256 trits q in {-1, 0, 1} and the fp16 scale `d` into one TQ2_0 block (66 bytes).
void PackTq2(const int8_t* q, uint16_t d, uint8_t* out);
/// Same for TQ1_0 (base-3 bytes, 54 bytes).
void PackTq1(const int8_t* q, uint16_t d, uint8_t* out);
/// Packs 256 4-bit levels, the 12 packed scale bytes and d / dmin into one Q4_K block.
void PackQ4K(const uint8_t* L, const uint8_t* scales12, uint16_t d, uint16_t dmin, uint8_t* out);
/// get_scale_min_k4.
void GetScaleMinK4(int j, const uint8_t* q, uint8_t* d, uint8_t* m);
/// The 6-bit quantization of the eight sub-block scales and mins of a Q4_K block.
void Q4KScales(const float* scales, const float* mins, uint8_t* scales12, uint16_t* d,
               uint16_t* dmin);

}  // namespace mln::kernels::internal
