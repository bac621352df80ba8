#!/usr/bin/env bash
# mln-quant against ggml, in one run on this machine:
#   1. the quantizers: mln_quant_compare (ggml_quantize_chunk from libggml-base.so vs ours,
#      same input, 1 and 2 threads): MB/s of f32 input, ratio, byte equality;
#   2. the filter: mln-quant on a synthetic F16 GGUF of SIZE MiB (default 1024) for every
#      type at -T 1 and -T 2: wall and CPU seconds, MB/s of float input, peak RSS, which
#      must not grow with the model (run with 1024 and 4096 to see).
#
#   bench/quant_compare.sh BUILD_DIR [SIZE_MiB] [KERNEL_MiB]
#
# BUILD_DIR needs MLN_BUILD_BENCH=ON (for bench/mln_quant_compare) and the filters; the
# ggml library comes from the fixture cache (scripts/fetch-fixtures).
set -euo pipefail
build=${1:?usage: quant_compare.sh BUILD_DIR [SIZE_MiB] [KERNEL_MiB]}
size=${2:-1024}
kmib=${3:-256}
cache=${MLN_FIXTURES:-$HOME/.cache/mln/fixtures}
lib=${MLN_LIBGGML:-$cache/node-llama-cpp-linux-x64-3.22.1/package/bins/linux-x64/libggml-base.so}
bin=$build/filters
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mln-quant-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "== quantizers, ggml_quantize_chunk vs mln (best of 3; q4_K on 1/16 of the input)"
"$build/bench/mln_quant_compare" "$lib" "$kmib" 1
"$build/bench/mln_quant_compare" "$lib" "$kmib" 2

# A GGUF of one 2-D F16 weight per 64 MiB, rows of 4096, values ~N(0, 0.02) from a fixed
# seed (a 1 MiB random block repeated, so writing it is fast).
python3 - "$tmp/model.gguf" "$size" <<'PY'
import random, struct, sys
path, mib = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
block = b"".join(struct.pack("<e", rng.gauss(0.0, 0.02)) for _ in range(1 << 19))  # 1 MiB
per = 64  # MiB per tensor
n = max(1, mib // per)
rows = per * (1 << 20) // 2 // 4096
def s(t): b = t.encode(); return struct.pack("<Q", len(b)) + b
h = b"GGUF" + struct.pack("<IQQ", 3, n, 1) + s("general.architecture") + struct.pack("<I", 8) + s("llama")
for i in range(n):
    h += s(f"blk.{i}.ffn_up.weight") + struct.pack("<I", 2) + struct.pack("<qq", 4096, rows)
    h += struct.pack("<IQ", 1, i * per * (1 << 20))
h += bytes((-len(h)) % 32)
with open(path, "wb") as f:
    f.write(h)
    for i in range(n * per):
        f.write(block)
PY
bytes=$(stat -c %s "$tmp/model.gguf")
echo
echo "== mln-quant filter on a ${size} MiB F16 GGUF ($bytes bytes), output to /dev/null"
printf '%-8s %3s %8s %8s %10s %10s\n' type T wall_s cpu_s MB/s peak_RSS_MB
for t in q8_0 q4_0 q4_k tq2_0 tq1_0 ternary; do
  for threads in 1 2; do
    /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" \
      "$bin/mln-quant" -T "$threads" -t "$t" "$tmp/model.gguf" > /dev/null
    read -r wall user sys rss < "$tmp/time"
    awk -v t="$t" -v T="$threads" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$bytes" \
      'BEGIN { printf "%-8s %3d %8.2f %8.2f %10.0f %10.1f\n", t, T, w, u + s, (w > 0 ? b / w / 1e6 : 0), r / 1024 }'
  done
done
