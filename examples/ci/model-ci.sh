#!/usr/bin/env bash
# model-ci.sh: the model stage of a CI pipeline (examples/ci/gitlab-ci.yml and
# github-workflow.yml call it). It fails the build when a model would not survive release:
#
#   1. the model round-trips through the stream byte for byte (mln-parse | mln-emit);
#   2. the compressed, signed stream checks and rebuilds the model (mln-compress,
#      mln-verify --sign with a throwaway key, mln-verify --pubkey, mln-emit);
#   3. with --prev OLD: the patch from OLD applies and gives the model (mln-diff,
#      mln-apply --check), and is at most --max-patch PCT of the model (default 100);
#   4. with --quant TYPE: the quantized model reads back (mln-quant, mln-inspect).
#
#   model-ci.sh [--prev OLD] [--quant TYPE] [--max-patch PCT] [--artifacts DIR] MODEL
#
# Writes DIR (default ci-artifacts): inspect.json (mln-inspect --json), summary.md (sizes,
# patch ratio), the patch. MLN_BIN names the directory of the mln-* programs when they are
# not on PATH. Exit status 0 when every gate passes, 1 when one fails.
set -euo pipefail
prev="" quant="" max_patch=100 art=ci-artifacts
while [ $# -gt 1 ]; do
  case $1 in
    --prev) prev=$2; shift 2 ;;
    --quant) quant=$2; shift 2 ;;
    --max-patch) max_patch=$2; shift 2 ;;
    --artifacts) art=$2; shift 2 ;;
    *) echo "model-ci: unknown option $1" >&2; exit 64 ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: model-ci.sh [--prev OLD] [--quant TYPE] [--max-patch PCT] [--artifacts DIR] MODEL" >&2; exit 64; }
model=$1
mln() { local tool=$1; shift; "${MLN_BIN:+$MLN_BIN/}mln-$tool" "$@"; }
mkdir -p "$art"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
failed=0
gate() {  # gate NAME CMD...: runs a check, reports it in CI-log style
  local name=$1; shift
  if "$@" >"$tmp/gate.log" 2>&1; then
    echo "PASS $name"
  else
    echo "FAIL $name"; sed 's/^/    /' "$tmp/gate.log"; failed=1
  fi
}
size() { stat -c %s "$1"; }

roundtrip() { mln parse "$model" | mln emit | cmp - "$model"; }
signed() {
  openssl genpkey -algorithm ed25519 -out "$tmp/key.pem" 2>/dev/null
  openssl pkey -in "$tmp/key.pem" -pubout -out "$tmp/pub.pem"
  mln parse "$model" | mln compress -l 19 |
    mln verify --sign "$tmp/key.pem" --name ci --version 1 -o "$tmp/model.mlns"
  mln verify --pubkey "$tmp/pub.pem" --name ci "$tmp/model.mlns" | mln emit | cmp - "$model"
}
patch() {
  mln diff "$prev" "$model" | mln compress -l 19 > "$art/patch.mlnp"
  mln apply --check "$prev" "$art/patch.mlnp"
  awk -v p="$(size "$art/patch.mlnp")" -v m="$(size "$model")" -v max="$max_patch" 'BEGIN {
    printf "patch is %.3f%% of the model (budget %s%%)\n", 100 * p / m, max
    exit !(100 * p / m <= max) }'
}
quantize() { mln quant -t "$quant" "$model" | mln inspect > "$tmp/quant.txt"; }

gate "stream round trip" roundtrip
gate "signed compressed stream" signed
[ -z "$prev" ] || gate "patch from $(basename "$prev")" patch
[ -z "$quant" ] || gate "quantize to $quant" quantize
mln inspect --json "$model" > "$art/inspect.json" || failed=1
{
  echo "| model | bytes | stream (compressed) | patch from previous |"
  echo "|---|---:|---:|---:|"
  echo "| $(basename "$model") | $(size "$model") |" \
       "$( [ -f "$tmp/model.mlns" ] && size "$tmp/model.mlns" || echo -) |" \
       "$( [ -n "$prev" ] && [ -f "$art/patch.mlnp" ] && size "$art/patch.mlnp" || echo -) |"
} > "$art/summary.md"
exit "$failed"
