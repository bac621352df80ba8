#include "libstream/delta/idelta.h"

#include <cstring>

#include "libstream/delta/zstd_prefix.h"
#include "libstream/kernels/delta.h"
#include "libstream/stream/frame.h"

namespace mln::delta {
namespace {

AlignedBuffer Differenced(std::span<const uint8_t> bytes, size_t width) {
  AlignedBuffer out(bytes.size());
  if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  kernels::DiffElements(out.data(), out.size(), width);
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
  kernels::SumElements(out.data(), out.size(), width);
  return out;
}

}  // namespace mln::delta
