#!/usr/bin/env bash
# mln-quant: every type through the stream, model files and streams alike, -T 1 = -T 2,
# the GGUF layout rewritten (mln-emit checks that the chunks tile the file), -d back.
source "$(dirname "$0")/../lib.sh"
f=$(gguf_fixtures | grep real_f16)
mln-parse "$f" -o "$T/s"
size_of() { stat -c %s "$1"; }
for t in q8_0 q4_0 q4_k tq1_0 tq2_0 ternary; do
  mln-quant -t $t --include '*' < "$T/s" > "$T/q.$t"
  mln-emit "$T/q.$t" > "$T/q.$t.gguf" || fail "emit of the $t stream"
  # The model file itself is accepted too, and gives the same stream.
  mln-quant -t $t --include '*' "$f" | cmp - "$T/q.$t" || fail "$t: file input differs from stream input"
  mln-quant -T 1 -t $t --include '*' < "$T/s" | cmp - "$T/q.$t" || fail "$t: -T 1 and -T 2 differ"
  mln-inspect --json "$T/q.$t.gguf" > "$T/j.$t"
done
# real_f16 has rows of 32: q8_0 and q4_0 shrink it, the 256-blocks keep every tensor.
[ "$(size_of "$T/q.q8_0.gguf")" -lt "$(size_of "$f")" ] || fail "q8_0 did not shrink the model"
[ "$(size_of "$T/q.q4_0.gguf")" -lt "$(size_of "$T/q.q8_0.gguf")" ] || fail "q4_0 not smaller than q8_0"
grep -q '"type": "q8_0"' "$T/j.q8_0" || fail "no q8_0 tensor in the q8_0 model"
grep -q '"key": "general.file_type"' "$T/j.q8_0" || fail "general.file_type missing"
python3 - "$T/j.q8_0" <<'PY' || fail "general.file_type is not 7 (MOSTLY_Q8_0)"
import json, sys
d = json.load(open(sys.argv[1]))
kv = {m["key"]: m["value"] for m in d["gguf"]["metadata"]}
sys.exit(0 if kv["general.file_type"] == 7 else 1)
PY
cmp "$T/q.q4_k.gguf" "$f" >/dev/null && true  # nothing fits a 256-block: same tensors,
grep -q '"type": "q4_K"' "$T/j.q4_k" && fail "q4_k converted a tensor whose rows are 32"
# -v says why each tensor stays.
mln-quant -v -t q4_k --include '*' < "$T/s" 2>"$T/v" >/dev/null
grep -q "w.20: kept f16: row length 32 is not a multiple of q4_K's block of 256" "$T/v" || fail "no row-length reason: $(head -3 "$T/v")"
grep -q "1-D tensor" "$T/v" || fail "no 1-D reason"
# Without --include, llama.cpp's selection: these names are not '*weight'.
mln-quant -v -t q8_0 < "$T/s" 2>"$T/v" | mln-emit | cmp - "$f" || fail "default selection changed a non-weight"
grep -q "not a weight" "$T/v" || fail "no 'not a weight' reason"
# Dequantize: q8_0 back to f32 and f16.
mln-quant -d < "$T/q.q8_0" | mln-emit > "$T/d.gguf" || fail "-d"
mln-inspect --json "$T/d.gguf" | grep -c '"type": "q8_0"' >/dev/null && fail "-d left q8_0 tensors"
mln-quant -t f16 < "$T/q.q8_0" | mln-inspect --json - | grep -c '"type": "q8_0"' >/dev/null && fail "-t f16 left q8_0 tensors"
# --report writes JSON quality per tensor; -o is atomic.
expect_exit 0 mln-quant -t q4_0 --include '*' --report "$T/r.json" -o "$T/o.mlns" "$T/s"
python3 - "$T/r.json" <<'PY' || fail "report lacks rmse/cosine"
import json, sys
d = json.load(open(sys.argv[1]))
conv = [t for t in d["tensors"] if t["converted"]]
assert conv and all(0 <= t["rmse"] and 0.9 < t["cosine"] <= 1.0000001 for t in conv), conv[:2]
assert d["file_type"] == 2
PY
[ -s "$T/o.mlns" ] || fail "-o wrote nothing"
# -o FILE.gguf writes the model itself, as llama-quantize does (the stream laid out, as
# mln-emit would), so it is a GGUF file, not a stream under a .gguf name.
expect_exit 0 mln-quant -t q8_0 --include '*' "$f" -o "$T/direct.gguf"
cmp "$T/direct.gguf" "$T/q.q8_0.gguf" || fail "-o FILE.gguf differs from the emitted stream"
# A run that converts nothing warns (exit 0): here a Q8_0 model asked for q8_0 again.
expect_exit 0 mln-quant -t q8_0 "$T/q.q8_0.gguf" -o "$T/again.gguf"
expect_err "warning: no tensor was converted"
expect_exit 0 mln-quant -q -t q8_0 "$T/q.q8_0.gguf" -o "$T/again.gguf"
[ ! -s "$T/err" ] || fail "-q did not silence the warning: $ERR"
echo ok
