#include "libstream/codecs/palette.h"
#include "libstream/codecs/codec.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "libstream/base/endian.h"
#include "tests/support/test_util.h"

namespace mln::codecs {
namespace {

using stream::Codec;
using stream::Dtype;

// `n` elements of `width` bytes drawn from `values` by a deterministic random index.
std::vector<uint8_t> Draw(const std::vector<uint32_t>& values, size_t width, size_t n,
                          uint64_t seed) {
  std::vector<uint8_t> r = testing::RandomBytes(n * 2, seed);
  std::vector<uint8_t> out(n * width);
  for (size_t i = 0; i < n; ++i) {
    uint32_t v = values[(r[2 * i] | (r[2 * i + 1] << 8)) % values.size()];
    std::memcpy(out.data() + i * width, &v, width);  // little-endian host, as CI's
  }
  return out;
}

// BitNet b1.58 weights in f16: {-s, 0, +s}.
std::vector<uint32_t> Ternary() { return {0xAC00, 0x0000, 0x2C00}; }

stream::Frame FrameOf(std::vector<uint8_t> bytes, Dtype dtype) {
  stream::Frame f = testing::MakeFrame(stream::FrameKind::kTensor, "w", std::move(bytes));
  f.header.dtype = static_cast<uint32_t>(dtype);
  return f;
}

// The stored size of `raw` encoded with `options`; 0 when encoding fails, which fails
// every comparison the tests make with it.
size_t StoredSize(const std::vector<uint8_t>& raw, Dtype dtype, EncodeOptions options) {
  stream::Frame f = FrameOf(raw, dtype);
  return EncodeFrame(f, options) ? f.payload.size() : 0;
}

TEST(PaletteTest, TernaryF16IsChosenAndBeatsPlanesAndZstd19) {
  std::vector<uint8_t> raw = Draw(Ternary(), 2, 300001, 1);
  raw.push_back(0x5A);  // a tail that fills no element
  stream::Frame f = FrameOf(raw, Dtype::kF16);
  ASSERT_OK(EncodeFrame(f, {}));
  EXPECT_EQ(f.header.codec, static_cast<uint8_t>(Codec::kPalette));
  const size_t palette = f.payload.size();
  // log2(3) = 1.58 bits of 16: 9.9% is the floor; packed 2-bit indices come within 0.5%.
  EXPECT_LT(palette, raw.size() * 105 / 1000);
  EXPECT_LT(palette, StoredSize(raw, Dtype::kF16, {19, Codec::kZstd}));
  EXPECT_LT(palette, StoredSize(raw, Dtype::kF16, {0, Codec::kBytePlane}) * 9 / 10);
  ASSERT_OK(DecodeFrame(f));
  ASSERT_EQ(f.payload.size(), raw.size());
  EXPECT_EQ(std::memcmp(f.payload.data(), raw.data(), raw.size()), 0);
}

TEST(PaletteTest, EveryIndexWidthAndElementWidthRoundTrips) {
  for (size_t count : {1, 2, 3, 4, 5, 16, 17, 200, 256}) {
    for (Dtype dtype : {Dtype::kF16, Dtype::kBF16, Dtype::kF32, Dtype::kI32}) {
      const size_t width = dtype == Dtype::kF32 || dtype == Dtype::kI32 ? 4 : 2;
      std::vector<uint32_t> values;
      for (size_t i = 0; i < count; ++i) values.push_back(static_cast<uint32_t>(i * 2654435761u) >> (width == 2 ? 16 : 0));
      // Element counts that leave every possible partial last byte.
      for (size_t n : {size_t{1}, size_t{7}, size_t{4099}, size_t{20000}}) {
        std::vector<uint8_t> raw = Draw(values, width, n, count * 31 + n);
        stream::Frame f = FrameOf(raw, dtype);
        ASSERT_OK(EncodeFrame(f, {0, Codec::kPalette}));
        if (n >= 4099) {
          EXPECT_EQ(f.header.codec, static_cast<uint8_t>(Codec::kPalette)) << count << " " << n;
        }
        ASSERT_OK(DecodeFrame(f));
        ASSERT_EQ(f.payload.size(), raw.size());
        EXPECT_EQ(std::memcmp(f.payload.data(), raw.data(), raw.size()), 0)
            << "count " << count << " width " << width << " n " << n;
      }
    }
  }
}

TEST(PaletteTest, FindsAscendingDistinctValuesAndStopsPastTheLimit) {
  std::vector<uint32_t> values = {70000, 5, 1u << 31, 12};
  auto found = FindPalette(Draw(values, 4, 1000, 3), 4);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, (std::vector<uint32_t>{5, 12, 70000, 1u << 31}));

