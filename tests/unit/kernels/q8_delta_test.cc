#include "libstream/kernels/q8_delta.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "libstream/kernels/quant_blocks.h"
#include "tests/support/test_util.h"

namespace mln::kernels {
namespace {

// Q8_0 blocks of Gaussian weights, and of the same weights after a simulated fine-tune
// (each moved by N(0, (noise * std)^2)), both quantized by ggml's Q8_0 rule.
struct Requantized {
  std::vector<uint8_t> base, target;
};

Requantized MakeRequantized(size_t blocks, float noise, uint32_t seed, float scale = 1.0f,
                            float grow_max = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> w(0.0f, 0.02f), step(0.0f, 0.02f * noise);
  std::vector<float> x(blocks * 32), y(blocks * 32);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = w(rng);
    y[i] = x[i] * scale + step(rng);
  }
  // A block's largest weight sets its scale; moving it by `grow_max` moves every other
  // value's q by q * (1 / grow_max - 1), which the contexts predict from the new scale.
  for (size_t b = 0; grow_max != 1.0f && b < blocks; ++b) {
    size_t top = b * 32;
    for (size_t i = b * 32; i < b * 32 + 32; ++i) top = std::fabs(y[i]) > std::fabs(y[top]) ? i : top;
    y[top] *= grow_max;
  }
  Requantized r{std::vector<uint8_t>(blocks * kQ8BlockBytes),
                std::vector<uint8_t>(blocks * kQ8BlockBytes)};
  QuantizeBlocks(QuantType::kQ8_0, x.data(), x.size(), r.base.data());
  QuantizeBlocks(QuantType::kQ8_0, y.data(), y.size(), r.target.data());
  return r;
}

std::vector<uint8_t> Encode(const std::vector<uint8_t>& base, const std::vector<uint8_t>& target) {
  std::vector<uint8_t> out(2 * base.size() + 64);
  size_t size = EncodeQ8Delta(base.data(), target.data(), base.size(), out.data(), out.size());
  EXPECT_NE(size, 0u);
  out.resize(size);
  return out;
}

std::vector<uint8_t> Decode(const std::vector<uint8_t>& base, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> made(base.size(), 0xAA);
  EXPECT_TRUE(DecodeQ8Delta(base.data(), payload.data(), payload.size(), base.size(),
                            made.data()));
  return made;
}

// Order-0 entropy in bytes of the byte-wise difference: what a coder that sees the delta as
// independent bytes (Huffman, or zstd's literals) can at best reach.
double ByteDeltaEntropy(const std::vector<uint8_t>& base, const std::vector<uint8_t>& target) {
  std::vector<double> count(256, 0.0);
  for (size_t i = 0; i < base.size(); ++i) count[static_cast<uint8_t>(target[i] - base[i])] += 1;
  double bits = 0;
  for (double c : count) {
    if (c > 0) bits -= c * std::log2(c / static_cast<double>(base.size()));
  }
  return bits / 8;
}

TEST(Q8Delta, RoundTripsARequantizedTensor) {
  auto r = MakeRequantized(4096, 1e-3f, 1);
  auto payload = Encode(r.base, r.target);
  EXPECT_EQ(Decode(r.base, payload), r.target);
}

// The reason the op exists: on a re-quantized tensor it beats the best any coder that sees
// the delta as independent bytes can do, and where a block's scale moves (its largest
// weight grew or shrank) the contexts predict which values move and which way, far below
// that bound.
TEST(Q8Delta, CodesARequantizedTensorBelowTheByteDeltaEntropy) {
  struct Case {
    float noise, scale, at_most, grow_max = 1.0f;  // at_most: payload / entropy
  };
  for (Case c : {Case{3e-4f, 1.0f, 1.0f}, Case{1e-3f, 1.0f, 0.97f}, Case{1e-2f, 1.0f, 0.92f},
                 Case{1e-3f, 1.002f, 0.75f}, Case{1e-3f, 0.995f, 0.75f},
                 Case{1e-3f, 1.0f, 0.6f, 1.01f}, Case{1e-3f, 1.0f, 0.6f, 0.99f}}) {
    auto r = MakeRequantized(16384, c.noise, 2, c.scale, c.grow_max);
    auto payload = Encode(r.base, r.target);
    double entropy = ByteDeltaEntropy(r.base, r.target);
    std::printf("noise %g scale %g max x%g: %zu bytes, byte-delta entropy %.0f (%.3f)\n",
                c.noise, c.scale, c.grow_max, payload.size(), entropy,
                static_cast<double>(payload.size()) / entropy);
    EXPECT_LT(static_cast<double>(payload.size()), c.at_most * entropy)
        << "noise " << c.noise << " scale " << c.scale;
    EXPECT_EQ(Decode(r.base, payload), r.target) << "noise " << c.noise << " scale " << c.scale;
  }
}

// Unrelated bytes, identical bytes, lengths that are not whole blocks (padding an op took
// in) and shorter than one block.
TEST(Q8Delta, RoundTripsAnyBytesAndPartialBlocks) {
  for (size_t n : {0u, 1u, 33u, 34u, 35u, 34u * 100 + 16, 34u * 1000}) {
    auto base = testing::RandomBytes(n, n + 7);
    auto target = testing::RandomBytes(n, n + 8);
    EXPECT_EQ(Decode(base, Encode(base, target)), target) << "n " << n;
    EXPECT_EQ(Decode(base, Encode(base, base)), base) << "n " << n;
  }
  auto r = MakeRequantized(100, 1e-3f, 3);
  for (size_t cut : {1u, 16u, 33u}) {
    std::vector<uint8_t> base(r.base.begin(), r.base.end() - cut);
    std::vector<uint8_t> target(r.target.begin(), r.target.end() - cut);
    EXPECT_EQ(Decode(base, Encode(base, target)), target) << "cut " << cut;
  }
}

TEST(Q8Delta, ReportsAnOutputThatDoesNotFit) {
  auto base = testing::RandomBytes(3400, 1);
  auto target = testing::RandomBytes(3400, 2);
  std::vector<uint8_t> out(1000);
  EXPECT_EQ(EncodeQ8Delta(base.data(), target.data(), base.size(), out.data(), out.size()), 0u);
  EXPECT_EQ(EncodeQ8Delta(base.data(), target.data(), base.size(), out.data(), 1), 0u);
}

// A damaged payload makes n bytes (wrong ones, which the op's checksum catches) and never
// reads outside itself; one that is not a Q8_0 delta at all is refused.
TEST(Q8Delta, DamagedPayloadsStayInBounds) {
  auto r = MakeRequantized(256, 1e-3f, 4);
  auto payload = Encode(r.base, r.target);
  std::vector<uint8_t> made(r.base.size());
  for (size_t keep : {size_t{1}, size_t{2}, size_t{6}, payload.size() / 2}) {
    std::vector<uint8_t> cut(payload.begin(), payload.begin() + keep);  // exact size: ASan sees
    EXPECT_TRUE(DecodeQ8Delta(r.base.data(), cut.data(), cut.size(), made.size(), made.data()));
  }
  auto flipped = payload;
  flipped[flipped.size() / 2] ^= 0x10;
  ASSERT_TRUE(DecodeQ8Delta(r.base.data(), flipped.data(), flipped.size(), made.size(),
                            made.data()));
  EXPECT_NE(made, r.target);
  auto junk = testing::RandomBytes(500, 9);
  junk[0] = payload[0];
  EXPECT_TRUE(DecodeQ8Delta(r.base.data(), junk.data(), junk.size(), made.size(), made.data()));
  junk[0] ^= 0xFF;
  EXPECT_FALSE(DecodeQ8Delta(r.base.data(), junk.data(), junk.size(), made.size(), made.data()));
  EXPECT_FALSE(DecodeQ8Delta(r.base.data(), junk.data(), 0, made.size(), made.data()));
}

}  // namespace
}  // namespace mln::kernels
