#include "libstream/codecs/codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "tests/support/test_util.h"

namespace mln::codecs {
namespace {

using stream::Codec;
using stream::Dtype;

// Weight-like floats: normal(0, 0.02), deterministic. Their exponents cluster, their
// mantissas do not, which is what the byte-plane codec is for.
std::vector<uint8_t> Weights(size_t n, Dtype dtype, uint64_t seed) {
  std::vector<uint8_t> r = testing::RandomBytes(n * 8, seed);
  std::vector<uint8_t> out;
  for (size_t i = 0; i < n; ++i) {
    uint32_t a, b;
    std::memcpy(&a, &r[i * 8], 4);
    std::memcpy(&b, &r[i * 8 + 4], 4);
    double u1 = (a + 1.0) / 4294967297.0, u2 = b / 4294967296.0;
    float w = static_cast<float>(0.02 * std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307 * u2));
    uint32_t bits;
    std::memcpy(&bits, &w, 4);
    if (dtype == Dtype::kF32) {
      for (int k = 0; k < 4; ++k) out.push_back(static_cast<uint8_t>(bits >> (8 * k)));
    } else if (dtype == Dtype::kBF16) {
      uint16_t h = static_cast<uint16_t>(bits >> 16);
      out.push_back(static_cast<uint8_t>(h));
      out.push_back(static_cast<uint8_t>(h >> 8));
    } else {  // f16 by truncation: exact rounding does not matter for a codec test
      uint32_t sign = bits >> 31, exp = (bits >> 23) & 0xFF, man = bits & 0x7FFFFF;
      int e = static_cast<int>(exp) - 127 + 15;
      uint16_t h = e <= 0 ? static_cast<uint16_t>(sign << 15)
                          : static_cast<uint16_t>((sign << 15) | (e << 10) | (man >> 13));
      out.push_back(static_cast<uint8_t>(h));
      out.push_back(static_cast<uint8_t>(h >> 8));
    }
  }
  return out;
}

stream::Frame FrameOf(std::vector<uint8_t> bytes, Dtype dtype) {
  stream::Frame f = testing::MakeFrame(stream::FrameKind::kTensor, "w", std::move(bytes));
  f.header.dtype = static_cast<uint32_t>(dtype);
  return f;
}

TEST(CodecTest, FloatsRoundTripAndShrinkBeyondPlainZstd) {
  for (Dtype dtype : {Dtype::kF32, Dtype::kF16, Dtype::kBF16}) {
    std::vector<uint8_t> raw = Weights(300001, dtype, 1);  // odd count: a tail too
    raw.push_back(0x5A);
    stream::Frame auto_frame = FrameOf(raw, dtype);
    ASSERT_OK(EncodeFrame(auto_frame, {}));
    stream::Frame zstd_frame = FrameOf(raw, dtype);
    ASSERT_OK(EncodeFrame(zstd_frame, {3, Codec::kZstd}));
    EXPECT_EQ(auto_frame.header.codec, static_cast<uint8_t>(Codec::kBytePlane)) << static_cast<int>(dtype);
    EXPECT_LT(auto_frame.payload.size(), zstd_frame.payload.size()) << static_cast<int>(dtype);
    ASSERT_OK(stream::VerifyFrame(auto_frame));  // decodes to check
    ASSERT_OK(DecodeFrame(auto_frame));
    ASSERT_EQ(auto_frame.payload.size(), raw.size());
    EXPECT_EQ(0, std::memcmp(auto_frame.payload.data(), raw.data(), raw.size()));
    ASSERT_OK(DecodeFrame(zstd_frame));
    EXPECT_EQ(0, std::memcmp(zstd_frame.payload.data(), raw.data(), raw.size()));
  }
}

TEST(CodecTest, IncompressibleStaysRaw) {
  stream::Frame f = FrameOf(testing::RandomBytes(100000, 3), Dtype::kU8);
  ASSERT_OK(EncodeFrame(f, {}));
  EXPECT_EQ(f.header.codec, static_cast<uint8_t>(Codec::kRaw));
  EXPECT_EQ(f.payload.size(), 100000u);
}

TEST(CodecTest, DamagedPayloadsAreRefused) {
  std::vector<uint8_t> raw = Weights(50000, Dtype::kF32, 4);
  stream::Frame f = FrameOf(raw, Dtype::kF32);
  ASSERT_OK(EncodeFrame(f, {}));
  ASSERT_EQ(f.header.codec, static_cast<uint8_t>(Codec::kBytePlane));
  // A flipped bit anywhere in the stored payload must not decode to accepted bytes.
  for (size_t at = 0; at < f.payload.size(); at += 97) {
    stream::Frame bad;
    bad.header = f.header;
    bad.payload.Append(f.payload.data(), f.payload.size());
    bad.payload.data()[at] ^= 0x10;
    EXPECT_FALSE(DecodeFrame(bad).has_value()) << "flip at " << at;
  }
  // A claimed decoded size past the frame limit is refused before allocating.
  stream::Frame huge;
  huge.header = f.header;
  huge.header.decoded_size = 1ull << 40;
  huge.payload.Append(f.payload.data(), f.payload.size());
  auto r = DecodeFrame(huge);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("exceeds"), std::string::npos);
  // Unknown codec ids are "unsupported", not "corrupt".
  stream::Frame future;
  future.header = f.header;
  future.header.codec = 200;
  EXPECT_EQ(DecodeFrame(future).error().code, Errc::kUnsupported);
}

TEST(CodecTest, NamesParseBack) {
  for (Codec c : {Codec::kRaw, Codec::kZstd, Codec::kBytePlane}) {
    EXPECT_EQ(ParseCodec(CodecName(static_cast<uint8_t>(c))), c);
  }
  EXPECT_FALSE(ParseCodec("lzma").has_value());
}

}  // namespace
}  // namespace mln::codecs
