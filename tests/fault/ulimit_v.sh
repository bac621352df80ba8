#!/usr/bin/env bash
# Bounded memory (stream invariant 4): under `ulimit -v` of half the model's size, parse,
# compress, decompress, verify and emit a 320 MiB model through pipes and files, and get it
# back byte for byte. A filter that held the model (or a tensor of it) in memory would fail.
# Skipped for sanitizer builds, whose shadow memory needs terabytes of address space.
. "$(dirname "$0")/common.bash"
if sanitized; then echo "ulimit_v: skipped (sanitizer build)"; exit 0; fi
model_mib=320 limit_mib=${MLN_FAULT_VLIMIT_MIB:-160}
gen_model "$T/m.gguf" "$model_mib" 4  # 80 MiB tensors: each is larger than half the limit
size=$(stat -c %s "$T/m.gguf")
[ "$size" -gt $((2 * limit_mib << 20)) ] || fail "model of $size bytes is not twice the limit"
# Each step checks its own status: `set -e` would be switched off inside a subshell that is
# the left side of `||`, and a failing filter would then surface only as a differing model.
(
  ulimit -v $((limit_mib * 1024))
  set -o pipefail
  mln-parse -T 2 "$T/m.gguf" -o "$T/s" || exit 1
  mln-parse -T 2 - <"$T/m.gguf" | mln-compress -T 2 -l 1 >"$T/c" || exit 2
  mln-verify -T 2 <"$T/c" >/dev/null || exit 3
  mln-compress -T 2 -d <"$T/c" | mln-emit -T 2 >"$T/back.gguf" || exit 4
  mln-emit -T 2 -o "$T/back2.gguf" <"$T/s" || exit 5
) 2>"$T/err" || fail "step $? failed under ulimit -v ${limit_mib}M: $(head -c 400 "$T/err")"
cmp -s "$T/back.gguf" "$T/m.gguf" || fail "model differs after the compressed round trip"
cmp -s "$T/back2.gguf" "$T/m.gguf" || fail "model differs after parse -o / emit -o"
echo "ulimit_v: ${model_mib} MiB model through every filter under ulimit -v ${limit_mib} MiB"
