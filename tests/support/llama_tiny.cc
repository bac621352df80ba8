// mln_llama_tiny: a test tool for llama.cpp's own model loader (libllama from npm
// @node-llama-cpp/linux-x64, dlopen()ed at run time, so nothing here links llama.cpp).
//
//   mln_llama_tiny write FILE   writes a tiny but complete llama-architecture GGUF (f16
//                               matrices, f32 norms, an SPM vocabulary with byte tokens)
//   mln_llama_tiny load FILE [LOGITS]
//                               reads FILE with ggml's gguf reader, then loads it with
//                               llama_model_load_from_file on the CPU and runs one decode;
//                               prints key=value lines to compare (exit 1 if it fails) and
//                               writes the last token's logits (f32) to LOGITS
//
// The model is generated rather than downloaded: no real llama GGUF is small enough to pin
// as a fixture, and the loader's checks (architecture keys, every tensor present with the
// right shape and type, vocabulary) hold for any size. Its sizes make every matrix row a
// multiple of 256, so every quant type fits. Library paths: $MLN_LIBLLAMA (libllama), whose
// directory also holds libggml-base, libggml and the CPU backends; default MLN_LIBLLAMA_PATH.
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

// Sizes: two layers, grouped-query attention (4 query heads, 2 key/value heads of 64).
constexpr uint32_t kEmbd = 256, kHeads = 4, kHeadsKv = 2, kHeadDim = kEmbd / kHeads;
constexpr uint32_t kFf = 512, kLayers = 2, kCtx = 256;
constexpr uint32_t kVocabWords = 41, kVocab = 3 + 256 + kVocabWords;

// GGUF value types (gguf.md).
enum : uint32_t { kU32 = 4, kI32 = 5, kF32 = 6, kString = 8, kArray = 9 };

struct Writer {
  std::vector<uint8_t> b;
  template <typename T>
  void Put(T v) {  // GGUF is little-endian, as x86-64, the only host libllama is built for
    uint8_t x[sizeof(T)];
    std::memcpy(x, &v, sizeof(T));
    b.insert(b.end(), x, x + sizeof(T));
  }
  void Str(const std::string& s) {
    Put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
  void KeyU32(const char* k, uint32_t v) { Str(k), Put(kU32), Put(v); }
  void KeyF32(const char* k, float v) { Str(k), Put(kF32), Put(v); }
  void KeyStr(const char* k, const std::string& v) { Str(k), Put(kString), Str(v); }
};

struct Tensor {
  std::string name;
  std::vector<uint64_t> ne;  // ggml order: ne[0] is the row
  uint32_t type;             // 0 f32, 1 f16
};

uint16_t ToF16(float f) {  // round to nearest even; inputs are small normal numbers
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  int32_t exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (exp <= 0) return static_cast<uint16_t>(sign);  // flush tiny values; none occur
  uint32_t h = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}

int Write(const char* path) {
  std::vector<Tensor> ts = {{"token_embd.weight", {kEmbd, kVocab}, 1},
                            {"output_norm.weight", {kEmbd}, 0},
                            {"output.weight", {kEmbd, kVocab}, 1}};
  for (uint32_t l = 0; l < kLayers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    ts.push_back({p + "attn_norm.weight", {kEmbd}, 0});
    ts.push_back({p + "attn_q.weight", {kEmbd, kHeads * kHeadDim}, 1});
    ts.push_back({p + "attn_k.weight", {kEmbd, kHeadsKv * kHeadDim}, 1});
    ts.push_back({p + "attn_v.weight", {kEmbd, kHeadsKv * kHeadDim}, 1});
    ts.push_back({p + "attn_output.weight", {kHeads * kHeadDim, kEmbd}, 1});
    ts.push_back({p + "ffn_norm.weight", {kEmbd}, 0});
    ts.push_back({p + "ffn_gate.weight", {kEmbd, kFf}, 1});
    ts.push_back({p + "ffn_down.weight", {kFf, kEmbd}, 1});
    ts.push_back({p + "ffn_up.weight", {kEmbd, kFf}, 1});
  }
  Writer w;
  w.b = {'G', 'G', 'U', 'F'};
  w.Put<uint32_t>(3);
  w.Put<uint64_t>(ts.size());
  w.Put<uint64_t>(15);  // KV count: 12 scalars and 3 tokenizer arrays, below
  w.KeyStr("general.architecture", "llama");
  w.KeyStr("general.name", "mln tiny llama");
  w.KeyU32("general.file_type", 1);  // MOSTLY_F16
  w.KeyU32("llama.context_length", kCtx);
  w.KeyU32("llama.embedding_length", kEmbd);
  w.KeyU32("llama.block_count", kLayers);
  w.KeyU32("llama.feed_forward_length", kFf);
  w.KeyU32("llama.attention.head_count", kHeads);
  w.KeyU32("llama.attention.head_count_kv", kHeadsKv);
  w.KeyU32("llama.rope.dimension_count", kHeadDim);
  w.KeyF32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.KeyStr("tokenizer.ggml.model", "llama");  // SentencePiece: <unk> <s> </s>, byte tokens
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};  // UNKNOWN, CONTROL, CONTROL
  for (int i = 0; i < 256; ++i) {
    char t[8];
    std::snprintf(t, sizeof t, "<0x%02X>", i);
    tokens.push_back(t);
    types.push_back(6);  // BYTE
  }
  for (uint32_t i = 0; i < kVocabWords; ++i) {
    tokens.push_back("\xe2\x96\x81w" + std::to_string(i));  // "▁w<i>"
    types.push_back(1);  // NORMAL
  }
  w.Str("tokenizer.ggml.tokens");
  w.Put(kArray), w.Put(kString), w.Put<uint64_t>(tokens.size());
  for (const auto& t : tokens) w.Str(t);
  w.Str("tokenizer.ggml.scores");
  w.Put(kArray), w.Put(kF32), w.Put<uint64_t>(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) w.Put(types[i] == 1 ? -static_cast<float>(i) : 0.0f);
  w.Str("tokenizer.ggml.token_type");
  w.Put(kArray), w.Put(kI32), w.Put<uint64_t>(tokens.size());
  for (int32_t t : types) w.Put(t);

