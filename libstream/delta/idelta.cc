#include "libstream/delta/idelta.h"

#include <cstring>

#include "libstream/delta/zstd_prefix.h"
#include "libstream/stream/frame.h"

namespace mln::delta {
namespace {

// Scalar on purpose: a running sum is serial, and the arrays are a few KiB to MiB once per
// patch, far below the cost of the zstd pass that follows.
template <typename T>
void Diff(uint8_t* p, size_t count) {
  T prev = 0;
  for (size_t i = 0; i < count; ++i) {
    T v = 0;
    for (size_t b = 0; b < sizeof(T); ++b) v |= static_cast<T>(p[i * sizeof(T) + b]) << (8 * b);
    T d = static_cast<T>(v - prev);
    prev = v;
    for (size_t b = 0; b < sizeof(T); ++b) p[i * sizeof(T) + b] = static_cast<uint8_t>(d >> (8 * b));
  }
}

template <typename T>
void Sum(uint8_t* p, size_t count) {
  T acc = 0;
  for (size_t i = 0; i < count; ++i) {
    T d = 0;
    for (size_t b = 0; b < sizeof(T); ++b) d |= static_cast<T>(p[i * sizeof(T) + b]) << (8 * b);
    acc = static_cast<T>(acc + d);
    for (size_t b = 0; b < sizeof(T); ++b) p[i * sizeof(T) + b] = static_cast<uint8_t>(acc >> (8 * b));
  }
}

AlignedBuffer Differenced(std::span<const uint8_t> bytes, size_t width) {
  AlignedBuffer out(bytes.size());
  if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  DiffElements(out.span(), width);
  return out;
}

}  // namespace

std::optional<size_t> IdeltaWidth(uint32_t dtype) {
  switch (static_cast<stream::Dtype>(dtype)) {
    case stream::Dtype::kU8:
    case stream::Dtype::kI8: return 1;
    case stream::Dtype::kU16:
    case stream::Dtype::kI16: return 2;
    case stream::Dtype::kU32:
    case stream::Dtype::kI32: return 4;
    default: return std::nullopt;
  }
}

void DiffElements(std::span<uint8_t> bytes, size_t width) {
  size_t count = width == 0 ? 0 : bytes.size() / width;
  if (width == 1) Diff<uint8_t>(bytes.data(), count);
  else if (width == 2) Diff<uint16_t>(bytes.data(), count);
  else if (width == 4) Diff<uint32_t>(bytes.data(), count);
}

void SumElements(std::span<uint8_t> bytes, size_t width) {
  size_t count = width == 0 ? 0 : bytes.size() / width;
  if (width == 1) Sum<uint8_t>(bytes.data(), count);
  else if (width == 2) Sum<uint16_t>(bytes.data(), count);
  else if (width == 4) Sum<uint32_t>(bytes.data(), count);
}

Result<AlignedBuffer> EncodeIdelta(std::span<const uint8_t> target, std::span<const uint8_t> base,
                                   size_t width, int level) {
  AlignedBuffer t = Differenced(target, width);
  AlignedBuffer b = Differenced(base, width);
  return CompressWithPrefix(t.span(), b.span(), level);
}

Result<AlignedBuffer> DecodeIdelta(std::span<const uint8_t> payload,
                                   std::span<const uint8_t> base, size_t width,
                                   uint64_t out_size) {
  if (width != 1 && width != 2 && width != 4) {
    return Fail(Errc::kBadData, "index delta of elements of " + std::to_string(width) +
                                    " bytes, expected 1, 2 or 4");
  }
  AlignedBuffer b = Differenced(base, width);
  MLN_TRY(AlignedBuffer out, DecompressWithPrefix(payload, b.span(), out_size));
  SumElements(out.span(), width);
  return out;
}

}  // namespace mln::delta
