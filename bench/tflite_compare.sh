#!/usr/bin/env bash
# tflite_compare.sh: the real f16 TFLite set of issue #4 (target: median size kept <= 82%),
# side by side in one run: mln-compress at its default level and at -l 19 (context-modelled
# exponent planes, man/mln-compress.1) against zstd -3, zstd -19 --long=27 and xz -6 and -9.
# Per file: size kept and decode time of the whole set, one thread; then the median of
# each tool over the set.
#
#   bench/tflite_compare.sh FILE...        (default: every $CORPUS/tflite/*.tflite)
#   MLN_BENCH_TSV=FILE appends, per file and tool, and per tool for the set:
#     tflite FILE BYTES TOOL OUT_BYTES DECODE_S
#     tflitemedian TOOL MEDIAN_PERCENT FILES DECODE_S_ALL
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${MLN_BIN:-$ROOT/build/filters}"
CORPUS="${CORPUS:-/tmp/mln-corpus}"
TSV="${MLN_BENCH_TSV:-/dev/null}"
. "$ROOT/bench/tmpdir.sh"
files=("$@")
[ ${#files[@]} -gt 0 ] || files=("$CORPUS"/tflite/*.tflite)

secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$s $e" | awk '{print $2-$1}'; }
tools=("mln-compress" "mln-compress -l 19" "zstd -3" "zstd -19 --long=27" "xz -6" "xz -9")
compress() {  # tool file -> $TMP/out.mlnz
  case $1 in
    mln-compress*) $BIN/$1 -T 1 -c "$2" >"$TMP/out.mlnz" ;;
    zstd*) $1 -T1 -q -c "$2" >"$TMP/out.mlnz" ;;
    xz*) $1 -T1 -c "$2" >"$TMP/out.mlnz" ;;
  esac
}
decompress() {  # tool -> model bytes on stdout
  case $1 in
    mln-compress*) "$BIN/mln-compress" -T 1 -dc "$TMP/out.mlnz" ;;
    zstd*) zstd -d -T1 -q -c --long=31 <"$TMP/out.mlnz" ;;
    xz*) xz -d -T1 -c <"$TMP/out.mlnz" ;;
  esac
}
declare -A pcts decode
printf '%-42s' "size kept"; printf ' %20s' "${tools[@]}"; echo
for f in "${files[@]}"; do
  bytes=$(stat -c %s "$f")
  printf '%-42s' "$(basename "$f")"
  for t in "${tools[@]}"; do
    compress "$t" "$f"
    out=$(stat -c %s "$TMP/out.mlnz")
    decompress "$t" | cmp -s - "$f" || { echo; echo "$t: round trip FAILED on $f"; exit 1; }
    d=$(secs bash -c "$(declare -f decompress); BIN='$BIN' TMP='$TMP' decompress '$t'")
    pct=$(awk -v o="$out" -v b="$bytes" 'BEGIN { printf "%.2f", 100 * o / b }')
    pcts[$t]+="$pct "
    decode[$t]=$(awk -v a="${decode[$t]:-0}" -v d="$d" 'BEGIN { print a + d }')
    printf ' %19s%%' "$pct"
    printf 'tflite\t%s\t%s\t%s\t%s\t%s\n' "$f" "$bytes" "$t" "$out" "$d" >>"$TSV"
  done
  echo
done
printf '%-42s' "median (${#files[@]} files)"
for t in "${tools[@]}"; do
  m=$(tr ' ' '\n' <<<"${pcts[$t]}" | grep . | sort -n |
      awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
  printf ' %19s%%' "$m"
  printf 'tflitemedian\t%s\t%s\t%s\t%s\n' "$t" "$m" "${#files[@]}" "${decode[$t]}" >>"$TSV"
done
echo
printf '%-42s' "decode s, whole set, one thread"
for t in "${tools[@]}"; do printf ' %20.3f' "${decode[$t]}"; done
echo