  std::mt19937_64 rng(2024);
  std::normal_distribution<float> g(0.0f, 0.02f);
  std::vector<std::vector<uint8_t>> data;
  uint64_t off = 0;
  for (const auto& t : ts) {
    w.Str(t.name);
    w.Put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    uint64_t n = 1;
    for (uint64_t d : t.ne) w.Put(d), n *= d;
    w.Put(t.type);
    w.Put(off);
    Writer d;
    for (uint64_t i = 0; i < n; ++i) {
      if (t.type == 0) {
        d.Put(1.0f + g(rng));  // norm weights near 1
      } else {
        d.Put(ToF16(g(rng)));
      }
    }
    off += (d.b.size() + 31) / 32 * 32;
    data.push_back(std::move(d.b));
  }
  w.b.resize((w.b.size() + 31) / 32 * 32, 0);
  for (auto& d : data) {
    w.b.insert(w.b.end(), d.begin(), d.end());
    w.b.resize((w.b.size() + 31) / 32 * 32, 0);
  }
  std::FILE* f = std::fopen(path, "wb");
  if (!f || std::fwrite(w.b.data(), 1, w.b.size(), f) != w.b.size() || std::fclose(f) != 0) {
    std::fprintf(stderr, "mln_llama_tiny: cannot write %s\n", path);
    return 1;
  }
  return 0;
}

std::string g_log;  // llama.cpp's log, printed only when something fails

void Log(int /*level*/, const char* text, void* /*user*/) { g_log += text; }

int Die(const std::string& what) {
  std::fprintf(stderr, "mln_llama_tiny: %s\n%s", what.c_str(), g_log.c_str());
  return 1;
}

// llama_model_params / llama_context_params are passed and returned by value, and their
// fields change between llama.cpp releases. Only their defaults are used here, so they are
// held as opaque blobs larger than either struct (80 and ~140 bytes in this build): on
// x86-64 both are returned through a caller-provided buffer and passed by copying to the
// stack, where the callee reads its own fields from the start and ignores the rest.
struct alignas(16) Opaque {
  unsigned char bytes[512];
};

