#!/usr/bin/env bash
# ONNX models written by python3-onnx round-trip byte for byte through the stream, from
# files and pipes, and mln-inspect reports the ONNX facts.
source "$(dirname "$0")/../lib.sh"
/usr/bin/python3 "$(dirname "$0")/../../conformance/onnx_make_fixtures.py" "$T/m"
n=0
for f in $(find "$T/m" -name '*.onnx' | sort); do
  mln-parse "$f" | mln-emit > "$T/a.onnx"
  cmp "$f" "$T/a.onnx" || fail "file round trip of $f differs"
  mln-parse --chunk-size 7 < "$f" | mln-emit -o "$T/b.onnx"
  cmp "$f" "$T/b.onnx" || fail "pipe round trip of $f differs"
  mln-parse -T 1 "$f" -o "$T/s1"
  mln-parse -T 2 "$f" -o "$T/s2"
  cmp "$T/s1" "$T/s2" || fail "-T 1 and -T 2 streams of $f differ"
  n=$((n + 1))
done
[ "$n" -eq 7 ] || fail "expected 7 generated models, found $n"

mln-inspect --json "$T/m/subgraphs.onnx" > "$T/j"
grep -q '"format": "onnx"' "$T/j" || fail "inspect does not name the format"
grep -q '"onnx.opsets": "ai.onnx:17"' "$T/j" || fail "inspect does not show the opsets"
grep -q '"onnx.constants": "5"' "$T/j" || fail "inspect does not count the Constant tensors"
grep -q '"onnx.graph": "main/loop1.body/nested_if.then_branch"' "$T/j" ||
  fail "inspect does not show the nested subgraph path"
mln-inspect --json "$T/m/external_one/model.onnx" > "$T/t"
grep -q '"onnx.external.location": "weights.bin"' "$T/t" || fail "external location not listed"
grep -q '"onnx.external_tensors": "2"' "$T/t" || fail "external tensors not counted"
echo "round trip ok on $n models"
