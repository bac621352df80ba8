#!/usr/bin/env bash
# delta_scale.sh: mln-diff and mln-apply on big model pairs (gen_scale.py F16 GGUF plus a
# simulated fine-tune), where bspatch and zstd need memory proportional to the file: time,
# MB/s of output and peak RSS, with zstd --patch-from -3 --long=31 beside it for memory.
#
#   bench/delta_scale.sh [SIZE...]      e.g. 1G 4G (default 1G); files go to $MLN_BENCH_DIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${MLN_BIN:-$ROOT/build/filters}"
DIR="${MLN_BENCH_DIR:-/tmp/mln-bench}"
SHARED="${MLN_SHARED:-$ROOT/../shared}"
PATH="$BIN:$PATH"
mkdir -p "$DIR"
[ $# -gt 0 ] || set -- 1G

measure() {  # LABEL OUT CMD... : prints seconds, MB/s of OUT, peak RSS
  local label=$1 out=$2; shift 2
  /usr/bin/time -f '%e %M' -o "$DIR/time" "$@"
  read -r secs kb < "$DIR/time"
  local bytes; bytes=$(stat -c %s "$out")
  awk -v l="$label" -v s="$secs" -v k="$kb" -v b="$bytes" 'BEGIN {
    printf "  %-34s %8.2f s %9.0f MB/s %9.1f MiB RSS\n", l, s, b/s/1e6, k/1024 }'
}

for size in "$@"; do
  v1="$DIR/scale_$size.f16.gguf"; v2="$DIR/scale_$size.f16.ft.gguf"
  [ -f "$v1" ] || /usr/bin/python3 "$SHARED/corpus/gen_scale.py" "$size" f16 "$v1" >/dev/null
  [ -f "$v2" ] || /usr/bin/python3 "$ROOT/bench/finetune_pair.py" "$v1" "$v2"
  echo "$size F16 fine-tune pair: $(stat -c %s "$v2") bytes"
  cat "$v1" "$v2" >/dev/null
  measure "mln-diff -l 1 (output: patch)" "$DIR/p" mln-diff -l 1 "$v1" "$v2" -o "$DIR/p"
  echo "  patch: $(stat -c %s "$DIR/p") bytes ($(awk -v a="$(stat -c %s "$DIR/p")" -v b="$(stat -c %s "$v2")" 'BEGIN{printf "%.2f", 100*a/b}')% of new)"
  # mln-diff -o writes with direct I/O, so the patch is not in the page cache yet: read it
  # once, as the pair was, so apply is timed on cached inputs like zstd below.
  cat "$DIR/p" > /dev/null
  measure "mln-apply (output: new model)" "$DIR/out" mln-apply "$v1" "$DIR/p" -o "$DIR/out"
  cmp "$DIR/out" "$v2" || { echo "  APPLY DIFFERS"; exit 1; }
  measure "mln-apply -T 1" "$DIR/out" mln-apply -T 1 "$v1" "$DIR/p" -o "$DIR/out"
  # Free mln's outputs first: at 4G the pair, zstd's patch and its output alone take ~16 GB.
  rm -f "$DIR/out" "$DIR/p"
  # zstd 1.5.4 refuses a --patch-from base over 2 GB ("Can't handle files larger than 2 GB").
  if zstd -q -3 --long=31 -T0 --patch-from="$v1" -c "$v2" > "$DIR/zp" 2> "$DIR/zerr"; then
    measure "zstd -d --long=31 --patch-from" "$DIR/zout" \
      bash -c "zstd -q -d --long=31 --patch-from='$v1' -c '$DIR/zp' > '$DIR/zout'"
  else
    echo "  zstd --patch-from: failed ($(tail -n 1 "$DIR/zerr"))"
  fi
  rm -f "$DIR/out" "$DIR/zout" "$DIR/zp" "$DIR/zerr" "$DIR/p"
done
