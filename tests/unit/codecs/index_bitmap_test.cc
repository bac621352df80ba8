#include "libstream/codecs/index_bitmap.h"
#include "libstream/codecs/codec.h"

#include <gtest/gtest.h>

#include <cstring>

#include "libstream/base/endian.h"
#include "libstream/formats/tflite.h"
#include "tests/support/test_util.h"

namespace mln::codecs {
namespace {

using stream::Codec;
using stream::Dtype;

// A sparse TFLite tensor's index array as mln-parse cuts it out.
stream::Frame IndexFrame(std::vector<uint8_t> bytes, Dtype dtype,
                         stream::FrameKind kind = stream::FrameKind::kBytes) {
  stream::Frame f = testing::MakeFrame(kind, formats::kTfliteSparsityRun, std::move(bytes));
  f.header.dtype = static_cast<uint32_t>(dtype);
  return f;
}

size_t StoredSize(const std::vector<uint8_t>& raw, Dtype dtype, EncodeOptions options) {
  stream::Frame f = IndexFrame(raw, dtype);
  return EncodeFrame(f, options) ? f.payload.size() : 0;
}

void ExpectRoundTrip(const std::vector<uint8_t>& raw, size_t width) {
  AlignedBuffer coded, out;
  ASSERT_TRUE(EncodeIndexBitmap(raw, width, {1, false}, coded));
  ASSERT_OK(DecodeIndexBitmap(coded.span(), raw.size(), out));
  ASSERT_EQ(out.size(), raw.size());
  EXPECT_EQ(std::memcmp(out.data(), raw.data(), raw.size()), 0);
}

TEST(IndexBitmapTest, DenseRowIndicesAreChosenAndBeatDifferencesAtLevel19) {
  // 90% of 1024 columns kept: H(0.1) = 0.47 bits per column is their entropy, 0.52 bits
  // per index (3.3% of 16). Differences, nearly always 1, cost a Huffman bit each unless
  // zstd matches their runs: 0.72 bits at level 19, against 0.59 as a bitmap at level 1.
  std::vector<uint8_t> raw = testing::SortedIndices(64, 1024, 230, 2, 7);
  stream::Frame f = IndexFrame(raw, Dtype::kU16);
  ASSERT_OK(EncodeFrame(f, {}));
  EXPECT_EQ(f.header.codec, static_cast<uint8_t>(Codec::kIndexBitmap));
  const size_t bitmap = f.payload.size();
  EXPECT_LT(bitmap, raw.size() * 4 / 100);
  EXPECT_LT(bitmap, StoredSize(raw, Dtype::kU16, {19, Codec::kBytePlane}) * 9 / 10);
  EXPECT_LT(bitmap, StoredSize(raw, Dtype::kU16, {19, Codec::kZstd}));
  ASSERT_OK(DecodeFrame(f));
  ASSERT_EQ(f.payload.size(), raw.size());
  EXPECT_EQ(std::memcmp(f.payload.data(), raw.data(), raw.size()), 0);
}

TEST(IndexBitmapTest, PatchInsertsOfU8IndicesAreCodedAsIndices) {
  // A patch inserts a pruned model's u8 index arrays as they are (kDelta frames of the same
  // name and type); mln-compress must see them as indices, not as opaque bytes.
  std::vector<uint8_t> raw = testing::SortedIndices(256, 200, 100, 1, 8);
  stream::Frame f = IndexFrame(raw, Dtype::kU8, stream::FrameKind::kDelta);
  ASSERT_OK(EncodeFrame(f, {}));
  EXPECT_EQ(f.header.codec, static_cast<uint8_t>(Codec::kIndexBitmap));
  ASSERT_OK(DecodeFrame(f));
  EXPECT_EQ(std::memcmp(f.payload.data(), raw.data(), raw.size()), 0);
}

TEST(IndexBitmapTest, EveryWidthRoundTripsWithGapsTailAndTopValues) {
  ExpectRoundTrip(testing::SortedIndices(40, 250, 30, 1, 1), 1);
  std::vector<uint8_t> u16 = testing::SortedIndices(10, 3000, 200, 2, 2);
  u16.push_back(0x42);  // a tail byte that fills no element
  ExpectRoundTrip(u16, 2);
  // 32-bit runs ending at the largest value, gaps past the longest a run bridges (new
  // runs), a repeated value and a fall (new runs too).
  std::vector<uint8_t> u32;
  auto put = [&](uint32_t v) {
    uint8_t b[4];
    StoreLE<uint32_t>(b, v);
    u32.insert(u32.end(), b, b + 4);
  };
  for (uint64_t v = 0xFFFFFF00u; v <= 0xFFFFFFFFu; ++v) {
    if (v % 3 != 1 || v == 0xFFFFFFFFu) put(static_cast<uint32_t>(v));
  }
  for (uint32_t v = 10; v < 10000; v += (v % 7 == 0 ? 100 : 2)) put(v);
  put(9998);
  for (uint32_t v = 1; v < 2000; ++v) put(v % 5 == 0 ? v - 1 : v);
  ExpectRoundTrip(u32, 4);
}

TEST(IndexBitmapTest, OtherIntegersAreTurnedDown) {
  AlignedBuffer out;
  std::vector<uint8_t> noise = testing::RandomBytes(40000, 3);
  EXPECT_FALSE(EncodeIndexBitmap(noise, 2, {1, false}, out));
  EXPECT_FALSE(EncodeIndexBitmap(noise, 4, {1, false}, out));
  // Row starts of a CSR matrix rise by hundreds: a bitmap would be mostly zeros.
  std::vector<uint8_t> starts;
  for (uint32_t i = 0; i < 5000; ++i) {
    uint8_t b[4];
    StoreLE<uint32_t>(b, i * 300);
    starts.insert(starts.end(), b, b + 4);
  }
  EXPECT_FALSE(EncodeIndexBitmap(starts, 4, {1, false}, out));
  stream::Frame f = IndexFrame(starts, Dtype::kI32);
  ASSERT_OK(EncodeFrame(f, {}));
  EXPECT_EQ(f.header.codec, static_cast<uint8_t>(Codec::kBytePlane));
}

// A payload with raw groups: `width`, the run count, the run table (firsts then spans, as
// given), the bitmap bytes and a tail.
std::vector<uint8_t> HandMade(uint8_t width, uint32_t runs, const std::vector<uint64_t>& table,
                              const std::vector<uint8_t>& bitmap,
                              const std::vector<uint8_t>& tail = {}) {
  std::vector<uint8_t> p = {1, width, 0, 0, 0, 0, 0, 0};
  StoreLE<uint32_t>(p.data() + 4, runs);
  std::vector<uint8_t> t;
  for (uint64_t v : table) {
    uint8_t b[8];
    StoreLE<uint64_t>(b, v);
    t.insert(t.end(), b, b + width);
  }
  for (size_t size : {t.size(), bitmap.size()}) {
    p.push_back(0);  // raw
    testing::PutU64(p, size);
  }
  p.insert(p.end(), t.begin(), t.end());
  p.insert(p.end(), bitmap.begin(), bitmap.end());
  p.insert(p.end(), tail.begin(), tail.end());
  return p;
}

// testing::DecodeError for bitmap payloads.
std::string DecodeError(const std::vector<uint8_t>& payload, uint64_t decoded_size) {
  return testing::DecodeError(Codec::kIndexBitmap, payload, decoded_size);
}

TEST(IndexBitmapTest, DamagedPayloadsAreRefusedByName) {
  // u8 elements 3, 5, 6, 10 (one run: first 3, span 7) and 250 (first 250, span 0).
  std::vector<uint8_t> good = HandMade(1, 2, {3, 250, 7, 0}, {0b10001101, 0b1});
  AlignedBuffer out;
  ASSERT_OK(DecodePayload(static_cast<uint8_t>(Codec::kIndexBitmap), good, 5, out));
  EXPECT_EQ(std::vector<uint8_t>(out.data(), out.data() + 5),
            (std::vector<uint8_t>{3, 5, 6, 10, 250}));

  auto has = [](const std::string& error, const char* what) {
    return error.find(what) != std::string::npos;
  };
  EXPECT_TRUE(has(DecodeError(good, 4), "more elements"));
  EXPECT_TRUE(has(DecodeError(good, 6), "5 elements, the decoded size holds 6"));
  // A run whose first bit is clear, one with a bit set past its end.
  EXPECT_TRUE(has(DecodeError(HandMade(1, 2, {3, 250, 7, 0}, {0b10001100, 0b1}), 5),
                  "start and end"));
  EXPECT_TRUE(has(DecodeError(HandMade(1, 2, {3, 250, 6, 0}, {0b10001101, 0b1}), 5),
                  "start and end"));
  // A run past 255 for u8 elements.
  EXPECT_TRUE(has(DecodeError(HandMade(1, 2, {3, 250, 7, 6}, {0b10001101, 0b1000001}), 5),
                  "passes the largest 8-bit value"));
  // Spans whose bitmap would be larger than the elements: refused before it is read.
  EXPECT_TRUE(has(DecodeError(HandMade(2, 1, {0, 60000}, {1}), 4), "larger than the elements"));
  EXPECT_TRUE(has(DecodeError(HandMade(1, 4, {3, 250, 7, 0}, {0b10001101, 0b1}), 5), "4 runs"));
  EXPECT_TRUE(has(DecodeError(HandMade(1, 0, {}, {}), 5), "0 runs"));
  EXPECT_TRUE(has(DecodeError(HandMade(1, 2, {3, 250, 7, 0}, {0b10001101}), 5), "wrong size"));
  EXPECT_TRUE(has(DecodeError(HandMade(1, 2, {3, 250, 7, 0}, {0b10001101, 0b1}, {9}), 5),
                  "tail"));
  EXPECT_TRUE(has(DecodeError(HandMade(3, 2, {3, 250, 7, 0}, {0b10001101, 0b1}), 5), "width"));
  std::vector<uint8_t> cut = good;
  cut.resize(20);
  EXPECT_TRUE(has(DecodeError(cut, 5), "bad head"));
  std::vector<uint8_t> method = good;
  method[8 + 9] = 7;
  EXPECT_TRUE(has(DecodeError(method, 5), "unknown bitmap method"));
  std::vector<uint8_t> version = good;
  version[0] = 2;
  EXPECT_TRUE(has(DecodeError(version, 5), "bad head"));
}

}  // namespace
}  // namespace mln::codecs
