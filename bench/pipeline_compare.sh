#!/usr/bin/env bash
# pipeline_compare.sh: time `mln-parse x.gguf | mln-emit > /dev/null` against `cat x.gguf >
# /dev/null` and against `cat x.gguf | cat > /dev/null` (the cost of a pipe alone), all from
# page cache in the same run, and the peak memory of each filter. Reports ratios, since the
# machines are shared and noisy.
#
#   bench/pipeline_compare.sh [FILE.gguf] [RUNS]
# Without FILE, makes a 1 GiB F16 GGUF with ../shared/corpus/gen_scale.py when present.
# MLN_BENCH_TSV=FILE appends one tab-separated line per tool (bench/report reads them):
#   pipeline FILE BYTES TOOL SECONDS PEAK_RSS_KB     ('-' where not measured)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${MLN_BIN:-$ROOT/build/filters}"
FILE="${1:-}"
RUNS="${2:-5}"
TSV="${MLN_BENCH_TSV:-/dev/null}"
if [ -z "$FILE" ]; then
  FILE=/tmp/mln-bench/scale_1G.f16.gguf
  if [ ! -f "$FILE" ]; then
    mkdir -p "$(dirname "$FILE")"
    /usr/bin/python3 "$ROOT/../shared/corpus/gen_scale.py" 1G f16 "$FILE"
  fi
fi
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (scripts/bootstrap --bench)" >&2; exit 1; }
cat "$FILE" > /dev/null  # warm the page cache

best() {  # best wall time in seconds of RUNS runs of "$@"
  local b=""
  for _ in $(seq "$RUNS"); do
    local s e
    s=$(date +%s.%N); bash -c "$1"; e=$(date +%s.%N)
    b=$(echo "$s $e $b" | awk '{t=$2-$1; if ($3=="" || t<$3) print t; else print $3}')
  done
  echo "$b"
}
t_cat=$(best "cat '$FILE' > /dev/null")
t_pipe=$(best "cat '$FILE' | cat > /dev/null")
t_mln=$(best "'$BIN/mln-parse' '$FILE' | '$BIN/mln-emit' > /dev/null")
t_mln1=$(best "'$BIN/mln-parse' -T 1 '$FILE' | '$BIN/mln-emit' -T 1 > /dev/null")
rss() { /usr/bin/time -f %M bash -c "$1" 2>&1 >/dev/null | tail -1; }
m_parse=$(rss "'$BIN/mln-parse' '$FILE' > /dev/null")
"$BIN/mln-parse" "$FILE" > /tmp/mln-bench.mlns
m_emit=$(rss "'$BIN/mln-emit' /tmp/mln-bench.mlns > /dev/null")
m_cat=$(rss "cat '$FILE' > /dev/null")
rm -f /tmp/mln-bench.mlns
size=$(stat -c %s "$FILE")
{
  printf 'pipeline\t%s\t%s\t%s\t%s\t%s\n' "$FILE" "$size" "cat" "$t_cat" "$m_cat"
  printf 'pipeline\t%s\t%s\t%s\t%s\t%s\n' "$FILE" "$size" "cat | cat" "$t_pipe" -
  printf 'pipeline\t%s\t%s\t%s\t%s\t%s\n' "$FILE" "$size" "mln-parse | mln-emit" "$t_mln" -
  printf 'pipeline\t%s\t%s\t%s\t%s\t%s\n' "$FILE" "$size" "mln-parse | mln-emit, -T 1" "$t_mln1" -
  printf 'pipeline\t%s\t%s\t%s\t%s\t%s\n' "$FILE" "$size" "mln-parse" - "$m_parse"
  printf 'pipeline\t%s\t%s\t%s\t%s\t%s\n' "$FILE" "$size" "mln-emit" - "$m_emit"
} >> "$TSV"
awk -v f="$FILE" -v sz="$size" -v c="$t_cat" -v p="$t_pipe" -v m="$t_mln" -v m1="$t_mln1" \
    -v mp="$m_parse" -v me="$m_emit" -v mc="$m_cat" 'BEGIN {
  printf "file: %s (%.0f MiB), best of runs, page cache warm\n", f, sz / 1048576
  printf "  cat > /dev/null               %7.3f s  %7.0f MB/s\n", c, sz / c / 1e6
  printf "  cat | cat > /dev/null         %7.3f s  %7.0f MB/s\n", p, sz / p / 1e6
  printf "  mln-parse | mln-emit          %7.3f s  %7.0f MB/s\n", m, sz / m / 1e6
  printf "  same, -T 1 each               %7.3f s  %7.0f MB/s\n", m1, sz / m1 / 1e6
  printf "ratio mln / cat:        %.2fx (target <= 2x)\n", m / c
  printf "ratio mln / cat|cat:    %.2fx (the pipe alone costs %.2fx cat)\n", m / p, p / c
  printf "peak RSS: mln-parse %.1f MiB, mln-emit %.1f MiB, cat %.1f MiB (target < 64 MiB)\n", mp / 1024, me / 1024, mc / 1024
}'
