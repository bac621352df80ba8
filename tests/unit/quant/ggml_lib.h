// The real ggml quantizers, dlopen()ed from libggml-base.so (npm @node-llama-cpp/linux-x64,
// path in $MLN_LIBGGML), for byte-for-byte comparisons. Prototypes from ggml/include/ggml.h.
#pragma once

#include <dlfcn.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace mln::testing {

struct GgmlTypeTraits {  // struct ggml_type_traits
  const char* type_name;
  int64_t blck_size;
  int64_t blck_size_interleave;
  size_t type_size;
  bool is_quantized;
  void (*to_float)(const void* x, float* y, int64_t k);
  void (*from_float_ref)(const float* x, void* y, int64_t k);
};

/// The GGUF fixtures directory: $MLN_GGUF_FIXTURES, else the build's default.
inline std::string GgufFixtureDir() {
  const char* dir = std::getenv("MLN_GGUF_FIXTURES");
#ifdef MLN_QUANT_GGUF_FIXTURES
  if (!dir || !*dir) dir = MLN_QUANT_GGUF_FIXTURES;
#endif
  return dir ? dir : "";
}

class GgmlLib {
 public:
  /// Loads $MLN_LIBGGML; ok() is false (and error() says why) when it cannot.
  GgmlLib() {
    const char* path = std::getenv("MLN_LIBGGML");
#ifdef MLN_QUANT_LIBGGML
    if (!path || !*path) path = MLN_QUANT_LIBGGML;
#endif
    if (!path || !*path) {
      error_ = "MLN_LIBGGML is not set (scripts/fetch-fixtures, then run through ctest)";
      return;
    }
    handle_ = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle_) {
      error_ = dlerror();
      return;
    }
    quantize_chunk = reinterpret_cast<decltype(quantize_chunk)>(dlsym(handle_, "ggml_quantize_chunk"));
    quantize_init = reinterpret_cast<decltype(quantize_init)>(dlsym(handle_, "ggml_quantize_init"));
    type_traits = reinterpret_cast<decltype(type_traits)>(dlsym(handle_, "ggml_get_type_traits"));
    fp32_to_fp16 = reinterpret_cast<decltype(fp32_to_fp16)>(dlsym(handle_, "ggml_fp32_to_fp16"));
    if (!quantize_chunk || !quantize_init || !type_traits || !fp32_to_fp16) {
      error_ = "missing ggml symbols";
    }
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  size_t (*quantize_chunk)(int type, const float* src, void* dst, int64_t start, int64_t nrows,
                           int64_t n_per_row, const float* imatrix) = nullptr;
  void (*quantize_init)(int type) = nullptr;
  const GgmlTypeTraits* (*type_traits)(int type) = nullptr;
  uint16_t (*fp32_to_fp16)(float) = nullptr;

 private:
  void* handle_ = nullptr;
  std::string error_;
};

}  // namespace mln::testing
