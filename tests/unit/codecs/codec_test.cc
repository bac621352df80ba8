#include "libstream/codecs/codec.h"
#include "libstream/codecs/block_fields.h"
#include "libstream/codecs/codec_internal.h"
#include "libstream/kernels/quant_blocks.h"

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

// Sorted column indices of a pruned weight, as TFLite's CSR stores them: `width` bytes each.
// An index codec: differences in byte planes, or bitmaps where runs are dense enough.
bool IndexCodec(uint8_t codec) {
  return codec == static_cast<uint8_t>(Codec::kBytePlane) ||
         codec == static_cast<uint8_t>(Codec::kIndexBitmap);
}

TEST(CodecTest, IntegerArraysCodeAsIndices) {
  for (Dtype dtype : {Dtype::kU16, Dtype::kI32}) {
    const size_t width = dtype == Dtype::kU16 ? 2 : 4;
    std::vector<uint8_t> raw = testing::SortedIndices(300, 1000, 77, width, 5);
    raw.push_back(0x33);  // a tail shorter than an element
    stream::Frame auto_frame = FrameOf(raw, dtype);
    ASSERT_OK(EncodeFrame(auto_frame, {}));
    stream::Frame zstd_frame = FrameOf(raw, dtype);
    ASSERT_OK(EncodeFrame(zstd_frame, {3, Codec::kZstd}));
    stream::Frame planes_frame = FrameOf(raw, dtype);
    ASSERT_OK(EncodeFrame(planes_frame, {0, Codec::kBytePlane}));
    EXPECT_TRUE(IndexCodec(auto_frame.header.codec)) << int{auto_frame.header.codec};
    // Differences of ~3.3 on average need a few bits; the raw indices look random to zstd.
    EXPECT_LT(planes_frame.payload.size() * 10, zstd_frame.payload.size() * 7)
        << planes_frame.payload.size() << " vs zstd " << zstd_frame.payload.size();
    EXPECT_LE(auto_frame.payload.size(), planes_frame.payload.size());
    ASSERT_OK(DecodeFrame(auto_frame));
    ASSERT_EQ(auto_frame.payload.size(), raw.size());
    EXPECT_EQ(0, std::memcmp(auto_frame.payload.data(), raw.data(), raw.size()));
  }
  // A sparse TFLite tensor's u8 index array (a bytes run of its own) is coded as indices
  // too; other u8 bytes are not.
  std::vector<uint8_t> narrow = testing::SortedIndices(2000, 200, 77, 1, 8);
  stream::Frame index = testing::MakeFrame(stream::FrameKind::kBytes, "tflite.sparsity", narrow);
  index.header.dtype = static_cast<uint32_t>(Dtype::kU8);
  ASSERT_OK(EncodeFrame(index, {}));
  EXPECT_TRUE(IndexCodec(index.header.codec)) << int{index.header.codec};
  stream::Frame other = testing::MakeFrame(stream::FrameKind::kBytes, "tflite.flatbuffer", narrow);
  other.header.dtype = static_cast<uint32_t>(Dtype::kU8);
  ASSERT_OK(EncodeFrame(other, {}));
  EXPECT_EQ(other.header.codec, static_cast<uint8_t>(Codec::kZstd));
  EXPECT_LT(index.payload.size(), other.payload.size());
  ASSERT_OK(DecodeFrame(index));
  EXPECT_EQ(0, std::memcmp(index.payload.data(), narrow.data(), narrow.size()));
  // Integers that differences do not help (random words) still come out no larger than
  // plain zstd would make them: the trial keeps the smaller.
  std::vector<uint8_t> noise = testing::RandomBytes(4000, 6);
  for (size_t i = 0; i < noise.size(); i += 4) noise[i + 2] = noise[i + 3] = 0;
  stream::Frame f = FrameOf(noise, Dtype::kI32);
  ASSERT_OK(EncodeFrame(f, {}));
  stream::Frame z = FrameOf(noise, Dtype::kI32);
  ASSERT_OK(EncodeFrame(z, {3, Codec::kZstd}));
  EXPECT_LE(f.payload.size(), z.payload.size());
}