// struct llama_batch (llama.h), unchanged since the batch API was introduced.
struct LlamaBatch {
  int32_t n_tokens;
  int32_t* token;
  float* embd;
  int32_t* pos;
  int32_t* n_seq_id;
  int32_t** seq_id;
  int8_t* logits;
};

template <typename F>
F Sym(void* h, const char* name) {
  return reinterpret_cast<F>(dlsym(h, name));
}

int Load(const char* path, const char* logits_out) {
  const char* lib = std::getenv("MLN_LIBLLAMA");
#ifdef MLN_LIBLLAMA_PATH
  if (!lib || !*lib) lib = MLN_LIBLLAMA_PATH;
#endif
  if (!lib || !*lib) return Die("MLN_LIBLLAMA is not set (run scripts/fetch-fixtures)");
  const std::string dir = std::string(lib).substr(0, std::string(lib).rfind('/'));
  // libllama brings libggml-base (gguf, tensors) and libggml (the backend registry) as its
  // dependencies; dlsym on its handle searches them too.
  void* llama = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (!llama) return Die(std::string("dlopen: ") + dlerror());
  void* base = llama;
  void* reg = llama;

  // ggml's gguf reader first: what the file says about itself.
  struct GgufParams {
    bool no_alloc;
    void** ctx;
  };
  auto gguf_init = Sym<void* (*)(const char*, GgufParams)>(base, "gguf_init_from_file");
  auto gguf_n = Sym<int64_t (*)(void*)>(base, "gguf_get_n_tensors");
  auto gguf_name = Sym<const char* (*)(void*, int64_t)>(base, "gguf_get_tensor_name");
  auto gguf_find = Sym<int64_t (*)(void*, const char*)>(base, "gguf_find_key");
  auto gguf_u32 = Sym<uint32_t (*)(void*, int64_t)>(base, "gguf_get_val_u32");
  auto get_tensor = Sym<void* (*)(void*, const char*)>(base, "ggml_get_tensor");
  auto nelements = Sym<int64_t (*)(const void*)>(base, "ggml_nelements");
  auto nbytes = Sym<size_t (*)(const void*)>(base, "ggml_nbytes");
  if (!gguf_init || !gguf_n || !gguf_name || !gguf_find || !gguf_u32 || !get_tensor ||
      !nelements || !nbytes) {
    return Die("missing ggml symbols");
  }
  void* ctx = nullptr;
  void* gg = gguf_init(path, GgufParams{true, &ctx});
  if (!gg) return Die(std::string("ggml's gguf_init_from_file rejects ") + path);
  int64_t elems = 0;
  size_t bytes = 0;
  for (int64_t i = 0; i < gguf_n(gg); ++i) {
    const void* t = get_tensor(ctx, gguf_name(gg, i));
    elems += nelements(t);
    bytes += nbytes(t);
  }
  const int64_t ft = gguf_find(gg, "general.file_type");
  std::printf("gguf.n_tensors=%lld\ngguf.n_elements=%lld\ngguf.n_bytes=%zu\ngguf.file_type=%lld\n",
              static_cast<long long>(gguf_n(gg)), static_cast<long long>(elems), bytes,
              ft >= 0 ? static_cast<long long>(gguf_u32(gg, ft)) : -1LL);

  // Then llama.cpp: CPU backends from the package directory, the model, one decode.
  auto load_all = Sym<void (*)(const char*)>(reg, "ggml_backend_load_all_from_path");
  auto log_set = Sym<void (*)(void (*)(int, const char*, void*), void*)>(llama, "llama_log_set");
  auto backend_init = Sym<void (*)()>(llama, "llama_backend_init");
  auto model_defaults = Sym<Opaque (*)()>(llama, "llama_model_default_params");
  auto model_load = Sym<void* (*)(const char*, Opaque)>(llama, "llama_model_load_from_file");
  auto model_free = Sym<void (*)(void*)>(llama, "llama_model_free");
  auto n_params = Sym<uint64_t (*)(const void*)>(llama, "llama_model_n_params");
  auto model_size = Sym<uint64_t (*)(const void*)>(llama, "llama_model_size");
  auto model_desc = Sym<int32_t (*)(const void*, char*, size_t)>(llama, "llama_model_desc");
  auto n_layer = Sym<int32_t (*)(const void*)>(llama, "llama_model_n_layer");
  auto n_embd = Sym<int32_t (*)(const void*)>(llama, "llama_model_n_embd");
  auto get_vocab = Sym<const void* (*)(const void*)>(llama, "llama_model_get_vocab");
  auto n_tokens = Sym<int32_t (*)(const void*)>(llama, "llama_vocab_n_tokens");
  auto ctx_defaults = Sym<Opaque (*)()>(llama, "llama_context_default_params");
  auto init_ctx = Sym<void* (*)(void*, Opaque)>(llama, "llama_init_from_model");
  auto free_ctx = Sym<void (*)(void*)>(llama, "llama_free");
  auto batch_one = Sym<LlamaBatch (*)(int32_t*, int32_t)>(llama, "llama_batch_get_one");
  auto decode = Sym<int32_t (*)(void*, LlamaBatch)>(llama, "llama_decode");
  auto logits_ith = Sym<float* (*)(void*, int32_t)>(llama, "llama_get_logits_ith");
  if (!load_all || !log_set || !backend_init || !model_defaults || !model_load || !model_free ||
      !n_params || !model_size || !model_desc || !n_layer || !n_embd || !get_vocab || !n_tokens ||
      !ctx_defaults || !init_ctx || !free_ctx || !batch_one || !decode || !logits_ith) {
    return Die("missing llama symbols");
  }
  log_set(Log, nullptr);
  load_all(dir.c_str());
  backend_init();
  void* model = model_load(path, model_defaults());
  if (!model) return Die(std::string("llama_model_load_from_file failed for ") + path);
  char desc[128] = {};
  model_desc(model, desc, sizeof desc);
  std::printf("llama.n_params=%llu\nllama.size=%llu\nllama.desc=%s\nllama.n_layer=%d\n"
              "llama.n_embd=%d\nllama.n_vocab=%d\n",
              static_cast<unsigned long long>(n_params(model)),
              static_cast<unsigned long long>(model_size(model)), desc, n_layer(model),
              n_embd(model), n_tokens(get_vocab(model)));

  // One decode through the quantized matrices: the weights are not only well-formed but
  // usable by ggml's CPU kernels, giving finite logits over the whole vocabulary.
  void* lctx = init_ctx(model, ctx_defaults());
  if (!lctx) return Die("llama_init_from_model failed");
  std::vector<int32_t> prompt = {1, 3 + 'h', 3 + 'i', 3 + 256 + 5};
  if (decode(lctx, batch_one(prompt.data(), static_cast<int32_t>(prompt.size()))) != 0) {
    return Die("llama_decode failed");
  }
  const float* logits = logits_ith(lctx, -1);
  if (!logits) return Die("no logits");
  int finite = 0;
  double spread = 0;
  for (uint32_t i = 0; i < kVocab; ++i) {
    finite += std::isfinite(logits[i]) ? 1 : 0;
    spread = std::max(spread, std::fabs(static_cast<double>(logits[i] - logits[0])));
  }
  std::printf("llama.finite_logits=%d\nllama.logit_spread_nonzero=%d\n", finite, spread > 0 ? 1 : 0);
  if (logits_out) {
    std::FILE* f = std::fopen(logits_out, "wb");
    if (!f || std::fwrite(logits, sizeof(float), kVocab, f) != kVocab || std::fclose(f) != 0) {
      return Die(std::string("cannot write ") + logits_out);
    }
  }
  free_ctx(lctx);
  model_free(model);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "write") == 0) return Write(argv[2]);
  if ((argc == 3 || argc == 4) && std::strcmp(argv[1], "load") == 0) {
    return Load(argv[2], argc == 4 ? argv[3] : nullptr);
  }
  std::fprintf(stderr, "usage: mln_llama_tiny write FILE | load FILE [LOGITS]\n");
  return 64;
}
