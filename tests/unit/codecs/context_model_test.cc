#include "libstream/codecs/context_model.h"
#include "libstream/codecs/codec.h"
#include "libstream/codecs/codec_internal.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "libstream/base/endian.h"
#include "libstream/crypto/digest.h"
#include "tests/support/test_util.h"

namespace mln::codecs::internal {
namespace {

using stream::Codec;
using stream::Dtype;

uint16_t ToF16(float w) {  // by truncation: exact rounding does not matter to a codec
  uint32_t bits;
  std::memcpy(&bits, &w, 4);
  uint32_t sign = bits >> 31, exp = (bits >> 23) & 0xFF, man = bits & 0x7FFFFF;
  int e = static_cast<int>(exp) - 127 + 15;
  return e <= 0 ? static_cast<uint16_t>(sign << 15)
                : static_cast<uint16_t>((sign << 15) | (e << 10) | (man >> 13));
}

// The kernel of a landmark head as face_landmark's output_mesh has it: three output
// channels (x, y, z) per landmark, each `inputs` weights long, and a landmark's weights
// close to the one before it. Sign and exponent of a weight then follow those of the same
// weight 3 * inputs elements back, which no order-0 coder sees.
std::vector<uint8_t> LandmarkKernel(size_t landmarks, size_t inputs, uint64_t seed) {
  std::vector<uint8_t> r = testing::RandomBytes(landmarks * 3 * inputs * 8, seed);
  std::vector<float> prev(3 * inputs, 0.f);
  std::vector<uint8_t> out;
  size_t k = 0;
  auto gauss = [&] {
    uint32_t a, b;
    std::memcpy(&a, &r[k], 4);
    std::memcpy(&b, &r[k + 4], 4);
    k += 8;
    double u1 = (a + 1.0) / 4294967297.0, u2 = b / 4294967296.0;
    return static_cast<float>(std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307 * u2));
  };
  const float scale[3] = {0.5f, 0.4f, 0.1f};  // z weighs less, as in the real kernel
  for (size_t l = 0; l < landmarks; ++l) {
    for (size_t i = 0; i < 3 * inputs; ++i) {
      prev[i] = 0.95f * prev[i] + 0.31f * gauss();
      uint16_t h = ToF16(scale[i / inputs] * prev[i]);
      out.push_back(static_cast<uint8_t>(h));
      out.push_back(static_cast<uint8_t>(h >> 8));
    }
  }
  return out;
}

std::vector<uint8_t> HighBytes(const std::vector<uint8_t>& f16) {
  std::vector<uint8_t> hi;
  for (size_t i = 1; i < f16.size(); i += 2) hi.push_back(f16[i]);
  return hi;
}

std::vector<uint8_t> Encode(std::span<const uint8_t> plane, uint32_t stride) {
  std::vector<uint8_t> out(plane.size() + 64);
  auto n = ContextEncode(plane, stride, out.data(), out.size());
  if (!n) return {};
  out.resize(*n);
  return out;
}

void ExpectRoundTrip(std::span<const uint8_t> plane, uint32_t stride) {
  std::vector<uint8_t> coded(plane.size() + 64);
  auto n = ContextEncode(plane, stride, coded.data(), coded.size());
  ASSERT_TRUE(n) << "stride " << stride << ", " << plane.size() << " bytes";
  std::vector<uint8_t> back(plane.size() + 1, 0xA5);
  ASSERT_OK(ContextDecode({coded.data(), *n}, back.data(), plane.size(), "plane"));
  EXPECT_EQ(std::memcmp(back.data(), plane.data(), plane.size()), 0) << "stride " << stride << ", " << plane.size() << " bytes";
  EXPECT_EQ(back[plane.size()], 0xA5) << "wrote past the plane";
}

TEST(ContextModelTest, RoundTripsAtEveryStrideAndSize) {
  std::vector<uint8_t> hi = HighBytes(LandmarkKernel(40, 32, 1));
  for (size_t size : {size_t{0}, size_t{1}, size_t{2}, size_t{255}, size_t{3000}, hi.size()}) {
    for (uint32_t stride : {1u, 3u, 96u, 97u, 1000000u}) {
      ExpectRoundTrip(std::span<const uint8_t>(hi).first(size), stride);
    }
  }
  // Noise, constant runs and every byte value: the coder at its extremes of probability.
  ExpectRoundTrip(testing::RandomBytes(20000, 9), 7);
  ExpectRoundTrip(std::vector<uint8_t>(300000, 0x3c), 1);
  std::vector<uint8_t> ramp(70000);
  for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<uint8_t>(i * 7 + i / 256);
  ExpectRoundTrip(ramp, 256);
}

TEST(ContextModelTest, TheLandmarkStrideBeatsOrderZeroAndZstd19) {
  constexpr size_t kInputs = 32;
  std::vector<uint8_t> hi = HighBytes(LandmarkKernel(150, kInputs, 2));
  const std::vector<uint32_t> candidates = {kInputs, 2 * kInputs, 3 * kInputs, 4 * kInputs};
  EXPECT_EQ(PickContextStride(hi, candidates), 3 * kInputs);
  std::vector<uint8_t> z(hi.size());
  const size_t zstd19 = ZstdCompressInto(hi, 19, z.data(), z.size()).value();
  const size_t at_stride = Encode(hi, 3 * kInputs).size();
  const size_t order0ish = Encode(hi, kInputs).size();  // the neighbouring channel: no help
  ASSERT_NE(at_stride, 0u);
  EXPECT_LT(at_stride, zstd19 * 85 / 100) << "zstd -19 " << zstd19;
  EXPECT_LT(at_stride, order0ish * 85 / 100) << "stride " << kInputs << ": " << order0ish;
}

TEST(ContextModelTest, NoStrideCandidatesMeansThePreviousByte) {
  std::vector<uint8_t> hi = HighBytes(LandmarkKernel(20, 16, 3));
  EXPECT_EQ(PickContextStride(hi, {}), 1u);
  const std::vector<uint32_t> too_far = {static_cast<uint32_t>(hi.size()), 0u};
  EXPECT_EQ(PickContextStride(hi, too_far), 1u);
}

constexpr const char* kGolden = 
    "01040000000000aef322cc5fd5a9b170df8d3aa8ffb1bdb3590c5c1dffe5e6ccfb2d6efa2a4643451f007f7d06a9";

TEST(ContextModelTest, AStreamKeepsDecodingAsItWasWritten) {
  // The coded bits are the wire format: any change to the model, the coder or their tables
  // makes old streams undecodable. These are the bytes this version writes for 64 bytes of
  // a fixed pattern at stride 4.
  std::vector<uint8_t> plane(64);
  for (size_t i = 0; i < plane.size(); ++i) plane[i] = static_cast<uint8_t>((i % 4) * 60 + i / 16);
  const std::vector<uint8_t> coded = Encode(plane, 4);
  ASSERT_FALSE(coded.empty());
  EXPECT_EQ(crypto::ToHex(coded), kGolden) << "the context model's output changed";
  std::vector<uint8_t> back(plane.size());
  ASSERT_OK(ContextDecode(coded, back.data(), back.size(), "plane"));
  EXPECT_EQ(back, plane);
}

TEST(ContextModelTest, DecodesWhatItsDescriptionEncodes) {
  // tests/fuzz/make_seeds.sh encodes this f16 tensor's high plane in Python, from the
  // context model's description in man/mln-stream.5 alone: the decoder must agree with it.
  std::ifstream seed(MLN_FUZZ_CORPUS "/byteplane_decode/f16_context", std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(seed)), {});
  ASSERT_GT(bytes.size(), 8u) << "seed missing";
  ASSERT_EQ(LoadLE<uint32_t>(bytes.data()), 1200u);
  std::span<const uint8_t> stored(bytes.data() + 8, bytes.size() - 8);
  ASSERT_EQ(stored[4 + 9], kGroupContext) << "the seed's high plane is not context-coded";
  AlignedBuffer out;
  ASSERT_OK(DecodePayload(static_cast<uint8_t>(Codec::kBytePlane), stored, 1200, out));
  const uint8_t pattern[6] = {0x20, 0x21, 0xA0, 0x1C, 0x9C, 0x22};
  for (size_t i = 0; i < 600; ++i) {
    ASSERT_EQ(out.data()[2 * i], static_cast<uint8_t>((i * 37 + 11) % 256)) << "low byte " << i;
    ASSERT_EQ(out.data()[2 * i + 1], pattern[i % 6] ^ (i / 150)) << "high byte " << i;
  }
}

