// The kIdelta op's payload (idelta.h): a damaged payload is refused, and on the index
// arrays of a pruned tensor it beats sending them as an insert.
#include "libstream/delta/idelta.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "libstream/codecs/codec.h"
#include "libstream/crypto/digest.h"
#include "libstream/stream/frame.h"
#include "tests/support/test_util.h"

namespace mln::delta {
namespace {

using testing::RandomBytes;

// The CSR arrays of a [rows, cols] weight with `keep` of each row's columns left after
// pruning, in the element width TFLite picks: segments (row starts), then column indices.
std::vector<uint8_t> CsrIndices(size_t rows, size_t cols, double keep, size_t width,
                                uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution kept(keep);
  std::vector<uint32_t> values;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) {
      if (kept(rng)) values.push_back(static_cast<uint32_t>(c));
    }
  }
  std::vector<uint8_t> out(values.size() * width);
  for (size_t i = 0; i < values.size(); ++i) {
    for (size_t b = 0; b < width; ++b) out[i * width + b] = static_cast<uint8_t>(values[i] >> (8 * b));
  }
  return out;
}

// What an insert of `bytes` costs once plain zstd (mln-compress's codec for bytes it knows
// nothing about) has coded it. mln-compress codes typed 16- and 32-bit arrays as
// differences too (codec_test.cc checks that); this measures the transform itself.
size_t InsertCost(const std::vector<uint8_t>& bytes, stream::Dtype dtype) {
  stream::Frame f;
  f.header.dtype = static_cast<uint32_t>(dtype);
  f.payload.Resize(bytes.size());
  std::memcpy(f.payload.data(), bytes.data(), bytes.size());
  stream::SealFrame(f);
  EXPECT_TRUE(codecs::EncodeFrame(f, {.force = stream::Codec::kZstd}));
  return f.payload.size();
}

TEST(IdeltaTest, WidthOfDtypes) {
  EXPECT_EQ(IdeltaWidth(static_cast<uint32_t>(stream::Dtype::kU8)), 1u);
  EXPECT_EQ(IdeltaWidth(static_cast<uint32_t>(stream::Dtype::kU16)), 2u);
  EXPECT_EQ(IdeltaWidth(static_cast<uint32_t>(stream::Dtype::kI32)), 4u);
  EXPECT_FALSE(IdeltaWidth(static_cast<uint32_t>(stream::Dtype::kF16)));
  EXPECT_FALSE(IdeltaWidth(static_cast<uint32_t>(stream::Dtype::kUnknown)));
}

TEST(IdeltaTest, RoundTripWithAndWithoutBase) {
  for (size_t width : {1, 2, 4}) {
    auto target = CsrIndices(96, width == 1 ? 200 : 384, 0.3, width, width);
    auto base = CsrIndices(96, width == 1 ? 200 : 384, 0.3, width, width + 100);
    for (bool with_base : {false, true}) {
      std::span<const uint8_t> b = with_base ? std::span<const uint8_t>(base) : std::span<const uint8_t>();
      ASSERT_OK_AND_ASSIGN(auto payload, EncodeIdelta(target, b, width, 19));
      ASSERT_OK_AND_ASSIGN(auto made, DecodeIdelta(payload.span(), b, width, target.size()));
      ASSERT_EQ(made.size(), target.size());
      EXPECT_EQ(std::memcmp(made.data(), target.data(), target.size()), 0);
    }
  }
  ASSERT_OK_AND_ASSIGN(auto empty, EncodeIdelta({}, {}, 2, 19));
  ASSERT_OK_AND_ASSIGN(auto none, DecodeIdelta(empty.span(), {}, 2, 0));
  EXPECT_EQ(none.size(), 0u);
}

TEST(IdeltaTest, SameIndicesCostAlmostNothingAgainstTheirBase) {
  auto indices = CsrIndices(384, 96, 0.3, 1, 7);
  ASSERT_OK_AND_ASSIGN(auto payload, EncodeIdelta(indices, indices, 1, 19));
  EXPECT_LT(payload.size(), 64u) << "of " << indices.size();
}

TEST(IdeltaTest, DamagedPayloadIsRefused) {
  auto target = CsrIndices(64, 384, 0.3, 2, 5);
  ASSERT_OK_AND_ASSIGN(auto payload, EncodeIdelta(target, {}, 2, 19));
  uint64_t want = crypto::Xxh3(target);
  // Truncated, cut to nothing, or claiming another size: an error, never a crash.
  for (size_t keep : {size_t{0}, size_t{3}, payload.size() / 2, payload.size() - 1}) {
    auto r = DecodeIdelta(payload.span().first(keep), {}, 2, target.size());
    ASSERT_FALSE(r.has_value()) << "kept " << keep;
    EXPECT_EQ(r.error().code, Errc::kBadData);
  }
  EXPECT_FALSE(DecodeIdelta(payload.span(), {}, 2, target.size() + 2).has_value());
  EXPECT_FALSE(DecodeIdelta(payload.span(), {}, 3, target.size()).has_value());
  // Any flipped byte either fails to decode or makes other bytes, which the op's XXH3
  // (checked by mln-apply) refuses.
  for (size_t at = 0; at < payload.size(); at += 7) {
    std::vector<uint8_t> damaged(payload.data(), payload.data() + payload.size());
    damaged[at] ^= 0x5a;
    auto r = DecodeIdelta(damaged, {}, 2, target.size());
    if (r) {
      EXPECT_NE(crypto::Xxh3(r->span()), want) << "flip at " << at;
    }
  }
}

TEST(IdeltaTest, BeatsTheInsertItReplaces) {
  // 70% pruned 1x1 convolutions as in MediaPipe's sparse face detector: u8 column indices
  // for narrow rows, u16 for wide ones.
  auto narrow = CsrIndices(384, 96, 0.3, 1, 21);
  auto wide = CsrIndices(96, 384, 0.3, 2, 22);
  ASSERT_OK_AND_ASSIGN(auto a, EncodeIdelta(narrow, {}, 1, 19));
  ASSERT_OK_AND_ASSIGN(auto b, EncodeIdelta(wide, {}, 2, 19));
  size_t insert_a = InsertCost(narrow, stream::Dtype::kU8);
  size_t insert_b = InsertCost(wide, stream::Dtype::kU16);
  EXPECT_LT(a.size() * 10, insert_a * 8) << a.size() << " vs insert " << insert_a;
  EXPECT_LT(b.size() * 10, insert_b * 8) << b.size() << " vs insert " << insert_b;
}

}  // namespace
}  // namespace mln::delta
