#!/usr/bin/env bash
# verify_compare.sh: time `mln-verify --check` on a 1 GiB stream against `openssl dgst
# -sha256` on the same bytes, best of RUNS, both from page cache in the same run, and report
# the throughput ratio (target: mln-verify at least 90% of openssl's throughput).
#
#   bench/verify_compare.sh [FILE.gguf] [RUNS]
# Without FILE, uses /tmp/mln-bench/scale_1G.f16.gguf (made by ../shared/corpus/gen_scale.py
# when missing).
# MLN_BENCH_TSV=FILE appends one tab-separated line per tool (bench/report reads them):
#   verify FILE BYTES TOOL SECONDS
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${MLN_BIN:-$ROOT/build/filters}"
FILE="${1:-/tmp/mln-bench/scale_1G.f16.gguf}"
RUNS="${2:-3}"
TSV="${MLN_BENCH_TSV:-/dev/null}"
if [ ! -f "$FILE" ]; then
  mkdir -p "$(dirname "$FILE")"
  /usr/bin/python3 "$ROOT/../shared/corpus/gen_scale.py" 1G f16 "$FILE"
fi
STREAM="${TMPDIR:-/tmp}/mln-verify-bench.$$.mlns"
trap 'rm -f "$STREAM"' EXIT
"$BIN/mln-parse" "$FILE" -o "$STREAM"
cat "$STREAM" > /dev/null  # warm the page cache

best() {  # best wall time in seconds of RUNS runs of "$1"
  local b=""
  for _ in $(seq "$RUNS"); do
    local s e
    s=$(date +%s.%N); bash -c "$1" > /dev/null; e=$(date +%s.%N)
    b=$(echo "$s $e $b" | awk '{t=$2-$1; if ($3=="" || t<$3) print t; else print $3}')
  done
  echo "$b"
}
t_ssl=$(best "openssl dgst -sha256 '$STREAM'")
t_mln=$(best "'$BIN/mln-verify' --check '$STREAM'")
size=$(stat -c %s "$STREAM")
printf 'verify\t%s\t%s\t%s\t%s\n' "$FILE" "$size" "openssl dgst -sha256" "$t_ssl" \
  "$FILE" "$size" "mln-verify --check" "$t_mln" >> "$TSV"
awk -v sz="$size" -v o="$t_ssl" -v m="$t_mln" -v r="$RUNS" 'BEGIN {
  printf "stream: %.0f MiB, best of %d, page cache warm\n", sz / 1048576, r
  printf "  openssl dgst -sha256     %7.3f s  %7.0f MB/s\n", o, sz / o / 1e6
  printf "  mln-verify --check       %7.3f s  %7.0f MB/s\n", m, sz / m / 1e6
  printf "ratio mln-verify / openssl throughput: %.1f%% (target >= 90%%)\n", 100 * o / m
}'