TEST(ContextModelTest, OnlyBytePlanesTakeIt) {
  // Method 2 in a fields table (a Q8_0 payload's first field) is refused as unknown: other
  // codecs' groups never hold it, as mln-stream.5 says.
  std::vector<uint8_t> raw = testing::RandomBytes(34 * 200, 6);
  for (size_t b = 0; b < 200; ++b) raw[34 * b] = raw[34 * b + 1] = 0x3c;  // one scale: d 1.0
  stream::Frame f = testing::MakeFrame(stream::FrameKind::kTensor, "q", raw);
  f.header.dtype = static_cast<uint32_t>(Dtype::kQ8_0);
  ASSERT_OK(EncodeFrame(f, {19, Codec::kBlockFields}));
  ASSERT_EQ(f.header.codec, static_cast<uint8_t>(Codec::kBlockFields));
  AlignedBuffer out;
  ASSERT_OK(DecodePayload(f.header.codec, f.payload.span(), raw.size(), out));
  f.payload.data()[6] = kGroupContext;  // head (4), then the first entry's u16 length
  auto r = DecodePayload(f.header.codec, f.payload.span(), raw.size(), out);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unknown"), std::string::npos) << r.error().message;
}

TEST(ContextModelTest, HostileShapesGiveNoStrides) {
  // Shapes come from the stream: dimensions whose product overflows, zero or negative ones
  // and a vector all code and decode back at level 19 (UBSan watches the arithmetic).
  std::vector<uint8_t> raw = LandmarkKernel(10, 16, 7);
  const std::vector<std::vector<int64_t>> shapes = {
      {1, int64_t{1} << 62, 2}, {4, -3, 80}, {2, 0, 240}, {480}, {}, {1, 1, 1, 480}};
  for (const auto& shape : shapes) {
    stream::Frame f = testing::MakeFrame(stream::FrameKind::kTensor, "w", raw);
    f.header.dtype = static_cast<uint32_t>(Dtype::kF16);
    f.header.shape = shape;
    ASSERT_OK(EncodeFrame(f, {19, std::nullopt}));
    ASSERT_OK(DecodeFrame(f));
    EXPECT_EQ(std::memcmp(f.payload.data(), raw.data(), raw.size()), 0);
  }
}

