#include "tests/support/test_util.h"

#include <algorithm>
#include <cstring>

#include "libstream/base/byte_io.h"
#include "libstream/base/checked_math.h"
#include "libstream/codecs/codec.h"
#include "libstream/formats/convert.h"
#include "libstream/stream/reader.h"
#include "libstream/stream/writer.h"

namespace mln::testing {

Result<size_t> PipeLikeSource::ReadRaw(void* dst, size_t n) {
  size_t k = std::min({n, data_.size() - pos_, piece_});
  if (k != 0) std::memcpy(dst, data_.data() + pos_, k);
  pos_ += k;
  return k;
}

Result<void> FullSink::WriteRaw(const void*, size_t n) {
  if (written_ + n > limit_) return Fail(Errc::kIo, name() + ": No space left on device");
  written_ += n;
  return {};
}

Result<std::vector<uint8_t>> RoundTripModel(ByteSource& in, size_t chunk_size,
                                            std::string_view format, std::string_view member) {
  std::vector<uint8_t> stream_bytes, model;
  auto stream_sink = MakeMemorySink(&stream_bytes, "stream");
  formats::ParseOptions options;
  options.chunk_size = chunk_size;
  MLN_RETURN_IF_ERROR(formats::ParseToStream(in, *stream_sink, format, options, member));
  MLN_RETURN_IF_ERROR(stream_sink->Flush());
  auto stream_src = MakeMemorySource(stream_bytes, "stream");
  auto model_sink = MakeMemorySink(&model, "model");
  MLN_RETURN_IF_ERROR(formats::EmitFromStream(*stream_src, *model_sink));
  MLN_RETURN_IF_ERROR(model_sink->Flush());
  return model;
}

std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> out(n);
  uint64_t x = seed;
  for (size_t i = 0; i < n; ++i) {
    x += 0x9e3779b97f4a7c15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    out[i] = static_cast<uint8_t>(z ^ (z >> 31));
  }
  return out;
}

std::vector<uint8_t> SortedIndices(size_t rows, size_t columns, uint8_t keep, size_t width,
                                   uint64_t seed) {
  std::vector<uint8_t> r = RandomBytes(rows * columns, seed);
  std::vector<uint8_t> out;
  for (size_t row = 0; row < rows; ++row) {
    for (size_t c = 0; c < columns; ++c) {
      if (r[row * columns + c] >= keep) continue;
      for (size_t b = 0; b < width; ++b) out.push_back(static_cast<uint8_t>(c >> (8 * b)));
    }
  }
  return out;
}

stream::Frame MakeFrame(stream::FrameKind kind, std::string name, std::vector<uint8_t> payload) {
  stream::Frame f;
  f.header.kind = static_cast<uint16_t>(kind);
  f.header.name = std::move(name);
  f.payload.Append(payload.data(), payload.size());
  stream::SealFrame(f);
  return f;
}

std::vector<uint8_t> WriteStream(std::vector<stream::Frame> frames) {
  std::vector<uint8_t> out;
  auto sink = MakeMemorySink(&out, "mem");
  stream::Writer w(*sink);
  for (auto& f : frames) EXPECT_TRUE(w.Put(std::move(f)).has_value());
  EXPECT_TRUE(w.Finish().has_value());
  return out;
}

Result<std::vector<stream::Frame>> ReadStream(const std::vector<uint8_t>& bytes) {
  auto src = MakeMemorySource(bytes, "mem");
  stream::Reader r(*src);
  std::vector<stream::Frame> frames;
  for (;;) {
    MLN_TRY(auto f, r.Next());
    if (!f) break;
    MLN_RETURN_IF_ERROR(stream::VerifyFrame(*f));
    frames.push_back(std::move(*f));
  }
  return frames;
}

void PutU32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
std::string DecodeError(stream::Codec codec, std::span<const uint8_t> payload,
                        uint64_t decoded_size) {
  AlignedBuffer out;
  auto r = codecs::DecodePayload(static_cast<uint8_t>(codec), payload, decoded_size, out);
  return r ? std::string() : r.error().message;
}

void PutU64(std::vector<uint8_t>& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutStr(std::vector<uint8_t>& b, const std::string& s) {
  PutU64(b, s.size());
  b.insert(b.end(), s.begin(), s.end());
}

GgufBuilder& GgufBuilder::KvU32(const std::string& key, uint32_t v) {
  PutStr(kv_bytes_, key);
  PutU32(kv_bytes_, 4);
  PutU32(kv_bytes_, v);
  ++n_kv_;
  return *this;
}
GgufBuilder& GgufBuilder::KvString(const std::string& key, const std::string& v) {
  PutStr(kv_bytes_, key);
  PutU32(kv_bytes_, 8);
  PutStr(kv_bytes_, v);
  ++n_kv_;
  return *this;
}
GgufBuilder& GgufBuilder::KvF32(const std::string& key, float v) {
  PutStr(kv_bytes_, key);
  PutU32(kv_bytes_, 6);
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  PutU32(kv_bytes_, bits);
  ++n_kv_;
  return *this;
}
GgufBuilder& GgufBuilder::KvArrayI32(const std::string& key, const std::vector<int32_t>& v) {
  PutStr(kv_bytes_, key);
  PutU32(kv_bytes_, 9);
  PutU32(kv_bytes_, 5);
  PutU64(kv_bytes_, v.size());
  for (int32_t x : v) PutU32(kv_bytes_, static_cast<uint32_t>(x));
  ++n_kv_;
  return *this;
}
GgufBuilder& GgufBuilder::Tensor(const std::string& name, std::vector<int64_t> ne, uint32_t type,
                                 std::vector<uint8_t> data) {
  tensors_.push_back({name, std::move(ne), type, std::move(data)});
  return *this;
}

std::vector<uint8_t> GgufBuilder::Build() const {
  std::vector<uint8_t> b = {'G', 'G', 'U', 'F'};
  PutU32(b, version_);
  PutU64(b, claim_tensors_.value_or(tensors_.size()));
  PutU64(b, n_kv_);
  b.insert(b.end(), kv_bytes_.begin(), kv_bytes_.end());
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    PutStr(b, t.name);
    PutU32(b, static_cast<uint32_t>(t.ne.size()));
    for (int64_t n : t.ne) PutU64(b, static_cast<uint64_t>(n));
    PutU32(b, t.type);
    PutU64(b, offset);
    offset += t.data.size() + PadTo(t.data.size(), alignment_);
  }
  b.resize(b.size() + PadTo(b.size(), alignment_), 0);
  for (const auto& t : tensors_) {
    b.insert(b.end(), t.data.begin(), t.data.end());
    b.resize(b.size() + PadTo(t.data.size(), alignment_), 0);
  }
  return b;
}

}  // namespace mln::testing