  std::vector<uint32_t> many;
  for (uint32_t i = 0; i <= kMaxPaletteValues; ++i) many.push_back(i * 7919);
  std::vector<uint8_t> raw;
  for (uint32_t v : many) raw.insert(raw.end(), {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)});
  EXPECT_FALSE(FindPalette(raw, 2).has_value());  // 257 distinct
  raw.resize(raw.size() - 2);
  EXPECT_TRUE(FindPalette(raw, 2).has_value());  // 256
  EXPECT_FALSE(FindPalette(raw, 1).has_value());  // not an element width it serves
}

TEST(PaletteTest, OrdinaryWeightsAreNotPalettes) {
  std::vector<uint8_t> raw = testing::RandomBytes(65536, 9);
  stream::Frame f = FrameOf(raw, Dtype::kF16);
  ASSERT_OK(EncodeFrame(f, {}));
  EXPECT_NE(f.header.codec, static_cast<uint8_t>(Codec::kPalette));
  // Forced, it declines and the frame stays raw.
  stream::Frame forced = FrameOf(raw, Dtype::kF16);
  ASSERT_OK(EncodeFrame(forced, {0, Codec::kPalette}));
  EXPECT_EQ(forced.header.codec, static_cast<uint8_t>(Codec::kRaw));
}

// A payload built by hand, with its index bytes stored raw, to damage one field at a time:
// `count` 16-bit values 0x3C00 + i, indices of `bits`, then `tail`.
std::vector<uint8_t> HandMade(uint8_t bits, uint16_t count, std::vector<uint8_t> packed,
                              std::vector<uint8_t> tail = {}) {
  std::vector<uint8_t> p = {1, 2, bits, 0, 0, 0, 0, 0};
  StoreLE<uint16_t>(p.data() + 4, count);
  for (uint16_t i = 0; i < count; ++i) p.insert(p.end(), {static_cast<uint8_t>(i), 0x3C});
  p.push_back(0);  // raw indices
  testing::PutU64(p, packed.size());
  p.insert(p.end(), packed.begin(), packed.end());
  p.insert(p.end(), tail.begin(), tail.end());
  return p;
}

// testing::DecodeError for palette payloads.
std::string DecodeError(const std::vector<uint8_t>& payload, uint64_t decoded_size) {
  return testing::DecodeError(Codec::kPalette, payload, decoded_size);
}

TEST(PaletteTest, DamagedPayloadsAreRefusedByName) {
  // 5 elements of 2-bit indices 0,1,2,0,1 (two bytes, the second half padding), 1 tail byte.
  std::vector<uint8_t> good = HandMade(2, 3, {0b00100100, 0b00000001}, {0x77});
  AlignedBuffer out;
  ASSERT_OK(DecodePayload(static_cast<uint8_t>(Codec::kPalette), good, 11, out));
  EXPECT_EQ(out.data()[4], 2);      // element 2 = value 2
  EXPECT_EQ(out.data()[10], 0x77);  // the tail

  EXPECT_NE(DecodeError(HandMade(2, 3, {0b11100100, 0b00000001}, {0x77}), 11).find("outside"),
            std::string::npos);  // index 3 of 3 values
  EXPECT_NE(DecodeError(HandMade(2, 3, {0b00100100, 0b00000101}, {0x77}), 11).find("outside"),
            std::string::npos);  // padding bits set
  EXPECT_NE(DecodeError(HandMade(1, 3, {0, 0}, {0x77}), 11).find("do not fit"), std::string::npos);
  EXPECT_NE(DecodeError(HandMade(3, 3, {0, 0}, {0x77}), 11).find("index bits"), std::string::npos);
  EXPECT_NE(DecodeError(HandMade(2, 0, {0, 0}, {0x77}), 11).find("do not fit"), std::string::npos);
  EXPECT_NE(DecodeError(HandMade(2, 3, {0}, {0x77}), 11).find("wrong size"), std::string::npos);
  EXPECT_NE(DecodeError(HandMade(2, 3, {0, 0}), 11).find("tail"), std::string::npos);
  std::vector<uint8_t> cut = good;
  cut.resize(12);
  EXPECT_NE(DecodeError(cut, 11).find("truncated"), std::string::npos);
  std::vector<uint8_t> method = good;
  method[8 + 6] = 9;
  EXPECT_NE(DecodeError(method, 11).find("unknown index method"), std::string::npos);
  std::vector<uint8_t> version = good;
  version[0] = 2;
  EXPECT_NE(DecodeError(version, 11).find("bad head"), std::string::npos);
}

}  // namespace
}  // namespace mln::codecs
