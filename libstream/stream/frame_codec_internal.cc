#include "libstream/stream/frame_codec_internal.h"

#include "libstream/base/endian.h"

#include "mln_frame_generated.h"

namespace mln::stream::internal {

std::vector<uint8_t> EncodeHeader(const FrameHeader& h) {
  flatbuffers::FlatBufferBuilder fbb(256 + h.name.size());
  auto name = h.name.empty() ? 0 : fbb.CreateString(h.name);
  auto shape = h.shape.empty() ? 0 : fbb.CreateVector(h.shape);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Attribute>>> attrs = 0;
  if (!h.attrs.empty()) {
    std::vector<flatbuffers::Offset<fb::Attribute>> v;
    v.reserve(h.attrs.size());
    for (const auto& a : h.attrs) {
      v.push_back(fb::CreateAttribute(fbb, fbb.CreateString(a.key), fbb.CreateString(a.value)));
    }
    attrs = fbb.CreateVector(v);
  }
  auto digest = h.digest.empty() ? 0 : fbb.CreateVector(h.digest);
  auto format = h.format.empty() ? 0 : fbb.CreateString(h.format);
  fb::FrameHeaderBuilder b(fbb);
  b.add_kind(h.kind);
  if (!name.IsNull()) b.add_name(name);
  b.add_dtype(h.dtype);
  if (!shape.IsNull()) b.add_shape(shape);
  b.add_file_offset(h.file_offset);
  b.add_tensor_offset(h.tensor_offset);
  b.add_tensor_bytes(h.tensor_bytes);
  b.add_chunk_index(h.chunk_index);
  b.add_chunk_count(h.chunk_count);
  b.add_codec(h.codec);
  b.add_decoded_size(h.decoded_size);
  b.add_checksum(h.checksum);
  if (!attrs.IsNull()) b.add_attrs(attrs);
  b.add_frame_count(h.frame_count);
  if (!digest.IsNull()) b.add_digest(digest);
  if (!format.IsNull()) b.add_format(format);
  b.add_file_size(h.file_size);
  b.add_op(h.op);
  b.add_base_offset(h.base_offset);
  b.add_base_size(h.base_size);
  b.add_base_checksum(h.base_checksum);
  b.add_out_size(h.out_size);
  b.add_out_checksum(h.out_checksum);
  fbb.Finish(b.Finish());
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

Result<FrameHeader> DecodeHeader(std::span<const uint8_t> bytes) {
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), kMaxVerifierDepth,
                                 kMaxVerifierTables);
  if (!fb::VerifyFrameHeaderBuffer(verifier)) {
    return Fail(Errc::kBadData, "frame header is not a valid FlatBuffer");
  }
  const fb::FrameHeader* f = fb::GetFrameHeader(bytes.data());
  FrameHeader h;
  h.kind = f->kind();
  if (f->name()) h.name = f->name()->str();
  h.dtype = f->dtype();
  if (const auto* shape = f->shape()) {
    // Element by element: FlatBuffers 2.0.8's Verifier aligns a vector's length but not its
    // 8-byte elements, and a hostile header misaligns them (UBSan, found by fuzzing).
    h.shape.resize(shape->size());
    for (size_t i = 0; i < h.shape.size(); ++i) {
      h.shape[i] = LoadLE<int64_t>(shape->Data() + i * sizeof(int64_t));
    }
  }
  h.file_offset = f->file_offset();
  h.tensor_offset = f->tensor_offset();
  h.tensor_bytes = f->tensor_bytes();
  h.chunk_index = f->chunk_index();
  h.chunk_count = f->chunk_count();
  h.codec = f->codec();
  h.decoded_size = f->decoded_size();
  h.checksum = f->checksum();
  if (f->attrs()) {
    for (const fb::Attribute* a : *f->attrs()) {
      h.attrs.push_back({a->key() ? a->key()->str() : "", a->value() ? a->value()->str() : ""});
    }
  }
  h.frame_count = f->frame_count();
  if (f->digest()) h.digest.assign(f->digest()->begin(), f->digest()->end());
  if (f->format()) h.format = f->format()->str();
  h.file_size = f->file_size();
  h.op = f->op();
  h.base_offset = f->base_offset();
  h.base_size = f->base_size();
  h.base_checksum = f->base_checksum();
  h.out_size = f->out_size();
  h.out_checksum = f->out_checksum();
  return h;
}

}  // namespace mln::stream::internal
