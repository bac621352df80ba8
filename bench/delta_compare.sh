#!/usr/bin/env bash
# delta_compare.sh: mln-diff -z (= mln-diff | mln-compress) against zstd --patch-from -19
# --long=31, xdelta3 -9 -S djw and bsdiff on the same version pairs in one run: patch size as
# % of the new file, time and peak RSS to make and to apply each patch, and mln's size and
# diff time relative to each peer. Every patch is applied and compared with the new file.
#
#   bench/delta_compare.sh PAIR_DIR...     (each holds v1.* and v2.*; e.g. corpus/pairs/*)
#   MLN_BENCH_TSV=FILE appends one tab-separated line per pair and tool.
#   MLN_BENCH_BSDIFF_MAX=BYTES skips bsdiff on larger new files (default 32 MiB: bsdiff
#   needs about 17x the file in memory and ~10 minutes for 27 MB on a shared 2-core VM).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${MLN_BIN:-$ROOT/build/filters}"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
TSV="${MLN_BENCH_TSV:-/dev/null}"
BSDIFF_MAX="${MLN_BENCH_BSDIFF_MAX:-33554432}"

# measure OUT CMD...: runs CMD under /usr/bin/time; sets SECS (wall, to the millisecond:
# time's own %e has 10 ms steps, as long as a whole diff of a small pair) and RSS_KB. A
# run under half a second is repeated twice and the fastest kept, for every tool alike:
# one run of 20 ms is at the mercy of the shared machine.
measure() {
  local out=$1; shift
  local runs=1 best="" start end secs
  for ((i = 0; i < runs; i++)); do
    start=$EPOCHREALTIME
    /usr/bin/time -f '%M' -o "$TMP/time" "$@" > "$out"
    end=$EPOCHREALTIME
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
    if [ -z "$best" ] || awk -v a="$secs" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$secs; fi
    if [ "$i" -eq 0 ] && awk -v a="$secs" 'BEGIN { exit !(a < 0.5) }'; then runs=3; fi
  done
  SECS=$best
  read -r RSS_KB < "$TMP/time"
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", 100*a/b }'; }

printf '%-34s %-22s %9s %8s %8s %9s %8s %8s\n' pair tool "patch%" "diff s" "diff MB" "apply s" "apply MB" ok
for dir in "$@"; do
  [ -d "$dir" ] || continue  # corpus/pairs/* also holds a README
  pair=$(basename "$dir")
  v1=$(ls "$dir"/v1.* | head -1); v2=$(ls "$dir"/v2.* | head -1)
  new=$(stat -c %s "$v2")
  cat "$v1" "$v2" > /dev/null
  declare -A size=() dtime=()
  row() {  # tool patch_bytes diff_s diff_kb apply_s apply_kb ok
    size[$1]=$2; dtime[$1]=$3
    printf '%-34s %-22s %9s %8.3f %8.1f %9.3f %8.1f %8s\n' "$pair" "$1" "$(pct "$2" "$new")" "$3" \
      "$(awk -v k="$4" 'BEGIN{print k/1024}')" "$5" "$(awk -v k="$6" 'BEGIN{print k/1024}')" "$7"
    printf 'delta\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$pair" "$1" "$new" "$2" "$3" "$4" "$5" "$6" "$7" >> "$TSV"
  }
  check() { cmp -s "$1" "$v2" && echo yes || echo NO; }

  # mln-diff -z is mln-diff | mln-compress in one process (checked here, untimed), as zstd
  # --patch-from compresses in the same run.
  measure "$TMP/mln.pz" "$BIN/mln-diff" -z "$v1" "$v2"
  ds=$SECS; dk=$RSS_KB
  "$BIN/mln-diff" "$v1" "$v2" | "$BIN/mln-compress" > "$TMP/mln.p"
  cmp -s "$TMP/mln.p" "$TMP/mln.pz" || { echo "$pair: mln-diff -z differs from mln-diff | mln-compress" >&2; exit 1; }
  measure "$TMP/mln.out" "$BIN/mln-apply" "$v1" "$TMP/mln.pz"
  row "mln-diff|mln-compress" "$(stat -c %s "$TMP/mln.pz")" "$ds" "$dk" "$SECS" "$RSS_KB" "$(check "$TMP/mln.out")"
  "$BIN/mln-compress" < "$v2" > "$TMP/plain"
  plain=$(stat -c %s "$TMP/plain")

  measure "$TMP/zstd.p" zstd -q -19 --long=31 -T1 --patch-from="$v1" -c "$v2"
  ds=$SECS; dk=$RSS_KB
  measure "$TMP/zstd.out" zstd -q -d --long=31 --patch-from="$v1" -c "$TMP/zstd.p"
  row "zstd --patch-from -19" "$(stat -c %s "$TMP/zstd.p")" "$ds" "$dk" "$SECS" "$RSS_KB" "$(check "$TMP/zstd.out")"

  measure "$TMP/xd.p" xdelta3 -9 -S djw -e -c -s "$v1" "$v2"
  ds=$SECS; dk=$RSS_KB
  measure "$TMP/xd.out" xdelta3 -d -c -s "$v1" "$TMP/xd.p"
  row "xdelta3 -9 -S djw" "$(stat -c %s "$TMP/xd.p")" "$ds" "$dk" "$SECS" "$RSS_KB" "$(check "$TMP/xd.out")"

  if [ "$new" -le "$BSDIFF_MAX" ]; then
    measure /dev/null bsdiff "$v1" "$v2" "$TMP/bs.p"
    ds=$SECS; dk=$RSS_KB
    measure /dev/null bspatch "$v1" "$TMP/bs.out" "$TMP/bs.p"
    row "bsdiff" "$(stat -c %s "$TMP/bs.p")" "$ds" "$dk" "$SECS" "$RSS_KB" "$(check "$TMP/bs.out")"
  else
    echo "$pair: bsdiff skipped ($new bytes > MLN_BENCH_BSDIFF_MAX=$BSDIFF_MAX)"
    size[bsdiff]=999999999999; dtime[bsdiff]=0
  fi

  m=${size[mln-diff|mln-compress]}
  best=$(printf '%s\n' "${size[zstd --patch-from -19]}" "${size[xdelta3 -9 -S djw]}" "${size[bsdiff]}" | sort -n | head -1)
  awk -v p="$pair" -v m="$m" -v b="$best" -v bs="${size[bsdiff]}" -v pl="$plain" \
      -v dm="${dtime[mln-diff|mln-compress]}" -v dz="${dtime[zstd --patch-from -19]}" -v db="${dtime[bsdiff]}" 'BEGIN {
    printf "%-34s mln/best peer %.3f  mln/bsdiff %.3f  mln/plain mln-compress %.3f  diff speed: %.1fx bsdiff, %.1fx zstd\n",
      p, m/b, m/bs, m/pl, db/dm, dz/dm }'
  unset size dtime
done
