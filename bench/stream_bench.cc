// Throughput of the stream's fixed costs per byte: the per-frame checksum (XXH3), the
// trailer digest (SHA-256 through EVP), and writing then reading a stream in memory.
#include <benchmark/benchmark.h>

#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/crypto/digest.h"
#include "libstream/stream/reader.h"
#include "libstream/stream/writer.h"

namespace {

std::vector<uint8_t> Bytes(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 2654435761u >> 13);
  return v;
}

void BM_Xxh3(benchmark::State& state) {
  auto data = Bytes(4 << 20);
  for (auto _ : state) benchmark::DoNotOptimize(mln::crypto::Xxh3(data));
  state.SetBytesProcessed(state.iterations() * data.size());
}
BENCHMARK(BM_Xxh3);

void BM_Sha256(benchmark::State& state) {
  auto data = Bytes(4 << 20);
  for (auto _ : state) {
    mln::crypto::Sha256 sha;
    sha.Update(data.data(), data.size());
    benchmark::DoNotOptimize(sha.Final());
  }
  state.SetBytesProcessed(state.iterations() * data.size());
}
BENCHMARK(BM_Sha256);

void BM_WriteThenRead(benchmark::State& state) {
  auto data = Bytes(4 << 20);
  const int frames = 16;
  // Reused across iterations: fresh 64 MiB vectors would measure page faults, not mln.
  std::vector<uint8_t> out;
  out.reserve(frames * (data.size() + 4096));
  for (auto _ : state) {
    out.clear();
    auto sink = mln::MakeMemorySink(&out, "mem");
    mln::stream::Writer w(*sink);
    for (int i = 0; i < frames; ++i) {
      mln::stream::Frame f;
      f.header.kind = static_cast<uint16_t>(mln::stream::FrameKind::kTensor);
      f.payload.Append(data.data(), data.size());
      mln::stream::SealFrame(f);
      (void)w.Put(std::move(f));
    }
    (void)w.Finish();
    auto src = mln::MakeMemorySource(out, "mem");
    mln::stream::Reader r(*src);
    while (auto f = r.Next()) {
      if (!*f) break;
      benchmark::DoNotOptimize(mln::stream::VerifyFrame(**f));
    }
  }
  state.SetBytesProcessed(state.iterations() * frames * data.size());
}
BENCHMARK(BM_WriteThenRead);

}  // namespace

BENCHMARK_MAIN();
