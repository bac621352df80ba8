#!/usr/bin/env bash
# ONNX external data travels in the stream: mln-parse carries each data file's bytes,
# mln-emit -o writes the model and its data files back byte for byte (and only once all
# are complete), mln-inspect lists them, mln-diff refuses what it cannot patch, and hostile
# layouts and locations are refused with one-line errors and no output left behind.
source "$(dirname "$0")/../lib.sh"
/usr/bin/python3 "$(dirname "$0")/../../conformance/onnx_make_fixtures.py" "$T/m"

# same_tree A B: the same files with the same bytes (no leftover temporaries either).
same_tree() {
  [ "$(cd "$1" && find . -type f | sort)" = "$(cd "$2" && find . -type f | sort)" ] ||
    fail "$2 holds other files than $1: $(cd "$2" && find . | sort | tr '\n' ' ')"
  local x
  for x in $(cd "$1" && find . -type f); do cmp "$1/$x" "$2/$x" || fail "$2/$x differs"; done
}

for m in external_one external_each external_gaps; do
  src="$T/m/$m"
  mln-parse "$src/model.onnx" -o "$T/$m.mlns"
  # The stream alone rebuilds everything: move the originals away first.
  mv "$src" "$T/orig-$m"
  mkdir -p "$T/o/$m" "$T/c/$m"
  mln-emit "$T/$m.mlns" -o "$T/o/$m/model.onnx" 2>"$T/err" || fail "emit of $m: $(cat "$T/err")"
  [ ! -s "$T/err" ] || fail "emit -o of $m printed: $(cat "$T/err")"
  same_tree "$T/orig-$m" "$T/o/$m"
  mv "$T/orig-$m" "$src"
  # Through mln-compress (which now sees the weights) and mln-verify as well.
  mln-parse "$src/model.onnx" | mln-compress | mln-verify | mln-emit -o "$T/c/$m/model.onnx"
  same_tree "$src" "$T/c/$m"
  # mln-compress FILE / -d FILE.mlnz, as zstd is used: the data files come back beside the
  # model (-t checks them too); to stdout they cannot, which is refused.
  mkdir -p "$T/z/$m"
  mln-compress "$src/model.onnx" -o "$T/z/$m/model.onnx.mlnz"
  mln-compress -t "$T/z/$m/model.onnx.mlnz" || fail "-t of the compressed $m"
  mln-compress -d --rm "$T/z/$m/model.onnx.mlnz" 2>"$T/err" || fail "-d of $m: $(cat "$T/err")"
  same_tree "$src" "$T/z/$m"
  mln-compress "$src/model.onnx" -o "$T/z.mlnz" -f
  expect_exit 69 mln-compress -dc "$T/z.mlnz"; expect_err "external data"
  # Through a link to a model elsewhere: the data files go beside the model, not the link.
  mkdir -p "$T/l/$m/real"
  touch "$T/l/$m/real/model.onnx"
  ln -s real/model.onnx "$T/l/$m/link.onnx"
  mln-compress -d -f -o "$T/l/$m/link.onnx" "$T/z.mlnz"
  same_tree "$src" "$T/l/$m/real"
done

# The payloads are the weights: tensor bytes match the data file, dtypes are claimed.
mln-inspect --json "$T/external_one.mlns" > "$T/j"
/usr/bin/python3 - "$T/j" "$T/m/external_one/weights.bin" <<'PY' || fail "inspect --json of external tensors"
import json, sys
j = json.load(open(sys.argv[1]))
data = open(sys.argv[2], "rb").read()
ext = [t for t in j["tensors"] if t.get("external_file")]
assert len(ext) == 2, ext
for t in ext:
    assert t["external_file"] == "weights.bin" and t["bytes"] > 0 and t["type"] != "unknown", t
    assert t["attrs"]["onnx.external.carried"] == "true", t
    assert t["offset"] == int(t["attrs"]["onnx.external.offset"]), t
assert j["external_files"] == [{"location": "weights.bin", "file_size": len(data), "tensors": 2,
                                "tensor_bytes": sum(t["bytes"] for t in ext), "other_bytes": 0}], j["external_files"]
