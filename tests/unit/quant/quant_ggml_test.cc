// Our quantizers against ggml's own (libggml-base.so), byte for byte: random data of many
// shapes and distributions, edge values, and the real f16 weights of the GGUF fixtures.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <vector>

#include "libstream/formats/gguf.h"
#include "libstream/kernels/quant_blocks.h"
#include "tests/support/test_util.h"
#include "tests/unit/quant/ggml_lib.h"

namespace mln::kernels {
namespace {

constexpr QuantType kTypes[] = {QuantType::kQ8_0, QuantType::kQ4_0, QuantType::kQ4_K,
                                QuantType::kTQ1_0, QuantType::kTQ2_0};

const char* Name(QuantType t) {
  switch (t) {
    case QuantType::kQ8_0: return "q8_0";
    case QuantType::kQ4_0: return "q4_0";
    case QuantType::kQ4_K: return "q4_K";
    case QuantType::kTQ1_0: return "tq1_0";
    case QuantType::kTQ2_0: return "tq2_0";
  }
  return "?";
}

class QuantGgml : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(lib_.ok()) << lib_.error();
  }

  // Quantizes `x` as `rows` rows with ggml, with ours (dispatched) and with our reference,
  // and requires all three to agree; then checks dequantization against ggml's to_float.
  void Compare(QuantType t, const std::vector<float>& x, size_t rows, const std::string& what) {
    const size_t n = x.size();
    const size_t per_row = n / rows;
    const size_t bytes = n / QuantBlockElems(t) * QuantBlockBytes(t);
    std::vector<uint8_t> want(bytes + 1), got(bytes + 1), spec(bytes + 1);
    lib_.quantize_init(static_cast<int>(t));
    size_t wrote = lib_.quantize_chunk(static_cast<int>(t), x.data(), want.data(), 0,
                                       static_cast<int64_t>(rows),
                                       static_cast<int64_t>(per_row), nullptr);
    ASSERT_EQ(wrote, bytes) << Name(t) << " " << what;
    QuantizeBlocks(t, x.data(), n, got.data());
    ref::QuantizeBlocks(t, x.data(), n, spec.data());
    for (size_t i = 0; i < bytes; ++i) {
      ASSERT_EQ(want[i], spec[i]) << "reference differs from ggml: " << Name(t) << " " << what
                                  << " byte " << i << " (block " << i / QuantBlockBytes(t) << ")";
      ASSERT_EQ(want[i], got[i]) << "SIMD differs from ggml: " << Name(t) << " " << what
                                 << " byte " << i << " (block " << i / QuantBlockBytes(t) << ")";
    }
    const testing::GgmlTypeTraits* tt = lib_.type_traits(static_cast<int>(t));
    ASSERT_EQ(static_cast<size_t>(tt->type_size), QuantBlockBytes(t));
    ASSERT_EQ(static_cast<size_t>(tt->blck_size), QuantBlockElems(t));
    std::vector<float> a(n), b(n);
    tt->to_float(want.data(), a.data(), static_cast<int64_t>(n));
    DequantizeBlocks(t, want.data(), n, b.data());
    ASSERT_EQ(0, std::memcmp(a.data(), b.data(), n * sizeof(float)))
        << "dequantize differs from ggml: " << Name(t) << " " << what;
  }

  testing::GgmlLib lib_;
};

std::vector<float> Normal(size_t n, uint64_t seed, float sigma) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

TEST_F(QuantGgml, RandomShapesAndScales) {
  uint64_t seed = 1;
  for (QuantType t : kTypes) {
    const size_t blk = QuantBlockElems(t);
    // Rows of 1..9 blocks (rows that are not a multiple of 256 elements for the 32-blocks),
    // 1..7 rows, and scales from subnormal to huge.
    for (size_t row_blocks : {1u, 3u, 9u}) {
      for (size_t rows : {1u, 2u, 7u}) {
        for (float sigma : {1e-30f, 1e-3f, 0.02f, 1.0f, 300.0f}) {
          auto x = Normal(row_blocks * blk * rows, seed++, sigma);
          Compare(t, x, rows, "normal sigma " + std::to_string(sigma) + " rows " +
                                  std::to_string(rows) + "x" + std::to_string(row_blocks * blk));
        }
      }
    }
  }
}

