// SIMD byte-plane split/merge with Highway runtime dispatch (one compiled copy per target).
#include <cstring>

#include "libstream/kernels/byteplane.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "libstream/kernels/byteplane.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mln::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Elements per block: rotated elements are staged in a stack buffer this big, small enough
// to stay in L1.
constexpr size_t kBlock = 1024;

template <typename T>
void Rotate(const uint8_t* in, size_t n, bool left, uint8_t* out) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  constexpr int kBits = sizeof(T) * 8;
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    auto v = hn::LoadU(d, reinterpret_cast<const T*>(in) + i);
    auto r = left ? hn::Or(hn::ShiftLeft<1>(v), hn::ShiftRight<kBits - 1>(v))
                  : hn::Or(hn::ShiftRight<1>(v), hn::ShiftLeft<kBits - 1>(v));
    hn::StoreU(r, d, reinterpret_cast<T*>(out) + i);
  }
  for (; i < n; ++i) {
    T v;
    std::memcpy(&v, in + i * sizeof(T), sizeof(T));
    v = left ? static_cast<T>((v << 1) | (v >> (kBits - 1)))
             : static_cast<T>((v >> 1) | (v << (kBits - 1)));
    std::memcpy(out + i * sizeof(T), &v, sizeof(T));
  }
}

void SplitBlock(const uint8_t* in, size_t n, size_t width, uint8_t* const* planes, size_t at) {
  const hn::ScalableTag<uint8_t> d8;
  const size_t lanes = hn::Lanes(d8);
  size_t i = 0;
  if (width == 2) {
    for (; i + lanes <= n; i += lanes) {
      hn::Vec<decltype(d8)> v0, v1;
      hn::LoadInterleaved2(d8, in + 2 * i, v0, v1);
      hn::StoreU(v0, d8, planes[0] + at + i);
      hn::StoreU(v1, d8, planes[1] + at + i);
    }
  } else {
    for (; i + lanes <= n; i += lanes) {
      hn::Vec<decltype(d8)> v0, v1, v2, v3;
      hn::LoadInterleaved4(d8, in + 4 * i, v0, v1, v2, v3);
      hn::StoreU(v0, d8, planes[0] + at + i);
      hn::StoreU(v1, d8, planes[1] + at + i);
      hn::StoreU(v2, d8, planes[2] + at + i);
      hn::StoreU(v3, d8, planes[3] + at + i);
    }
  }
  for (; i < n; ++i) {
    for (size_t b = 0; b < width; ++b) planes[b][at + i] = in[i * width + b];
  }
}

void MergeBlock(const uint8_t* const* planes, size_t at, size_t n, size_t width, uint8_t* out) {
  const hn::ScalableTag<uint8_t> d8;
  const size_t lanes = hn::Lanes(d8);
  size_t i = 0;
  if (width == 2) {
    for (; i + lanes <= n; i += lanes) {
      hn::StoreInterleaved2(hn::LoadU(d8, planes[0] + at + i), hn::LoadU(d8, planes[1] + at + i),
                            d8, out + 2 * i);
    }
  } else {
    for (; i + lanes <= n; i += lanes) {
      hn::StoreInterleaved4(hn::LoadU(d8, planes[0] + at + i), hn::LoadU(d8, planes[1] + at + i),
                            hn::LoadU(d8, planes[2] + at + i), hn::LoadU(d8, planes[3] + at + i),
                            d8, out + 4 * i);
    }
  }
  for (; i < n; ++i) {
    for (size_t b = 0; b < width; ++b) out[i * width + b] = planes[b][at + i];
  }
}

void SplitPlanes(const uint8_t* in, size_t n, size_t width, bool rotate, uint8_t* const* planes) {
  HWY_ALIGN uint8_t staged[kBlock * 4];
  for (size_t at = 0; at < n; at += kBlock) {
    size_t k = std::min(kBlock, n - at);
    const uint8_t* src = in + at * width;
    if (rotate) {
      if (width == 2) Rotate<uint16_t>(src, k, true, staged);
      else Rotate<uint32_t>(src, k, true, staged);
      src = staged;
    }
    SplitBlock(src, k, width, planes, at);
  }
}

void MergePlanes(const uint8_t* const* planes, size_t n, size_t width, bool rotate, uint8_t* out) {
  HWY_ALIGN uint8_t staged[kBlock * 4];
  for (size_t at = 0; at < n; at += kBlock) {
    size_t k = std::min(kBlock, n - at);
    uint8_t* dst = out + at * width;
    if (!rotate) {
      MergeBlock(planes, at, k, width, dst);
      continue;
    }
    MergeBlock(planes, at, k, width, staged);
    if (width == 2) Rotate<uint16_t>(staged, k, false, dst);
    else Rotate<uint32_t>(staged, k, false, dst);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace mln::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mln::kernels {

HWY_EXPORT(SplitPlanes);
HWY_EXPORT(MergePlanes);

void SplitPlanes(const uint8_t* in, size_t n, size_t width, bool rotate, uint8_t* const* planes) {
  if (width != 2 && width != 4) return ref::SplitPlanes(in, n, width, rotate, planes);
  HWY_DYNAMIC_DISPATCH(SplitPlanes)(in, n, width, rotate, planes);
}

void MergePlanes(const uint8_t* const* planes, size_t n, size_t width, bool rotate, uint8_t* out) {
  if (width != 2 && width != 4) return ref::MergePlanes(planes, n, width, rotate, out);
  HWY_DYNAMIC_DISPATCH(MergePlanes)(planes, n, width, rotate, out);
}

}  // namespace mln::kernels
#endif  // HWY_ONCE