assert j["source"]["onnx.external_files"] == "1" and j["file_size"] != len(data), j["source"]
PY
mln-inspect "$T/m/external_gaps/model.onnx" > "$T/tab"
grep -Eq "^  external +data/gaps.bin: 133 bytes, 2 tensors \(84 bytes\), 49 other bytes" "$T/tab" ||
  fail "inspect table does not list the data file: $(cat "$T/tab")"
grep -Eq "gap_b +f16 +\[10\] +20 +100 .* in data/gaps.bin$" "$T/tab" ||
  fail "inspect table does not place gap_b in its data file: $(cat "$T/tab")"

# To stdout: the model alone, and a notice unless -q; --external-dir writes the data files.
f="$T/m/external_one/model.onnx"
mln-parse "$f" | mln-emit > "$T/s.onnx" 2>"$T/err"
cmp "$f" "$T/s.onnx" || fail "model written to stdout differs"
[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "1 ONNX external data file was not written" "$T/err" ||
  fail "no one-line notice about the data file: $(cat "$T/err")"
mln-parse "$f" | mln-emit -q > "$T/s.onnx" 2>"$T/err"
[ ! -s "$T/err" ] || fail "-q still printed: $(cat "$T/err")"
mkdir "$T/xd"
mln-parse "$f" | mln-emit --external-dir "$T/xd" > "$T/xd/model.onnx" 2>"$T/err"
[ ! -s "$T/err" ] || fail "--external-dir printed: $(cat "$T/err")"
same_tree "$T/m/external_one" "$T/xd"

# From a pipe there is no directory: empty frames marked as not carried, and the model
# still round-trips.
mln-parse < "$f" | mln-inspect --json - > "$T/j"
grep -q '"onnx.external.carried": "false"' "$T/j" || fail "pipe input: frames not marked as not carried"
grep -q '"external_files"' "$T/j" && fail "pipe input carries data files"
mln-parse < "$f" | mln-inspect - | grep -Eq "one_a .* 0 .* in weights.bin, not carried$" ||
  fail "inspect table does not say the pipe input's data is not carried"
mln-parse < "$f" | mln-emit > "$T/p.onnx" 2>"$T/err"
cmp "$f" "$T/p.onnx" || fail "pipe round trip differs"
grep -q "2 ONNX external tensors have no data in the stream" "$T/err" || fail "no notice: $(cat "$T/err")"

# A stream cut inside the data file, or a data file that cannot be placed, leaves nothing.
size=$(stat -c %s "$T/external_gaps.mlns")
head -c $((size - 300)) "$T/external_gaps.mlns" > "$T/cut.mlns"
mkdir "$T/cut"
expect_exit 65 mln-emit "$T/cut.mlns" -o "$T/cut/model.onnx"
[ -z "$(ls -A "$T/cut")" ] || fail "a failed emit left: $(ls -A "$T/cut")"
# Emit side of a symbolic link escape: 'data' is a link out of the output directory.
mkdir -p "$T/esc" "$T/elsewhere"
ln -s "$T/elsewhere" "$T/esc/data"
expect_exit 65 mln-emit "$T/external_gaps.mlns" -o "$T/esc/model.onnx"
expect_err "data/gaps.bin.*refused: 'data' leads outside the output directory"
[ "$(ls -A "$T/esc")" = data ] && [ -z "$(ls -A "$T/elsewhere")" ] || fail "escaping emit left files"
# A data file named like the model file itself.
mkdir "$T/same"
expect_exit 65 mln-emit "$T/external_one.mlns" -o "$T/same/weights.bin"
expect_err "refused: it is the model file itself"
[ -z "$(ls -A "$T/same")" ] || fail "refused emit left: $(ls -A "$T/same")"

# Hostile layouts in the model: overlapping tensors, one file under two names, too many files.
mkdir -p "$T/h"
head -c 64 /dev/urandom > "$T/h/w.bin"
# hostile OUT LOCATION:OFFSET:LENGTH...: FLOAT tensors t0, t1, ... stored externally.
hostile() {
  /usr/bin/python3 - "$@" <<'PY'
import sys, onnx
from onnx import helper, TensorProto
out, specs = sys.argv[1], sys.argv[2:]
inits = []
for i, spec in enumerate(specs):
    loc, off, length = spec.split(":")
    t = TensorProto()
    t.name, t.data_type = f"t{i}", TensorProto.FLOAT
    t.dims.append(int(length) // 4)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", loc), ("offset", off), ("length", length)):
        e = t.external_data.add(); e.key = k; e.value = v
    inits.append(t)
m = helper.make_model(helper.make_graph([], "g", [], [], initializer=inits))
open(out, "wb").write(m.SerializeToString())
PY
}
hostile "$T/h/ok.onnx" w.bin:0:16 w.bin:16:16 w.bin:48:16
mkdir "$T/hok"
mln-parse "$T/h/ok.onnx" | mln-emit -o "$T/hok/ok.onnx"
cmp "$T/h/w.bin" "$T/hok/w.bin" || fail "data file with a gap does not round-trip"
hostile "$T/h/bad.onnx" w.bin:0:16 w.bin:8:16
expect_exit 65 mln-parse "$T/h/bad.onnx" -o "$T/never"
expect_err "bad.onnx: 't1' @0x[0-9a-f]+: external data: bytes 8 to 24 of 'w.bin' overlap tensor 't0' \(bytes 0 to 16\)"
[ ! -e "$T/never" ] || fail "partial output left"
hostile "$T/h/bad.onnx" w.bin:0:16 ./w.bin:16:16
expect_exit 65 mln-parse "$T/h/bad.onnx"
expect_err "'t1'.*location './w.bin' names the same file as 'w.bin'"
for i in $(seq 0 4096); do : > "$T/h/f$i"; done
hostile "$T/h/bad.onnx" $(for i in $(seq 0 4096); do echo "f$i:0:0"; done)
expect_exit 65 mln-parse "$T/h/bad.onnx"
expect_err "'t4096'.*more than 4096 data files refused"

# Killed while its data file is being written, mln-emit leaves neither the model, nor the
# data file, nor a hidden temporary of either.
mln-parse "$T/m/external_one/model.onnx" -o "$T/one.mlns"
size=$(stat -c %s "$T/one.mlns")
mkdir "$T/k"
for sig in INT TERM; do
  # All but the trailer's end: mln-emit has written the data file and waits for the rest.
  interrupt_midway "$sig" "$T/k" '^\.weights\.bin\.mln-' "$T/one.mlns" $((size - 16)) \
    mln-emit "$T/fifo" -o "$T/k/model.onnx"
done

# A signal ignored from the start stays ignored (nohup's SIGHUP): the cleanup handler for
# the hidden temporaries must not turn it into the end of the run.
mkfifo "$T/fifo"
mkdir "$T/nohup"
( trap '' HUP; exec mln-emit "$T/fifo" -o "$T/nohup/model.onnx" ) 2>/dev/null &
pid=$!
exec 7>"$T/fifo"
head -c $((size - 16)) "$T/one.mlns" >&7
for _ in $(seq 50); do ls -A "$T/nohup" | grep -q '^\.weights\.bin\.mln-' && break; sleep 0.1; done
kill -s HUP "$pid"
sleep 0.2
kill -0 "$pid" 2>/dev/null || fail "an ignored SIGHUP ended mln-emit"
tail -c 16 "$T/one.mlns" >&7
exec 7>&-
wait "$pid" || fail "mln-emit under an ignored SIGHUP failed"
rm "$T/fifo"
same_tree "$T/m/external_one" "$T/nohup"

# Delta tools: a patch would rebuild the model file without its weights, so they refuse.
cp -r "$T/m/external_one" "$T/v2"
/usr/bin/python3 - "$T/v2/weights.bin" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[5] ^= 1; open(sys.argv[1], "wb").write(b)
PY
expect_exit 69 mln-diff "$T/m/external_one/model.onnx" "$T/v2/model.onnx"
expect_err "external_one/model.onnx: has ONNX external data \('weights.bin'\): this tool writes a single file"
expect_exit 69 mln-diff <(cat "$f") <(cat "$T/v2/model.onnx")
expect_err "ONNX model with external data \(2 tensors\): only single-file models can be diffed"
mln-parse < "$f" > "$T/pipe.mlns"
expect_exit 69 mln-diff "$T/pipe.mlns" "$T/pipe.mlns"
expect_err "only single-file models can be diffed"
echo "external data ok"
