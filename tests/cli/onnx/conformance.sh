#!/usr/bin/env bash
# Conformance: every tensor mln-parse carries equals what Debian's python3-onnx
# (onnx.numpy_helper.to_array) reads, for models written by python3-onnx itself.
source "$(dirname "$0")/../lib.sh"
here=$(dirname "$0")/../../conformance
/usr/bin/python3 "$here/onnx_make_fixtures.py" "$T/m"
/usr/bin/python3 "$here/onnx_numpy_check.py" "$MLN_BIN" $(find "$T/m" -name '*.onnx' | sort)

# The check must be able to fail: give it the stream of the original model and a copy of
# the model with one bit of one tensor flipped.
f="$T/m/weights.onnx"
mln-parse "$f" -o "$T/s"
/usr/bin/python3 - "$f" "$T/changed.onnx" <<'PY'
import sys, onnx
m = onnx.load(sys.argv[1])
t = m.graph.initializer[0]
raw = bytearray(t.raw_data); raw[0] ^= 1; t.raw_data = bytes(raw)
onnx.save_model(m, sys.argv[2])
PY
mkdir -p "$T/fake-bin"
printf '#!/bin/sh\ncat "%s"\n' "$T/s" > "$T/fake-bin/mln-parse"
chmod +x "$T/fake-bin/mln-parse"
# checker_refuses MODEL WHAT PATTERN: the checker, fed the stream in $T/s for MODEL, fails
# with a message matching PATTERN.
checker_refuses() {
  if /usr/bin/python3 "$here/onnx_numpy_check.py" "$T/fake-bin" "$1" 2>"$T/err"; then
    fail "the conformance check accepted $2"
  fi
  grep -q "$3" "$T/err" || fail "unexpected checker output: $(cat "$T/err")"
}
checker_refuses "$T/changed.onnx" "a stream whose tensor differs from numpy's" "no tensor frame matches"

# ...and for external data: the same stream against a copy of the model whose data file has
# one bit of a tensor flipped must fail, as a data file changed outside any tensor must.
cp -r "$T/m/external_one" "$T/flip"
mln-parse "$T/m/external_one/model.onnx" -o "$T/s"
/usr/bin/python3 - "$T/flip/weights.bin" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[0] ^= 1; open(sys.argv[1], "wb").write(b)
PY
checker_refuses "$T/flip/model.onnx" "external tensors that differ from numpy's" \
  "no tensor frame matches"
cp -r "$T/m/external_gaps" "$T/gap"
mln-parse "$T/m/external_gaps/model.onnx" -o "$T/s"
/usr/bin/python3 - "$T/gap/data/gaps.bin" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[-1] ^= 1; open(sys.argv[1], "wb").write(b)
PY
checker_refuses "$T/gap/model.onnx" "a data file whose tail differs" \
  "do not rebuild it byte for byte"
