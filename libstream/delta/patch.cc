#include "libstream/delta/patch.h"

#include <charconv>

namespace mln::delta {

std::string OpName(uint8_t op) {
  switch (static_cast<PatchOp>(op)) {
    case PatchOp::kKeep: return "keep";
    case PatchOp::kXor: return "xor";
    case PatchOp::kSub: return "sub";
    case PatchOp::kReplace: return "replace";
    case PatchOp::kInsert: return "insert";
    case PatchOp::kDelete: return "delete";
    case PatchOp::kZdelta: return "zdelta";
    case PatchOp::kFdelta: return "fdelta";
    case PatchOp::kSparse: return "sparse";
    case PatchOp::kQ8delta: return "q8delta";
    case PatchOp::kIdelta: return "idelta";
  }
  return "op" + std::to_string(op);
}

std::optional<kernels::FloatLayout> FloatLayoutOf(uint32_t dtype) {
  switch (static_cast<stream::Dtype>(dtype)) {
    case stream::Dtype::kF16: return kernels::FloatLayout{2, 10, 5};
    case stream::Dtype::kBF16: return kernels::FloatLayout{2, 7, 8};
    case stream::Dtype::kF32: return kernels::FloatLayout{4, 23, 8};
    default: return std::nullopt;
  }
}

namespace {

Result<uint64_t> NumberAttr(const stream::FrameHeader& h, std::string_view key) {
  auto v = h.Attr(key);
  uint64_t out = 0;
  if (!v) return Fail(Errc::kBadData, std::string(h.name) + ": missing " + std::string(key));
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size()) {
    return Fail(Errc::kBadData, std::string(h.name) + ": " + std::string(key) +
                                    " is not a number: '" + std::string(*v) + "'");
  }
  return out;
}

Result<std::string> DigestAttr(const stream::FrameHeader& h, std::string_view key) {
  auto v = h.Attr(key);
  if (!v || v->size() != 64 ||
      v->find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return Fail(Errc::kBadData,
                std::string(h.name) + ": " + std::string(key) + " is not a SHA-256 in hex");
  }
  return std::string(*v);
}

}  // namespace

Result<void> ReadPatchFrame(const stream::FrameHeader& h, PatchInfo& info) {
  if (h.name == kBeginName) {
    MLN_TRY(info.base_size, NumberAttr(h, kAttrBaseSize));
    MLN_TRY(info.new_size, NumberAttr(h, kAttrNewSize));
    info.base_format = std::string(h.Attr(kAttrBaseFormat).value_or(""));
    info.new_format = std::string(h.Attr(kAttrNewFormat).value_or(""));
    return {};
  }
  if (h.name == kEndName) {
    MLN_TRY(info.base_sha256, DigestAttr(h, kAttrBaseSha256));
    MLN_TRY(info.new_sha256, DigestAttr(h, kAttrNewSha256));
    return {};
  }
  return Fail(Errc::kBadData, "unknown patch frame '" + h.name + "'");
}

}  // namespace mln::delta