std::string DecodeError(std::span<const uint8_t> coded, size_t size) {
  std::vector<uint8_t> out(size);
  auto r = ContextDecode(coded, out.data(), size, "byteplane payload");
  return r ? std::string() : r.error().message;
}

TEST(ContextModelTest, BadGroupsAreRefusedAndDamageStaysInBounds) {
  std::vector<uint8_t> hi = HighBytes(LandmarkKernel(30, 32, 4));
  std::vector<uint8_t> coded = Encode(hi, 96);
  ASSERT_FALSE(coded.empty());
  EXPECT_EQ(DecodeError(std::span<const uint8_t>(coded).first(4), hi.size()),
            "byteplane payload: bad context-model head");
  std::vector<uint8_t> v2 = coded;
  v2[0] = 2;
  EXPECT_EQ(DecodeError(v2, hi.size()), "byteplane payload: bad context-model head");
  std::vector<uint8_t> first = coded;  // the coder's first byte is always 0
  first[5] = 1;
  EXPECT_EQ(DecodeError(first, hi.size()), "byteplane payload: bad context-model head");
  std::vector<uint8_t> zero = coded;
  StoreLE<uint32_t>(zero.data() + 1, 0);
  EXPECT_EQ(DecodeError(zero, hi.size()), "byteplane payload: context-model stride 0");
  // A handful of bytes cannot claim a whole frame's worth of output.
  EXPECT_EQ(DecodeError(std::span<const uint8_t>(coded).first(12), 100 << 20),
            "byteplane payload: context-model group of 12 bytes cannot hold 104857600");
  // Cut or flipped bits decode to other bytes (the frame checksum rejects them), never
  // outside the output: ASan watches the buffers here.
  for (size_t cut : {size_t{10}, coded.size() / 2, coded.size() - 1}) {
    EXPECT_EQ(DecodeError(std::span<const uint8_t>(coded).first(cut), hi.size()), "");
  }
  for (size_t at = 6; at < coded.size(); at += coded.size() / 7) {
    std::vector<uint8_t> flipped = coded;
    flipped[at] ^= 0x10;
    std::vector<uint8_t> out(hi.size());
    EXPECT_TRUE(ContextDecode(flipped, out.data(), out.size(), "plane"));
    EXPECT_NE(out, hi) << "a flipped bit at " << at << " changed nothing";
  }
}

TEST(ContextModelTest, StrongLevelsCodeFloatPlanesWithIt) {
  // A landmark head as a tensor frame: from level 16 its exponent plane is context-coded
  // (smaller than level 15 by far), and it decodes back; below, zstd as before.
  std::vector<uint8_t> raw = LandmarkKernel(120, 32, 5);
  auto frame_of = [&] {
    stream::Frame f = testing::MakeFrame(stream::FrameKind::kTensor, "output_mesh", raw);
    f.header.dtype = static_cast<uint32_t>(Dtype::kF16);
    f.header.shape = {360, 1, 1, 32};
    return f;
  };
  auto plane_methods = [](const stream::Frame& f) {
    // byteplane head (4 bytes), then per plane a method byte and a u64 length
    return std::to_string(f.payload.data()[4]) + "," + std::to_string(f.payload.data()[13]);
  };
  stream::Frame strong = frame_of(), weaker = frame_of(), patch = frame_of();
  ASSERT_OK(EncodeFrame(strong, {16, std::nullopt}));
  ASSERT_OK(EncodeFrame(weaker, {15, std::nullopt}));
  ASSERT_EQ(strong.header.codec, static_cast<uint8_t>(Codec::kBytePlane));
  ASSERT_EQ(weaker.header.codec, static_cast<uint8_t>(Codec::kBytePlane));
  EXPECT_EQ(plane_methods(strong), "0,2");  // mantissas raw, exponents context-coded
  EXPECT_EQ(plane_methods(weaker), "0,1");
  EXPECT_LT(strong.payload.size(), weaker.payload.size() * 95 / 100);
  ASSERT_OK(DecodeFrame(strong));
  EXPECT_EQ(std::memcmp(strong.payload.data(), raw.data(), raw.size()), 0);
  // Patch ops never: a device applies them at hundreds of MB/s.
  patch.header.kind = static_cast<uint16_t>(stream::FrameKind::kDelta);
  ASSERT_OK(EncodeFrame(patch, {19, std::nullopt}));
  ASSERT_EQ(patch.header.codec, static_cast<uint8_t>(Codec::kBytePlane));
  EXPECT_EQ(plane_methods(patch), "0,1");
}

}  // namespace
}  // namespace mln::codecs::internal