TEST(CodecTest, SparseTfliteValuesCodeAsTheirFloats) {
  // A sparse TFLite tensor's values travel as u8 with tflite.type naming the floats.
  std::vector<uint8_t> raw = Weights(100000, Dtype::kF16, 7);
  stream::Frame typed = FrameOf(raw, Dtype::kU8);
  typed.header.SetAttr("tflite.sparsity", "traversal_order=[0,1]");
  typed.header.SetAttr("tflite.type", "FLOAT16");
  ASSERT_OK(EncodeFrame(typed, {}));
  EXPECT_EQ(typed.header.codec, static_cast<uint8_t>(Codec::kBytePlane));
  stream::Frame opaque = FrameOf(raw, Dtype::kU8);
  ASSERT_OK(EncodeFrame(opaque, {}));
  EXPECT_EQ(opaque.header.codec, static_cast<uint8_t>(Codec::kZstd));
  EXPECT_LT(typed.payload.size(), opaque.payload.size());
  ASSERT_OK(DecodeFrame(typed));
  EXPECT_EQ(0, std::memcmp(typed.payload.data(), raw.data(), raw.size()));
}

TEST(CodecTest, IncompressibleStaysRaw) {
  stream::Frame f = FrameOf(testing::RandomBytes(100000, 3), Dtype::kU8);
  ASSERT_OK(EncodeFrame(f, {}));
  EXPECT_EQ(f.header.codec, static_cast<uint8_t>(Codec::kRaw));
  EXPECT_EQ(f.payload.size(), 100000u);
}

