// codec_compare: mln's payload codecs in memory, side by side with libzstd on the same
// chunks, one thread, in one run. This is the figure comparable with ZipNN's C core (its
// published MB/s are for the codec on buffers in memory, without files, pipes, checksums or
// the stream's SHA-256); bench/compress_compare.sh measures the whole filter.
//
//   codec_compare STREAM [LEVEL] [RUNS]
//
// STREAM is an mln stream (mln-parse MODEL -o STREAM). Every raw frame is encoded as
// mln-compress would (auto codec choice at LEVEL, default the filter's) and decoded again;
// zstd -3 and -1 compress and decompress the same payloads. Prints size kept and MB/s of
// model bytes, best of RUNS (default 5), and checks every decoded payload.
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <vector>

#include "libstream/base/byte_io.h"
#include "libstream/codecs/codec.h"
#include "libstream/stream/reader.h"

namespace {

using Clock = std::chrono::steady_clock;
using mln::AlignedBuffer;

double BestSeconds(int runs, const std::function<void()>& body) {
  double best = 1e30;
  for (int r = 0; r < runs; ++r) {
    auto start = Clock::now();
    body();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return best;
}

void Row(const char* name, uint64_t bytes, uint64_t stored, double c, double d) {
  std::printf("  %-26s %7.2f%%  %8.0f MB/s  %8.0f MB/s\n", name, 100.0 * stored / bytes,
              bytes / c / 1e6, bytes / d / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: codec_compare STREAM [LEVEL] [RUNS]\n");
    return 64;
  }
  mln::codecs::EncodeOptions options;
  if (argc > 2) options.level = std::atoi(argv[2]);
  const int runs = argc > 3 ? std::atoi(argv[3]) : 5;

  int fd = ::open(argv[1], O_RDONLY);
  if (fd < 0) {
    std::perror(argv[1]);
    return 66;
  }
  auto src = mln::MakeFdSource(fd, argv[1], true);
  mln::stream::Reader reader(*src, mln::stream::FrameChecksOnly());
  std::vector<mln::stream::Frame> frames;
  uint64_t bytes = 0;
  for (;;) {
    auto next = reader.Next();
    if (!next) {
      std::fprintf(stderr, "%s: %s\n", argv[1], next.error().message.c_str());
      return 65;
    }
    if (!*next) break;
    if ((*next)->header.codec != 0 || (*next)->payload.empty()) continue;
    bytes += (*next)->payload.size();
    frames.push_back(std::move(**next));
  }
  std::printf("%s: %zu payloads, %llu bytes, one thread, best of %d, in memory\n", argv[1],
              frames.size(), static_cast<unsigned long long>(bytes), runs);
  std::printf("  %-26s %8s  %13s  %13s\n", "codec", "kept", "compress", "decompress");

  // mln: EncodeFrame on a copy of each frame, DecodePayload back (DecodeFrame would add the
  // XXH3 check the filter does; the codec core is what ZipNN's figures measure).
  // EncodeFrame works in place, so each run starts from fresh copies, made before the clock
  // starts: zstd's side below is not timed copying its input either.
  std::vector<mln::stream::Frame> encoded(frames.size());
  double c = 1e30;
  for (int r = 0; r < runs; ++r) {
    for (size_t i = 0; i < frames.size(); ++i) {
      encoded[i].header = frames[i].header;
      encoded[i].payload = AlignedBuffer(frames[i].payload.size());
      std::memcpy(encoded[i].payload.data(), frames[i].payload.data(), frames[i].payload.size());
    }
    c = std::min(c, BestSeconds(1, [&] {
      for (auto& f : encoded) {
        if (!mln::codecs::EncodeFrame(f, options)) std::abort();
      }
    }));
  }
  uint64_t stored = 0;
  for (auto& f : encoded) stored += f.payload.size();
  std::vector<AlignedBuffer> decoded(frames.size());
  double d = BestSeconds(runs, [&] {
    for (size_t i = 0; i < frames.size(); ++i) {
      if (!mln::codecs::DecodePayload(encoded[i].header.codec, encoded[i].payload.span(),
                                      encoded[i].header.decoded_size, decoded[i])) {
        std::abort();
      }
    }
  });
  for (size_t i = 0; i < frames.size(); ++i) {
    if (decoded[i].size() != frames[i].payload.size() ||
        std::memcmp(decoded[i].data(), frames[i].payload.data(), decoded[i].size()) != 0) {
      std::fprintf(stderr, "mln round trip differs on frame %zu\n", i);
      return 1;
    }
  }
  Row(("mln (level " + std::to_string(options.level) + ")").c_str(), bytes, stored, c, d);

  for (int level : {-1, 1, 3}) {
    // Output buffers are allocated (and faulted in) before timing, as mln's pool does.
    std::vector<std::vector<uint8_t>> z(frames.size());
    std::vector<size_t> zn(frames.size());
    for (size_t i = 0; i < frames.size(); ++i) z[i].resize(ZSTD_compressBound(frames[i].payload.size()));
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    double zc = BestSeconds(runs, [&] {
      for (size_t i = 0; i < frames.size(); ++i) {
        zn[i] = ZSTD_compressCCtx(cctx, z[i].data(), z[i].size(), frames[i].payload.data(),
                                  frames[i].payload.size(), level);
        if (ZSTD_isError(zn[i])) std::abort();
      }
    });
    uint64_t zs = 0;
    for (size_t n : zn) zs += n;
    double zd = BestSeconds(runs, [&] {
      for (size_t i = 0; i < frames.size(); ++i) {
        size_t n = ZSTD_decompressDCtx(dctx, decoded[i].data(), decoded[i].size(), z[i].data(),
                                       zn[i]);
        if (ZSTD_isError(n) || n != frames[i].payload.size()) std::abort();
      }
    });
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
    Row(("zstd " + std::to_string(level)).c_str(), bytes, zs, zc, zd);
  }
  return 0;
}
