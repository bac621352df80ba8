#!/usr/bin/env bash
# Hostile ONNX: external data escaping the model's directory, ranges past the end of the
# data file, missing data files, malformed protobuf. One-line errors, documented exit codes,
# no output.
source "$(dirname "$0")/../lib.sh"
mkdir -p "$T/dir/sub"
head -c 100 /dev/urandom > "$T/dir/w.bin"
head -c 100 /dev/urandom > "$T/outside.bin"
ln -s "$T/outside.bin" "$T/dir/link.bin"
# model LOCATION OFFSET LENGTH OUT: one FLOAT[4] tensor stored externally.
model() {
  /usr/bin/python3 - "$@" <<'PY'
import sys, onnx
from onnx import helper, TensorProto
loc, off, length, out = sys.argv[1:5]
t = helper.make_tensor("ext", TensorProto.FLOAT, [4], [0.0] * 4)
t.ClearField("float_data")
t.data_location = TensorProto.EXTERNAL
for k, v in (("location", loc), ("offset", off), ("length", length)):
    e = t.external_data.add(); e.key = k; e.value = v
g = helper.make_graph([], "g", [], [], initializer=[t])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
open(out, "wb").write(m.SerializeToString())
PY
}
model w.bin 16 16 "$T/dir/ok.onnx"
mln-parse "$T/dir/ok.onnx" | mln-emit > "$T/ok.out"
cmp "$T/dir/ok.onnx" "$T/ok.out" || fail "valid external model does not round-trip"

for loc in ../outside.bin sub/../../outside.bin "$T/outside.bin"; do
  model "$loc" 0 4 "$T/dir/bad.onnx"
  expect_exit 65 mln-parse "$T/dir/bad.onnx" -o "$T/never"
  expect_err "bad.onnx.*'ext'.*external data: .*refused"
  [ ! -e "$T/never" ] || fail "partial output left for $loc"
done
model link.bin 0 4 "$T/dir/bad.onnx"
expect_exit 65 mln-parse "$T/dir/bad.onnx"
expect_err "outside the model's directory"
model w.bin 96 8 "$T/dir/bad.onnx"
expect_exit 65 mln-parse "$T/dir/bad.onnx"
expect_err "offset 96 \+ length 8 runs past the end of 'w.bin' \(100 bytes\)"
model missing.bin 0 4 "$T/dir/bad.onnx"
expect_exit 66 mln-parse "$T/dir/bad.onnx"
expect_err "missing.bin"
# From a pipe there is no directory to open, but escaping names are still refused.
model ../outside.bin 0 4 "$T/dir/bad.onnx"
STDIN="$T/dir/bad.onnx" expect_exit 65 mln-parse --format onnx
expect_err "refused"

# Malformed protobuf: a graph length past the end, an 11-byte varint.
printf '\x08\x08\x3a\xff\x01\x00' > "$T/len.onnx"
expect_exit 65 mln-parse --format onnx "$T/len.onnx"
expect_err "len.onnx.*ModelProto.*length 255 runs past the end"
printf '\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01' > "$T/varint.onnx"
expect_exit 65 mln-parse --format onnx "$T/varint.onnx"
expect_err "longer than 10 bytes"
# Detection alone picks ONNX for a valid model written without a magic number.
mln-parse "$T/dir/ok.onnx" | mln-inspect --json - | grep -c '"format": "onnx"' >/dev/null ||
  fail "ONNX not detected by content"