// Random bytes with 12 values three times as likely as the rest: zstd codes them 2.6%
// smaller (flatter bytes it stores raw itself). The fast levels store such a group raw (it
// decodes as a copy); level 10 and up code it.
TEST(CodecTest, SmallGainsStayRawAtFastLevels) {
  std::vector<uint8_t> group = testing::RandomBytes(200000, 11);
  for (uint8_t& b : group) b = b < 36 ? b % 12 : b;
  for (int level : {1, 3, internal::kKeepEveryGainLevel}) {
    AlignedBuffer out;
    out.Resize(group.size());
    size_t pos = 0;
    uint8_t method = 0xFF, stored[8];
    ASSERT_TRUE(internal::PackGroup(group, internal::CodingFor(level, /*patch_op=*/false), out,
                                    pos, group.size(), &method, stored));
    if (level < internal::kKeepEveryGainLevel) {
      EXPECT_EQ(method, internal::kGroupRaw) << level;
      EXPECT_EQ(pos, group.size()) << level;
    } else {
      EXPECT_EQ(method, internal::kGroupZstd) << level;
      EXPECT_LT(pos, group.size() - group.size() / 64) << level;
      EXPECT_GT(pos, group.size() - group.size() / 32) << level;  // the gain is a small one
    }
  }
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

// Real ggml blocks: our quantizers (bit-identical to ggml's, tests/unit/quant) on
// weight-like floats, plus one stray tail byte.
std::vector<uint8_t> QuantizedWeights(kernels::QuantType t, size_t blocks, uint64_t seed) {
  const size_t n = blocks * kernels::QuantBlockElems(t);
  std::vector<uint8_t> f32 = Weights(n, Dtype::kF32, seed);
  std::vector<float> x(n);
  std::memcpy(x.data(), f32.data(), n * 4);
  std::vector<uint8_t> q(blocks * kernels::QuantBlockBytes(t));
  kernels::QuantizeBlocks(t, x.data(), n, q.data());
  return q;
}

constexpr kernels::QuantType kQuantTypes[] = {kernels::QuantType::kQ8_0, kernels::QuantType::kQ4_0,
                                              kernels::QuantType::kQ4_K, kernels::QuantType::kTQ1_0,
                                              kernels::QuantType::kTQ2_0};

// Regrouped fields come out smaller than plain zstd. The exception is q4_K at the fast
// levels: its quant nibbles save too little to be coded (MinGain) and are stored raw for
// decoding speed, which on these synthetic weights costs a little more than the fields
// save; from kKeepEveryGainLevel on they are coded and the fields win again.
TEST(CodecTest, QuantBlocksRegroupSmallerThanPlainZstd) {
  for (kernels::QuantType t : kQuantTypes) {
    const auto dtype = static_cast<Dtype>(t);
    std::vector<uint8_t> raw = QuantizedWeights(t, 4000, 7);
    raw.push_back(0xA5);  // a tail that fills no block
    stream::Frame auto_frame = FrameOf(raw, dtype);
    ASSERT_OK(EncodeFrame(auto_frame, {}));
    EXPECT_EQ(auto_frame.header.codec, static_cast<uint8_t>(Codec::kBlockFields)) << static_cast<int>(t);
    stream::Frame zstd_frame = FrameOf(raw, dtype);
    ASSERT_OK(EncodeFrame(zstd_frame, {3, Codec::kZstd}));
    if (t == kernels::QuantType::kQ4_K) {
      EXPECT_LT(auto_frame.payload.size(), zstd_frame.payload.size() * 1.01);
      stream::Frame strong = FrameOf(raw, dtype), strong_zstd = FrameOf(raw, dtype);
      ASSERT_OK(EncodeFrame(strong, {internal::kKeepEveryGainLevel, std::nullopt}));
      ASSERT_OK(EncodeFrame(strong_zstd, {internal::kKeepEveryGainLevel, Codec::kZstd}));
      EXPECT_EQ(strong.header.codec, static_cast<uint8_t>(Codec::kBlockFields));
      EXPECT_LT(strong.payload.size(), strong_zstd.payload.size());
      EXPECT_LT(strong.payload.size(), auto_frame.payload.size());  // the nibbles now coded
      // A patch op of the same bytes keeps every gain at the default level too.
      stream::Frame op = FrameOf(raw, dtype);
      op.header.kind = static_cast<uint16_t>(stream::FrameKind::kDelta);
      ASSERT_OK(EncodeFrame(op, {}));
      EXPECT_EQ(op.header.codec, static_cast<uint8_t>(Codec::kBlockFields));
      EXPECT_LT(op.payload.size(), auto_frame.payload.size());
    } else {
      EXPECT_LT(auto_frame.payload.size(), zstd_frame.payload.size()) << static_cast<int>(t);
    }
    ASSERT_OK(DecodeFrame(auto_frame));
    ASSERT_EQ(auto_frame.payload.size(), raw.size());
    EXPECT_EQ(0, std::memcmp(auto_frame.payload.data(), raw.data(), raw.size())) << static_cast<int>(t);
  }
}

TEST(CodecTest, FieldsOnlyForBlockTypes) {
  stream::Frame f = FrameOf(Weights(10000, Dtype::kF16, 2), Dtype::kF16);
  ASSERT_OK(EncodeFrame(f, {0, Codec::kBlockFields}));
  EXPECT_EQ(f.header.codec, static_cast<uint8_t>(Codec::kRaw));
  const auto layout = BlockFieldLayout(static_cast<uint32_t>(Dtype::kQ6_K));
  ASSERT_TRUE(layout);
  size_t sum = 0;
  for (uint16_t len : *layout) sum += len;
  EXPECT_EQ(sum, 210u);  // sizeof(block_q6_K)
}

TEST(CodecTest, DamagedFieldsPayloadsAreRefused) {
  std::vector<uint8_t> raw = QuantizedWeights(kernels::QuantType::kQ8_0, 600, 9);
  stream::Frame f = FrameOf(raw, Dtype::kQ8_0);
  ASSERT_OK(EncodeFrame(f, {}));
  ASSERT_EQ(f.header.codec, static_cast<uint8_t>(Codec::kBlockFields));
  for (size_t at = 0; at < f.payload.size(); at += 13) {
    stream::Frame bad;
    bad.header = f.header;
    bad.payload.Append(f.payload.data(), f.payload.size());
    bad.payload.data()[at] ^= 0x08;
    EXPECT_FALSE(DecodeFrame(bad).has_value()) << "flip at " << at;
  }
  for (size_t cut : {size_t{0}, size_t{3}, size_t{20}, f.payload.size() - 1}) {
    AlignedBuffer out;
    EXPECT_FALSE(DecodePayload(f.header.codec, f.payload.span().first(cut), raw.size(), out))
        << "cut at " << cut;
  }
  // A head whose fields do not add up to the block is refused by name.
  stream::Frame sum = FrameOf({}, Dtype::kQ8_0);
  sum.header = f.header;
  sum.payload.Append(f.payload.data(), f.payload.size());
  sum.payload.data()[4] += 1;  // first field length
  auto r = DecodeFrame(sum);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("add up"), std::string::npos) << r.error().message;
}

TEST(CodecTest, NamesParseBack) {
  for (Codec c : {Codec::kRaw, Codec::kZstd, Codec::kBytePlane, Codec::kBlockFields,
                  Codec::kPalette}) {
    EXPECT_EQ(ParseCodec(CodecName(static_cast<uint8_t>(c))), c);
  }
  EXPECT_FALSE(ParseCodec("lzma").has_value());
}

}  // namespace
}  // namespace mln::codecs
