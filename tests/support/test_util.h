// Helpers shared by the GoogleTest suites.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/base/status.h"
#include "libstream/stream/frame.h"

#define ASSERT_OK(expr)                                                 \
  do {                                                                  \
    auto&& mln_r_ = (expr);                                             \
    ASSERT_TRUE(mln_r_.has_value()) << mln_r_.error().ToString();       \
  } while (0)

#define MLN_TEST_CONCAT_(a, b) a##b
#define MLN_TEST_CONCAT(a, b) MLN_TEST_CONCAT_(a, b)
#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)                  \
  auto tmp = (expr);                                                \
  ASSERT_TRUE(tmp.has_value()) << tmp.error().ToString();           \
  lhs = std::move(*tmp)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(MLN_TEST_CONCAT(mln_t_, __LINE__), lhs, expr)

namespace mln::testing {

/// Memory read like a pipe: no size, no fd, reads of at most `piece` bytes.
class PipeLikeSource final : public ByteSource {
 public:
  explicit PipeLikeSource(const std::vector<uint8_t>& data, size_t piece = 4093)
      : ByteSource("<pipe>"), data_(data), piece_(piece) {}

 protected:
  Result<size_t> ReadRaw(void* dst, size_t n) override;

 private:
  const std::vector<uint8_t>& data_;
  size_t piece_;
  size_t pos_ = 0;
};

/// Accepts `limit` bytes, then fails every write with Errc::kIo "NAME: No space left on
/// device", as a full disk does.
class FullSink final : public ByteSink {
 public:
  FullSink(std::string name, uint64_t limit) : ByteSink(std::move(name)), limit_(limit) {}

 protected:
  Result<void> WriteRaw(const void* src, size_t n) override;

 private:
  uint64_t limit_;
  uint64_t written_ = 0;
};

/// model -> stream -> model through formats::ParseToStream and EmitFromStream, with
/// `chunk_size`-byte chunks; returns the emitted model bytes.
Result<std::vector<uint8_t>> RoundTripModel(ByteSource& in, size_t chunk_size,
                                            std::string_view format = "",
                                            std::string_view member = "");

/// Deterministic bytes (splitmix64), so failures reproduce.
std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed);

/// The column indices of a CSR matrix of `rows` x `columns` (a pruned weight's sparse
/// index array) that keeps each element with probability keep / 256, as `width`-byte
/// little-endian elements; deterministic like RandomBytes.
std::vector<uint8_t> SortedIndices(size_t rows, size_t columns, uint8_t keep, size_t width,
                                   uint64_t seed);

/// A frame with `payload` bytes, sealed.
stream::Frame MakeFrame(stream::FrameKind kind, std::string name, std::vector<uint8_t> payload);

/// Writes frames with stream::Writer into memory and returns the stream bytes.
std::vector<uint8_t> WriteStream(std::vector<stream::Frame> frames);

/// Reads a whole stream from memory; returns the frames or the first error.
Result<std::vector<stream::Frame>> ReadStream(const std::vector<uint8_t>& bytes);

/// Builds GGUF files byte by byte, for synthetic and hostile inputs (the real ones come
/// from ggml's own writer, tests/support/ggml_fixture.cc).
class GgufBuilder {
 public:
  explicit GgufBuilder(uint32_t version = 3) : version_(version) {}
  GgufBuilder& KvU32(const std::string& key, uint32_t v);
  GgufBuilder& KvString(const std::string& key, const std::string& v);
  GgufBuilder& KvF32(const std::string& key, float v);
  GgufBuilder& KvArrayI32(const std::string& key, const std::vector<int32_t>& v);
  /// Adds a tensor; its data is `data` placed at the next aligned offset.
  GgufBuilder& Tensor(const std::string& name, std::vector<int64_t> ne, uint32_t type,
                      std::vector<uint8_t> data);
  /// Overrides the tensor count written in the header (hostile inputs).
  GgufBuilder& ClaimTensors(uint64_t n) { claim_tensors_ = n; return *this; }
  GgufBuilder& Alignment(uint32_t a) { alignment_ = a; return KvU32("general.alignment", a); }
  std::vector<uint8_t> Build() const;

 private:
  struct T {
    std::string name;
    std::vector<int64_t> ne;
    uint32_t type;
    std::vector<uint8_t> data;
  };
  uint32_t version_;
  uint32_t alignment_ = 32;
  std::vector<uint8_t> kv_bytes_;
  uint64_t n_kv_ = 0;
  std::vector<T> tensors_;
  std::optional<uint64_t> claim_tensors_;
};

/// The message with which DecodePayload refuses `payload` as `codec` for `decoded_size`
/// bytes; empty when it decodes.
std::string DecodeError(stream::Codec codec, std::span<const uint8_t> payload,
                        uint64_t decoded_size);

/// Appends little-endian values and GGUF strings.
void PutU32(std::vector<uint8_t>& b, uint32_t v);
void PutU64(std::vector<uint8_t>& b, uint64_t v);
void PutStr(std::vector<uint8_t>& b, const std::string& s);

}  // namespace mln::testing
