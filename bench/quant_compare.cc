// quant_compare: mln's block quantizers side by side with ggml_quantize_chunk from
// libggml-base.so (dlopen()ed, as the tests do), in one run, on the same float input.
//
//   quant_compare LIBGGML [MiB of f32 input, default 256] [threads, default 1]
//
// Prints, per type: MB/s of f32 input for ggml and for mln, the ratio, whether the two
// outputs are byte-identical, and the RMSE of each against the input (ggml's to_float on
// ggml's blocks, our dequantizer on ours). With threads > 1 both sides split the rows over that many
// std::threads the same way (ggml_quantize_chunk is thread-safe over disjoint rows).
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "libstream/kernels/quant_blocks.h"

namespace {

using mln::kernels::QuantType;
using Clock = std::chrono::steady_clock;
using QuantizeChunk = size_t (*)(int, const float*, void*, int64_t, int64_t, int64_t, const float*);
struct TypeTraits {  // struct ggml_type_traits (ggml.h)
  const char* type_name;
  int64_t blck_size, blck_size_interleave;
  size_t type_size;
  bool is_quantized;
  void (*to_float)(const void*, float*, int64_t);
  void (*from_float_ref)(const float*, void*, int64_t);
};

// RMSE of `q` (n elements of `x` quantized) dequantized by `to_float`.
template <typename F>
double Rmse(const std::vector<float>& x, size_t n, F to_float) {
  std::vector<float> y(n);
  to_float(y.data());
  double se = 0;
  for (size_t i = 0; i < n; ++i) se += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
  return std::sqrt(se / double(n));
}

double Seconds(const std::function<void()>& f, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

void Parallel(size_t rows, unsigned threads, const std::function<void(size_t, size_t)>& body) {
  if (threads <= 1) {
    body(0, rows);
    return;
  }
  std::vector<std::thread> pool;
  size_t per = (rows + threads - 1) / threads;
  for (unsigned t = 0; t < threads; ++t) {
    size_t a = std::min(rows, t * per), b = std::min(rows, a + per);
    pool.emplace_back(body, a, b);
  }
  for (auto& th : pool) th.join();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: quant_compare LIBGGML [MiB] [threads]\n");
    return 64;
  }
  void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    std::fprintf(stderr, "quant_compare: %s\n", dlerror());
    return 69;
  }
  auto quantize_chunk = reinterpret_cast<QuantizeChunk>(dlsym(h, "ggml_quantize_chunk"));
  auto quantize_init = reinterpret_cast<void (*)(int)>(dlsym(h, "ggml_quantize_init"));
  auto traits = reinterpret_cast<const TypeTraits* (*)(int)>(dlsym(h, "ggml_get_type_traits"));
  if (!quantize_chunk || !quantize_init || !traits) {
    std::fprintf(stderr, "quant_compare: ggml symbols missing\n");
    return 69;
  }
  const size_t mib = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 256;
  const unsigned threads = argc > 3 ? static_cast<unsigned>(std::strtoul(argv[3], nullptr, 10)) : 1;
  const size_t per_row = 4096;
  const size_t rows = mib * (1u << 20) / 4 / per_row;
  const size_t n = rows * per_row;
  std::vector<float> x(n);
  std::mt19937_64 rng(42);
  std::normal_distribution<float> g(0.0f, 0.02f);
  for (float& f : x) f = g(rng);

  std::printf("%zu MiB f32 (%zu rows of %zu), %u thread(s)\n", mib, rows, per_row, threads);
  std::printf("%-6s %12s %12s %8s %10s %12s %12s\n", "type", "ggml MB/s", "mln MB/s", "ratio",
              "identical", "ggml RMSE", "mln RMSE");
  const QuantType types[] = {QuantType::kQ8_0, QuantType::kQ4_0, QuantType::kQ4_K,
                             QuantType::kTQ2_0, QuantType::kTQ1_0};
  const char* names[] = {"q8_0", "q4_0", "q4_K", "tq2_0", "tq1_0"};
  int worst = 0;
  for (size_t k = 0; k < std::size(types); ++k) {
    QuantType t = types[k];
    const size_t row_bytes = per_row / mln::kernels::QuantBlockElems(t) * mln::kernels::QuantBlockBytes(t);
    std::vector<uint8_t> a(rows * row_bytes), b(rows * row_bytes);
    quantize_init(static_cast<int>(t));
    // Q4_K's reference is slow: time it on a slice so the run stays short.
    const size_t use_rows = t == QuantType::kQ4_K ? std::max<size_t>(rows / 16, threads) : rows;
    const int reps = t == QuantType::kQ4_K ? 1 : 3;
    double tg = Seconds([&] {
      Parallel(use_rows, threads, [&](size_t r0, size_t r1) {
        quantize_chunk(static_cast<int>(t), x.data(), a.data(), static_cast<int64_t>(r0 * per_row),
                       static_cast<int64_t>(r1 - r0), static_cast<int64_t>(per_row), nullptr);
      });
    }, reps);
    double tm = Seconds([&] {
      Parallel(use_rows, threads, [&](size_t r0, size_t r1) {
        mln::kernels::QuantizeBlocks(t, x.data() + r0 * per_row, (r1 - r0) * per_row,
                                     b.data() + r0 * row_bytes);
      });
    }, reps);
    bool same = std::memcmp(a.data(), b.data(), use_rows * row_bytes) == 0;
    if (!same) worst = 1;
    double mb = use_rows * per_row * 4.0 / 1e6;
    const size_t used = use_rows * per_row;
    double rg = Rmse(x, used, [&](float* y) { traits(static_cast<int>(t))->to_float(a.data(), y, used); });
    double rm = Rmse(x, used, [&](float* y) { mln::kernels::DequantizeBlocks(t, b.data(), used, y); });
    std::printf("%-6s %12.0f %12.0f %7.2fx %10s %12.6g %12.6g\n", names[k], mb / tg, mb / tm,
                tg / tm, same ? "yes" : "NO", rg, rm);
  }
  return worst;
}
