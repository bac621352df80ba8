// QuantizeStream end to end: a llama-like GGUF (f32, f16 and bf16 weights, norms, a row
// that fits Q8_0 but not Q4_K) goes model -> stream -> mln-quant -> model, and the result
// is checked with ggml itself: gguf_init_from_file loads it, tensor types and
// general.file_type are what llama.cpp would write, and every converted tensor's bytes
// equal ggml_quantize_chunk of the input.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "libstream/base/endian.h"
#include "libstream/codecs/compress_stream.h"
#include "libstream/formats/convert.h"
#include "libstream/formats/gguf.h"
#include "libstream/kernels/quant_blocks.h"
#include "libstream/quant/quant.h"
#include "tests/support/test_util.h"
#include "tests/unit/quant/ggml_lib.h"

namespace mln::quant {
namespace {

using kernels::QuantType;

struct TensorSpec {
  std::string name;
  std::vector<int64_t> ne;
  uint32_t type;  // 0 f32, 1 f16, 30 bf16
};

const std::vector<TensorSpec> kSpecs = {
    {"token_embd.weight", {512, 16}, 1},     {"blk.0.attn_norm.weight", {512}, 0},
    {"blk.0.attn_q.weight", {512, 40}, 0},   {"blk.0.ffn_down.weight", {256, 24}, 30},
    {"blk.0.odd.weight", {96, 8}, 0},        {"blk.0.attn_q.bias", {64}, 0},
    {"blk.0.ffn_gate_inp.weight", {256, 4}, 0}, {"output.weight", {512, 8}, 1},
};

template <typename T>
void Put(std::vector<uint8_t>& b, T v) {
  uint8_t x[sizeof(T)];
  StoreLE(x, v);
  b.insert(b.end(), x, x + sizeof(T));
}
void PutStr(std::vector<uint8_t>& b, const std::string& s) {
  Put<uint64_t>(b, s.size());
  b.insert(b.end(), s.begin(), s.end());
}

uint64_t Elems(const TensorSpec& t) {
  uint64_t n = 1;
  for (auto d : t.ne) n *= static_cast<uint64_t>(d);
  return n;
}

// A GGUF v3 file as ggml writes one (alignment 32, tensors padded), with a file_type KV of
// the wrong type to check it is replaced, and the float values of every tensor.
std::vector<uint8_t> MakeGguf(std::vector<std::vector<float>>* values, float nan_in = 0) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> g(0.0f, 0.05f);
  std::vector<uint8_t> b = {'G', 'G', 'U', 'F'};
  Put<uint32_t>(b, 3);
  Put<uint64_t>(b, kSpecs.size());
  Put<uint64_t>(b, 3);
  PutStr(b, "general.architecture");
  Put<uint32_t>(b, 8);
  PutStr(b, "llama");
  PutStr(b, "general.file_type");
  Put<uint32_t>(b, 5);  // i32, as an old writer might have it
  Put<int32_t>(b, 1);
  PutStr(b, "tokenizer.ggml.scores");
  Put<uint32_t>(b, 9);  // array of f32
  Put<uint32_t>(b, 6);
  Put<uint64_t>(b, 20);
  for (int i = 0; i < 20; ++i) Put<float>(b, -1.0f * i);
  std::vector<std::vector<uint8_t>> data;
  uint64_t off = 0;
  for (const auto& t : kSpecs) {
    PutStr(b, t.name);
    Put<uint32_t>(b, static_cast<uint32_t>(t.ne.size()));
    for (auto d : t.ne) Put<int64_t>(b, d);
    Put<uint32_t>(b, t.type);
    Put<uint64_t>(b, off);
    std::vector<float> v(Elems(t));
    for (float& f : v) f = g(rng);
    if (t.type == 1) {  // representable in f16
      for (float& f : v) f = kernels::F16ToF32(kernels::F32ToF16(f));
    }
    if (t.type == 30) {
      for (float& f : v) {
        uint32_t u;
        std::memcpy(&u, &f, 4);
        u &= 0xFFFF0000u;
        std::memcpy(&f, &u, 4);
      }
    }
    if (nan_in != 0 && t.name == "blk.0.attn_q.weight") v[777] = nan_in;
    std::vector<uint8_t> raw;
    for (float f : v) {
      if (t.type == 0) {
        Put<float>(raw, f);
      } else if (t.type == 1) {
        Put<uint16_t>(raw, kernels::F32ToF16(f));
      } else {
        uint32_t u;
        std::memcpy(&u, &f, 4);
        Put<uint16_t>(raw, static_cast<uint16_t>(u >> 16));
      }
    }
    off += (raw.size() + 31) / 32 * 32;
    data.push_back(std::move(raw));
    values->push_back(std::move(v));
  }
  b.resize((b.size() + 31) / 32 * 32, 0);
  for (auto& d : data) {
    b.insert(b.end(), d.begin(), d.end());
    b.resize((b.size() + 31) / 32 * 32, 0);
  }
  return b;
}

Result<std::vector<uint8_t>> QuantRun(const std::vector<uint8_t>& input, QuantOptions o,
                                 QuantStats* stats = nullptr) {
  auto in = MakeMemorySource(input, "in.gguf");
  std::vector<uint8_t> stream_bytes;
  auto sink = MakeMemorySink(&stream_bytes, "stream");
  MLN_TRY(auto s, QuantizeStream(*in, *sink, o));
  MLN_RETURN_IF_ERROR(sink->Flush());
  if (stats) *stats = s;
  auto in2 = MakeMemorySource(stream_bytes, "stream");
  std::vector<uint8_t> model;
  auto out = MakeMemorySink(&model, "out.gguf");
  MLN_RETURN_IF_ERROR(formats::EmitFromStream(*in2, *out));
  MLN_RETURN_IF_ERROR(out->Flush());
  return model;
}

QuantOptions Opts(std::string_view type) {
  QuantOptions o;
  o.target = *ParseTarget(type, 35);
  o.chunk_size = 8 << 10;  // several chunks per tensor
  return o;
}

// ggml's reading of a GGUF file through gguf_init_from_file (data loaded too).
struct GgufView {
  bool ok = false;
  std::vector<std::string> names;
  std::vector<int> types;
  std::vector<size_t> offsets;
  size_t data_offset = 0;
  int64_t file_type = -1;
};

GgufView LoadWithGgml(const std::vector<uint8_t>& file) {
  GgufView v;
  void* h = dlopen(std::getenv("MLN_LIBGGML") ? std::getenv("MLN_LIBGGML") : MLN_QUANT_LIBGGML,
                   RTLD_NOW | RTLD_LOCAL);
  if (!h) return v;
  struct Params { bool no_alloc; void** ctx; };
  auto init = reinterpret_cast<void* (*)(const char*, Params)>(dlsym(h, "gguf_init_from_file"));
  auto gfree = reinterpret_cast<void (*)(void*)>(dlsym(h, "gguf_free"));
  auto cfree = reinterpret_cast<void (*)(void*)>(dlsym(h, "ggml_free"));
  auto n_t = reinterpret_cast<int64_t (*)(void*)>(dlsym(h, "gguf_get_n_tensors"));
  auto t_name = reinterpret_cast<const char* (*)(void*, int64_t)>(dlsym(h, "gguf_get_tensor_name"));
  auto t_type = reinterpret_cast<int (*)(void*, int64_t)>(dlsym(h, "gguf_get_tensor_type"));
  auto t_off = reinterpret_cast<size_t (*)(void*, int64_t)>(dlsym(h, "gguf_get_tensor_offset"));
  auto d_off = reinterpret_cast<size_t (*)(void*)>(dlsym(h, "gguf_get_data_offset"));
  auto find = reinterpret_cast<int64_t (*)(void*, const char*)>(dlsym(h, "gguf_find_key"));
  auto kv_type = reinterpret_cast<int (*)(void*, int64_t)>(dlsym(h, "gguf_get_kv_type"));
  auto u32 = reinterpret_cast<uint32_t (*)(void*, int64_t)>(dlsym(h, "gguf_get_val_u32"));
  auto path = std::filesystem::temp_directory_path() / ("mln_quant_test_" + std::to_string(getpid()) + ".gguf");
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
  }
  void* ctx = nullptr;
  void* g = init(path.c_str(), Params{false, &ctx});
  std::filesystem::remove(path);
  if (!g) return v;
  v.ok = true;
  for (int64_t i = 0; i < n_t(g); ++i) {
    v.names.emplace_back(t_name(g, i));
    v.types.push_back(t_type(g, i));
    v.offsets.push_back(t_off(g, i));
  }
  v.data_offset = d_off(g);
  int64_t k = find(g, "general.file_type");
  if (k >= 0 && kv_type(g, k) == 4) v.file_type = u32(g, k);
  gfree(g);
  if (ctx) cfree(ctx);
  return v;
}

