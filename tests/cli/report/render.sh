#!/usr/bin/env bash
# bench/report renders its Markdown tables and plots from the benchmarks' TSV lines (here a
# fixed results.tsv, so no corpus and no benchmark runs are needed).
source "$(dirname "$0")/../lib.sh"
root="$(cd "$(dirname "$0")/../../.." && pwd)"
t=$'\t'
cat >"$T/in.tsv" <<TSV
pipeline${t}/c/big.gguf${t}1000000000${t}cat${t}1.0${t}3072
pipeline${t}/c/big.gguf${t}1000000000${t}cat | cat${t}1.25${t}-
pipeline${t}/c/big.gguf${t}1000000000${t}mln-parse | mln-emit${t}2.0${t}-
pipeline${t}/c/big.gguf${t}1000000000${t}mln-parse${t}-${t}40960
compress${t}/c/m.gguf${t}1048576${t}mln-compress -T1${t}524288${t}0.5${t}0.25
compress${t}/c/m.gguf${t}1048576${t}zstd -3${t}734003${t}0.1${t}-
compress${t}/c/m.gguf${t}1048576${t}mln-compress (all cores)${t}524288${t}0.25${t}0.5${t}0.125
verify${t}/c/m.gguf${t}1000000${t}openssl dgst -sha256${t}0.5
verify${t}/c/m.gguf${t}1000000${t}mln-verify --check${t}0.25
delta${t}pairA${t}mln-diff|mln-compress${t}1000000${t}1000${t}0.5${t}10240${t}0.2${t}8192${t}yes
delta${t}pairA${t}bsdiff${t}1000000${t}2000${t}5.0${t}102400${t}0.3${t}8192${t}yes
quant${t}q8_0 (-T 1)${t}1000${t}2000${t}yes
tflite${t}/c/a.tflite${t}1000${t}mln-compress -l 19${t}800${t}0.01
tflitemedian${t}mln-compress -l 19${t}81.55${t}13${t}1.234
quantfilter${t}q4_k${t}2${t}0.93${t}0.51${t}72${t}39.3
TSV
MLN_REPORT_FROM="$T/in.tsv" "$root/bench/report" -o "$T/out" 2>"$T/err" ||
  fail "bench/report failed: $(cat "$T/err")"
md=$T/out/report.md
has() { grep -qF -- "$1" "$md" || fail "report.md lacks '$1':"$'\n'"$(cat "$md")"; }
has "| big.gguf | mln-parse \| mln-emit | 2.000 | 500 | 2.00x |  |"
has "| big.gguf | mln-parse |  |  |  | 40.0 |"
# Rows from before the decode column (seven fields) leave it empty.
has "| m.gguf | 1.0 | mln-compress -T1 | 50.00% | 2 | 4 |  |"
has "| m.gguf | 1.0 | zstd -3 | 70.00% | 10 |  |  |"
has "| mln-compress -l 19 | 81.55% | 13 | 1.234 |"
has "| m.gguf | 1.0 | mln-compress (all cores) | 50.00% | 4 | 2 | 8 |"
has "| m.gguf | 1.0 | mln-verify --check | 0.250 | 4 |"
has "| pairA | mln-diff\|mln-compress | 0.100% | 0.50 | 10.0 | 0.20 | 8.0 | yes |"
has "| q8_0 (-T 1) | 1000 | 2000 | 2.00x | yes |"
has "| q4_k | 2 | 0.93 | 0.51 | 72 | 39.3 |"
cmp -s "$T/in.tsv" "$T/out/results.tsv" || fail "results.tsv is not the input"
if command -v gnuplot >/dev/null; then
  for b in pipeline compress verify delta quant; do
    has "![$b]($b.png)"
    [ "$(head -c 8 "$T/out/$b.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] ||
      fail "$b.png is not a PNG"
  done
fi
echo ok