TEST_F(QuantGgml, EdgeValues) {
  for (QuantType t : kTypes) {
    const size_t n = 4 * 256;
    std::mt19937_64 rng(99);
    // All zeros, negative zeros, constants, a single outlier, exact rounding ties, equal
    // magnitudes of both signs, integers, uniform noise with a heavy tail.
    std::vector<std::vector<float>> cases;
    cases.emplace_back(n, 0.0f);
    cases.emplace_back(n, -0.0f);
    cases.emplace_back(n, 0.75f);
    cases.emplace_back(n, -3.0f);
    {
      std::vector<float> v(n, 0.001f);
      for (size_t i = 0; i < n; i += 37) v[i] = 1000.0f;
      cases.push_back(v);
    }
    {
      std::vector<float> v(n);  // x * id lands on k + 0.5 for Q8_0 (d = 1) and Q4_0 (d = 1)
      for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(static_cast<int>(i % 255) - 127) * 0.5f;
      for (size_t i = 0; i < n; i += 32) v[i] = 127.0f;
      cases.push_back(v);
    }
    {
      std::vector<float> v(n);
      for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(static_cast<int>(i % 17) - 8) + 0.5f;
      for (size_t i = 0; i < n; i += 32) v[i] = -8.0f;
      cases.push_back(v);
    }
    {
      std::vector<float> v(n);
      for (size_t i = 0; i < n; ++i) v[i] = (i % 2 ? 1.0f : -1.0f) * static_cast<float>(i % 5);
      cases.push_back(v);
    }
    {
      std::vector<float> v(n);  // ternary ties: x / amax = +-0.5 exactly
      for (size_t i = 0; i < n; ++i) v[i] = (i % 4 == 0) ? 2.0f : (i % 4 == 1 ? 1.0f : (i % 4 == 2 ? -1.0f : 0.0f));
      cases.push_back(v);
    }
    {
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      std::vector<float> v(n);
      for (float& f : v) f = u(rng) * u(rng) * u(rng) * 50.0f;
      cases.push_back(v);
    }
    {
      std::vector<float> v(n);  // positives only: Q4_K's min clamps to 0
      std::uniform_real_distribution<float> u(0.5f, 2.0f);
      for (float& f : v) f = u(rng);
      cases.push_back(v);
    }
    {
      std::vector<float> v(n);  // subnormals and the largest finite magnitudes
      for (size_t i = 0; i < n; ++i) {
        v[i] = (i % 3 == 0) ? std::numeric_limits<float>::denorm_min() * static_cast<float>(i % 11)
                            : -std::numeric_limits<float>::min() * static_cast<float>(i % 7);
      }
      cases.push_back(v);
    }
    for (size_t c = 0; c < cases.size(); ++c) Compare(t, cases[c], 4, "edge case " + std::to_string(c));
  }
}

// The real weights of the fixtures (written by ggml from a real TFLite model), every f16 /
// f32 tensor whose rows fit the block, in every type.
TEST_F(QuantGgml, RealWeights) {
  const std::string dir = testing::GgufFixtureDir();
  ASSERT_FALSE(dir.empty()) << "MLN_GGUF_FIXTURES not set";
  std::filesystem::path file = std::filesystem::path(dir) / "real_f16.gguf";
  std::ifstream f(file, std::ios::binary);
  ASSERT_TRUE(f) << file;
  std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  auto src = MakeMemorySource(bytes, file.string());
  ASSERT_OK_AND_ASSIGN(formats::GgufHeader h, formats::ReadGgufHeader(*src, bytes.size(), nullptr));
  size_t compared = 0;
  for (const auto& t : h.tensors) {
    if (t.type != 1 && t.type != 0) continue;
    uint64_t elems = 1;
    for (int64_t d : t.ne) elems *= static_cast<uint64_t>(d);
    const uint8_t* p = bytes.data() + h.data_offset + t.offset;
    std::vector<float> x(elems);
    if (t.type == 1) {
      F16ToF32Row(reinterpret_cast<const uint16_t*>(p), elems, x.data());
    } else {
      std::memcpy(x.data(), p, elems * 4);
    }
    for (QuantType q : kTypes) {
      const size_t blk = QuantBlockElems(q);
      const size_t row = static_cast<size_t>(t.ne[0]);
      if (row % blk != 0) {
        // Rows that do not fit are quantized as one flat run of whole blocks.
        if (elems < blk) continue;
        std::vector<float> flat(x.begin(), x.begin() + (elems / blk) * blk);
        Compare(q, flat, 1, t.name + " (flattened)");
      } else {
        Compare(q, x, elems / row, t.name);
      }
      ++compared;
    }
  }
  EXPECT_GT(compared, 20u);
}

TEST_F(QuantGgml, Fp16ConversionMatchesGgml) {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    uint32_t b = bits(rng);
    float f;
    std::memcpy(&f, &b, 4);
    if (std::isnan(f)) continue;
    ASSERT_EQ(lib_.fp32_to_fp16(f), F32ToF16(f)) << std::hexfloat << f;
  }
}

}  // namespace
}  // namespace mln::kernels