class QuantStream : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(lib_.ok()) << lib_.error(); }
  testing::GgmlLib lib_;
};

TEST_F(QuantStream, EveryTypeMatchesGgmlAndLoads) {
  std::vector<std::vector<float>> values;
  auto input = MakeGguf(&values);
  struct Case { const char* type; int dtype; uint32_t ftype; };
  for (Case c : {Case{"q8_0", 8, 7}, Case{"q4_0", 2, 2}, Case{"q4_k", 12, 15}, Case{"tq1_0", 34, 36},
                 Case{"tq2_0", 35, 37}}) {
    QuantStats stats;
    ASSERT_OK_AND_ASSIGN(auto out, QuantRun(input, Opts(c.type), &stats));
    GgufView v = LoadWithGgml(out);
    ASSERT_TRUE(v.ok) << "ggml cannot load the " << c.type << " output";
    EXPECT_EQ(v.file_type, c.ftype) << c.type;
    ASSERT_EQ(v.names.size(), kSpecs.size());
    const size_t blk = kernels::QuantBlockElems(static_cast<QuantType>(c.dtype));
    size_t converted = 0;
    for (size_t i = 0; i < kSpecs.size(); ++i) {
      const TensorSpec& t = kSpecs[i];
      const bool quantizable = t.ne.size() == 2 && t.ne[0] % static_cast<int64_t>(blk) == 0 &&
                               t.name != "blk.0.ffn_gate_inp.weight";
      const uint8_t* p = out.data() + v.data_offset + v.offsets[i];
      const uint8_t* orig = nullptr;
      {
        auto src = MakeMemorySource(input, "in");
        auto h = formats::ReadGgufHeader(*src, input.size(), nullptr);
        orig = input.data() + h->data_offset + h->tensors[i].offset;
      }
      if (!quantizable) {
        EXPECT_EQ(v.types[i], static_cast<int>(t.type)) << c.type << " " << t.name;
        const size_t bytes = Elems(t) * (t.type == 0 ? 4 : 2);
        EXPECT_EQ(0, std::memcmp(p, orig, bytes)) << c.type << " " << t.name << " changed";
        continue;
      }
      ++converted;
      ASSERT_EQ(v.types[i], c.dtype) << c.type << " " << t.name;
      const size_t bytes = Elems(t) / blk * kernels::QuantBlockBytes(static_cast<QuantType>(c.dtype));
      std::vector<uint8_t> want(bytes);
      lib_.quantize_chunk(c.dtype, values[i].data(), want.data(), 0, t.ne[1], t.ne[0], nullptr);
      EXPECT_EQ(0, std::memcmp(p, want.data(), bytes)) << c.type << " " << t.name
                                                       << " differs from ggml_quantize_chunk";
    }
    EXPECT_GE(converted, c.dtype == 8 || c.dtype == 2 ? 5u : 4u) << c.type;
    // The reasons are reported per tensor.
    for (const auto& r : stats.tensors) {
      if (r.name == "blk.0.attn_norm.weight") {
        EXPECT_NE(r.reason.find("1-D"), std::string::npos);
      }
      if (r.name == "blk.0.ffn_gate_inp.weight") {
        EXPECT_FALSE(r.converted);
      }
      if (r.name == "blk.0.odd.weight" && blk == 256) {
        EXPECT_NE(r.reason.find("row length 96"), std::string::npos) << r.reason;
      }
    }
  }
}

TEST_F(QuantStream, CompressedPipeInputGivesTheSameModel) {
  std::vector<std::vector<float>> values;
  auto input = MakeGguf(&values);
  ASSERT_OK_AND_ASSIGN(auto direct, QuantRun(input, Opts("q4_k")));
  // model -> stream (read like a pipe: no size, open-ended tail) -> compressed -> quant.
  std::vector<uint8_t> s1, s2;
  {
    testing::PipeLikeSource pipe(input);
    auto sink = MakeMemorySink(&s1, "s1");
    formats::ParseOptions po;
    po.chunk_size = 4 << 10;
    ASSERT_OK(formats::ParseToStream(pipe, *sink, "", po));
    ASSERT_OK(sink->Flush());
    auto in = MakeMemorySource(s1, "s1");
    auto sink2 = MakeMemorySink(&s2, "s2");
    ASSERT_OK(codecs::CompressStream(*in, *sink2, codecs::EncodeOptions{}));
    ASSERT_OK(sink2->Flush());
  }
  ASSERT_OK_AND_ASSIGN(auto via, QuantRun(s2, Opts("q4_k")));
  EXPECT_EQ(direct, via);
}

// Chunks of 1 KiB (many per tensor, and a header cut into several frames) give the same
// model; a file whose last tensor is not padded is padded; bytes after the aligned data
// section are refused rather than dropped.
TEST_F(QuantStream, LayoutEdges) {
  std::vector<std::vector<float>> values;
  auto input = MakeGguf(&values);
  ASSERT_OK_AND_ASSIGN(auto want, QuantRun(input, Opts("q4_k")));
  QuantOptions small = Opts("q4_k");
  small.chunk_size = 1024;
  ASSERT_OK_AND_ASSIGN(auto got, QuantRun(input, small));
  EXPECT_EQ(want, got);

  auto unpadded = input;
  while (unpadded.back() == 0) unpadded.pop_back();
  ASSERT_OK_AND_ASSIGN(auto out, QuantRun(unpadded, Opts("q4_k")));
  EXPECT_EQ(out, want);
  EXPECT_TRUE(LoadWithGgml(out).ok);

  auto extra = input;
  extra.insert(extra.end(), 100, 7);
  auto r = QuantRun(extra, Opts("q8_0"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kUnsupported);
  EXPECT_NE(r.error().message.find("after its aligned data section"), std::string::npos);
}

TEST_F(QuantStream, TernaryIsAbsmeanPerTensor) {
  std::vector<std::vector<float>> values;
  auto input = MakeGguf(&values);
  for (uint32_t pack : {35u, 34u}) {
    QuantOptions o = Opts("q8_0");
    o.target = *ParseTarget("ternary", pack);
    QuantStats stats;
    ASSERT_OK_AND_ASSIGN(auto out, QuantRun(input, o, &stats));
    GgufView v = LoadWithGgml(out);
    ASSERT_TRUE(v.ok);
    EXPECT_EQ(v.file_type, pack == 35 ? 37 : 36);
    const size_t i = 2;  // blk.0.attn_q.weight, f32 [512, 40]
    ASSERT_EQ(v.types[i], static_cast<int>(pack));
    double sum = 0;
    for (float f : values[i]) sum += std::fabs(f);
    const float gamma = static_cast<float>(sum / values[i].size());
    const float d = kernels::F16ToF32(kernels::F32ToF16(gamma));
    std::vector<float> back(values[i].size());
    lib_.type_traits(static_cast<int>(pack))->to_float(out.data() + v.data_offset + v.offsets[i],
                                                       back.data(), static_cast<int64_t>(back.size()));
    size_t zeros = 0;
    for (size_t k = 0; k < back.size(); ++k) {
      float trit = std::max(-1.0f, std::min(1.0f, std::nearbyint(values[i][k] * (1.0f / gamma))));
      ASSERT_EQ(back[k], trit * d) << "element " << k;
      zeros += trit == 0;
    }
    EXPECT_GT(zeros, 0u);
    EXPECT_LT(zeros, back.size());
    for (const auto& r : stats.tensors) {
      if (r.name == kSpecs[i].name) {
        EXPECT_FLOAT_EQ(static_cast<float>(r.gamma), gamma);
      }
    }
  }
}

TEST_F(QuantStream, DequantizeMatchesGgmlToFloat) {
  std::vector<std::vector<float>> values;
  auto input = MakeGguf(&values);
  ASSERT_OK_AND_ASSIGN(auto q, QuantRun(input, Opts("q4_0")));
  GgufView qv = LoadWithGgml(q);
  for (const char* to : {"f32", "f16"}) {
    ASSERT_OK_AND_ASSIGN(auto f, QuantRun(q, Opts(to)));
    GgufView fv = LoadWithGgml(f);
    ASSERT_TRUE(fv.ok);
    EXPECT_EQ(fv.file_type, std::string(to) == "f32" ? 0 : 1);
    const size_t i = 2;
    ASSERT_EQ(qv.types[i], 2);
    ASSERT_EQ(fv.types[i], std::string(to) == "f32" ? 0 : 1);
    std::vector<float> want(values[i].size());
    lib_.type_traits(2)->to_float(q.data() + qv.data_offset + qv.offsets[i], want.data(),
                                  static_cast<int64_t>(want.size()));
    const uint8_t* p = f.data() + fv.data_offset + fv.offsets[i];
    for (size_t k = 0; k < want.size(); ++k) {
      float got;
      if (std::string(to) == "f32") {
        std::memcpy(&got, p + 4 * k, 4);
        ASSERT_EQ(got, want[k]);
      } else {
        uint16_t hh;
        std::memcpy(&hh, p + 2 * k, 2);
        ASSERT_EQ(hh, lib_.fp32_to_fp16(want[k]));
      }
    }
  }
}

TEST_F(QuantStream, BadInput) {
  std::vector<std::vector<float>> values;
  auto nan_model = MakeGguf(&values, std::nanf(""));
  auto r = QuantRun(nan_model, Opts("q8_0"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kBadData);
  EXPECT_EQ(r.error().tensor, "blk.0.attn_q.weight");
  EXPECT_NE(r.error().message.find("NaN weight at element 777"), std::string::npos) << r.error().ToString();
  QuantOptions allow = Opts("q8_0");
  allow.allow_nonfinite = true;
  EXPECT_TRUE(QuantRun(nan_model, allow).has_value());

  values.clear();
  auto inf_model = MakeGguf(&values, INFINITY);
  r = QuantRun(inf_model, Opts("q4_k"));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("Inf"), std::string::npos);

  values.clear();
  auto model = MakeGguf(&values);
  QuantOptions strict = Opts("q4_k");
  strict.strict = true;
  r = QuantRun(model, strict);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().tensor, "blk.0.odd.weight");

  EXPECT_FALSE(ParseTarget("q5_k", 35).has_value());
  EXPECT_NE(ParseTarget("q5_k", 35).error().message.find("q8_0, q4_0, q4_k"), std::string::npos);

  // A safetensors model is not GGUF.
  std::string json = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::vector<uint8_t> st(8);
  StoreLE<uint64_t>(st.data(), json.size());
  st.insert(st.end(), json.begin(), json.end());
  st.resize(st.size() + 8, 0);
  r = QuantRun(st, Opts("q8_0"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::kBadData);
  EXPECT_NE(r.error().message.find("quantization writes GGUF; input is safetensors"),
            std::string::npos)
      << r.error().ToString();
}

TEST_F(QuantStream, TypeMapAndPatterns) {
  std::vector<std::vector<float>> values;
  auto input = MakeGguf(&values);
  QuantOptions o = Opts("q4_k");
  ASSERT_OK_AND_ASSIGN(o.type_map, ParseTypeMap("# recipe\noutput.weight q8_0\n*ffn_down* keep\n", 35));
  o.exclude = {"token_embd.*"};
  ASSERT_OK_AND_ASSIGN(auto out, QuantRun(input, o));
  GgufView v = LoadWithGgml(out);
  ASSERT_TRUE(v.ok);
  EXPECT_EQ(v.types[0], 1);   // token_embd excluded
  EXPECT_EQ(v.types[2], 12);  // attn_q q4_K
  EXPECT_EQ(v.types[3], 30);  // ffn_down kept
  EXPECT_EQ(v.types[7], 8);   // output q8_0 by the map
  EXPECT_EQ(v.file_type, 15);
  EXPECT_FALSE(ParseTypeMap("a b c\n", 35).has_value());
  EXPECT_FALSE(ParseTypeMap("a q9\n", 35).has_value());
}

// The bytes of tensor `i` of a model, located by ggml's own reading of its header.
std::vector<uint8_t> TensorBytes(const std::vector<uint8_t>& model, const GgufView& v, size_t i,
                                 size_t bytes) {
  const uint8_t* p = model.data() + v.data_offset + v.offsets[i];
  return std::vector<uint8_t>(p, p + bytes);
}

// A mixed recipe gives each tensor its mapped type, and each converted tensor the very bytes
// the single-type path gives it (-t TYPE --include NAME), so mixing changes nothing but the
// choice of type. Rules for 1-D tensors leave them alone; f16 rules convert f32 matrices.
TEST_F(QuantStream, TypeMapEachTensorMatchesSingleType) {
  std::vector<std::vector<float>> values;
  auto input = MakeGguf(&values);
  QuantOptions o = Opts("q4_k");
  ASSERT_OK_AND_ASSIGN(o.type_map, ParseTypeMap("# a mixed recipe\n"
                                                "output.weight       q8_0\n"
                                                "token_embd.weight   q4_0   # embeddings\n"
                                                "\n"
                                                "blk.0.ffn_down.*    TQ2_0\n"
                                                "blk.0.odd.weight    f16\n"
                                                "blk.0.attn_norm.*   q8_0\n"
                                                "*gate_inp*          keep\n"
                                                "*                   q4_0\n",
                                                35, "recipe.map"));
  ASSERT_EQ(o.type_map.size(), 7u);
  EXPECT_EQ(o.type_map[2].line, 5u);
  EXPECT_EQ(o.type_map[2].source, "recipe.map");
  ASSERT_OK_AND_ASSIGN(auto out, QuantRun(input, o));
  GgufView v = LoadWithGgml(out);
  ASSERT_TRUE(v.ok);
  ASSERT_EQ(v.names.size(), kSpecs.size());
  // Expected type per tensor (kSpecs order); the catch-all '*' rule comes after the named
  // ones, so only attn_q (f32 [512, 40]) gets q4_0 from it, not -t q4_k.
  const std::map<std::string, int> want_type = {
      {"token_embd.weight", 2}, {"blk.0.attn_norm.weight", 0}, {"blk.0.attn_q.weight", 2},
      {"blk.0.ffn_down.weight", 35}, {"blk.0.odd.weight", 1}, {"blk.0.attn_q.bias", 0},
      {"blk.0.ffn_gate_inp.weight", 0}, {"output.weight", 8}};
  for (size_t i = 0; i < kSpecs.size(); ++i) {
    const TensorSpec& t = kSpecs[i];
    ASSERT_EQ(v.names[i], t.name);
    EXPECT_EQ(v.types[i], want_type.at(t.name)) << t.name;
    if (v.types[i] == static_cast<int>(t.type)) continue;  // kept
    if (v.types[i] == 1) {
      // f32 -> f16 rounds as ggml_fp32_to_fp16 does.
      auto got = TensorBytes(out, v, i, Elems(t) * 2);
      for (size_t k = 0; k < Elems(t); ++k) {
        uint16_t h;
        std::memcpy(&h, got.data() + 2 * k, 2);
        ASSERT_EQ(h, lib_.fp32_to_fp16(values[i][k])) << t.name << " element " << k;
      }
      continue;
    }
    const auto q = static_cast<QuantType>(v.types[i]);
    const size_t bytes = Elems(t) / kernels::QuantBlockElems(q) * kernels::QuantBlockBytes(q);
    QuantOptions single = Opts(v.types[i] == 2 ? "q4_0" : v.types[i] == 8 ? "q8_0" : "tq2_0");
    single.include = {t.name};
    ASSERT_OK_AND_ASSIGN(auto alone, QuantRun(input, single));
    GgufView av = LoadWithGgml(alone);
    ASSERT_TRUE(av.ok);
    ASSERT_EQ(av.types[i], v.types[i]) << t.name;
    EXPECT_EQ(TensorBytes(out, v, i, bytes), TensorBytes(alone, av, i, bytes))
        << t.name << ": the mixed run differs from the single-type run";
  }
  // q4_0 holds the most weights (token_embd 8192 + attn_q 20480 of 40704 in matrices).
  EXPECT_EQ(v.file_type, 2);
}

// general.file_type follows the weights, not the tensor count: two small q8_0 matrices
// against one larger q4_K matrix give MOSTLY_Q4_K_M.
TEST_F(QuantStream, TypeMapFileTypeIsTheDominantType) {
  std::vector<std::vector<float>> values;
  auto input = MakeGguf(&values);
  QuantOptions o = Opts("keep");
  ASSERT_OK_AND_ASSIGN(o.type_map, ParseTypeMap("output.weight q8_0\nblk.0.odd.weight q8_0\n"
                                                "blk.0.attn_q.weight q4_k\n*  keep\n", 35));
  ASSERT_OK_AND_ASSIGN(auto out, QuantRun(input, o));
  GgufView v = LoadWithGgml(out);
  ASSERT_TRUE(v.ok);
  EXPECT_EQ(v.types[2], 12);
  EXPECT_EQ(v.types[4], 8);
  EXPECT_EQ(v.types[7], 8);
  // Matrices: attn_q q4_K 20480, token_embd f16 8192, ffn_down bf16 6144, q8_0 4864.
  EXPECT_EQ(v.file_type, 15);
  // Converting only a small matrix leaves the largest float type in charge: ALL_F32.
  ASSERT_OK_AND_ASSIGN(o.type_map, ParseTypeMap("output.weight q8_0\n*  keep\n", 35));
  ASSERT_OK_AND_ASSIGN(out, QuantRun(input, o));
  v = LoadWithGgml(out);
  ASSERT_TRUE(v.ok);
  EXPECT_EQ(v.types[7], 8);
  EXPECT_EQ(v.file_type, 0);  // f32 attn_q (20480) outweighs f16 token_embd and q8_0 output
}

// A rule whose block does not divide the rows of a tensor it matches is an error naming the
// map file, the line and the tensor, rather than a silent keep.
TEST_F(QuantStream, TypeMapRuleThatDoesNotFitIsAnError) {
  std::vector<std::vector<float>> values;
  auto input = MakeGguf(&values);
  for (const char* type : {"q4_k", "tq1_0", "ternary"}) {
    QuantOptions o = Opts("q8_0");
    ASSERT_OK_AND_ASSIGN(o.type_map, ParseTypeMap(std::string("# recipe\nblk.0.o* ") + type +
                                                      "\n", 35, "recipe.map"));
    auto r = QuantRun(input, o);
    ASSERT_FALSE(r.has_value()) << type;
    EXPECT_EQ(r.error().code, Errc::kUsage) << type;
    EXPECT_EQ(r.error().file, "recipe.map");
    EXPECT_EQ(r.error().tensor, "blk.0.odd.weight");
    EXPECT_NE(r.error().message.find("type map line 2"), std::string::npos) << r.error().ToString();
    EXPECT_NE(r.error().message.find("row length 96"), std::string::npos) << r.error().ToString();
  }
  // The same type from -t keeps the tensor, as before.
  EXPECT_TRUE(QuantRun(input, Opts("q4_k")).has_value());
  // Unknown types are refused when the map is read, naming the line.
  auto bad = ParseTypeMap("a q8_0\n\n# c\nb q5_k\n", 35, "m");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("type map line 4"), std::string::npos);
  EXPECT_NE(bad.error().message.find("unknown type 'q5_k'"), std::string::npos);
}

}  // namespace
}  // namespace mln::quant
