#!/usr/bin/env bash
# mln-diff | mln-apply gives back the new file byte for byte, on real models and realistic
# changes: fine-tune, re-quantization, last-layer retrain, identical files, and the real
# architecture change and pruning pairs shipped by MediaPipe; from files, pipes and streams,
# compressed or not. Patches for small changes are small.
. "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
dir=$("$root/scripts/fetch-fixtures" --print-dir)
gguf=${MLN_GGUF_FIXTURES:?}
hands=("$dir"/mediapipe-hands-*/package)
faces=("$dir"/mediapipe-face_detection-*/package)

# roundtrip V1 V2 [mln-diff options]: every way of applying gives V2 back; prints patch bytes.
roundtrip() {
  local v1=$1 v2=$2; shift 2
  mln-diff "$@" "$v1" "$v2" -o "$T/p" || fail "mln-diff $v1 $v2 failed"
  mln-apply "$v1" "$T/p" -o "$T/new" || fail "mln-apply of $v1 -> $v2 failed"
  cmp "$T/new" "$v2" || fail "$v1 -> $v2: applied file differs"
  mln-compress <"$T/p" | mln-apply "$v1" - -o - >"$T/new2" || fail "compressed patch via stdin failed"
  cmp "$T/new2" "$v2" || fail "$v1 -> $v2: compressed patch through pipes differs"
  stat -c %s "$T/p"
}

cp "$gguf/real_f16.gguf" "$T/f16.gguf"
/usr/bin/python3 "$here/make_pair.py" finetune "$T/f16.gguf" "$T/f16_ft.gguf" 1
size=$(roundtrip "$T/f16.gguf" "$T/f16_ft.gguf")
full=$(stat -c %s "$T/f16_ft.gguf")
# A fine-tune keeps most of each weight: the compressed patch is well under the file.
mln-diff -l 3 "$T/f16.gguf" "$T/f16_ft.gguf" -o "$T/pz"
z=$(stat -c %s "$T/pz")
[ "$z" -lt $((full * 6 / 10)) ] || fail "fine-tune patch is $z bytes of $full"
mln-inspect --json "$T/pz" >"$T/j"
grep -q '"op": *"fdelta"' "$T/j" || fail "no float delta in the fine-tune patch"

cp "$gguf/real_q8_0.gguf" "$T/q8.gguf"
/usr/bin/python3 "$here/make_pair.py" requant "$T/q8.gguf" "$T/q8_rq.gguf" 2
roundtrip "$T/q8.gguf" "$T/q8_rq.gguf" >/dev/null
mln-inspect --json "$T/p" >"$T/j"
grep -Eq '"op": *"q8delta"' "$T/j" || fail "no Q8_0 delta in the re-quantization patch"

/usr/bin/python3 "$here/make_pair.py" retrain "$T/f16.gguf" "$T/f16_rt.gguf" 3
roundtrip "$T/f16.gguf" "$T/f16_rt.gguf" >/dev/null
mln-inspect --json "$T/p" >"$T/j"
grep -q '"op": *"replace"' "$T/j" || fail "retrained tensors are not sent whole"

# Identical files: a few frames whatever the size.
size=$(roundtrip "$T/f16.gguf" "$T/f16.gguf")
[ "$size" -lt 4096 ] || fail "patch between identical files is $size bytes"

# Real architecture change and real pruning (MediaPipe ships both versions).
roundtrip "$hands/hand_landmark_lite.tflite" "$hands/hand_landmark_full.tflite" >/dev/null
roundtrip "$faces/face_detection_full_range.tflite" \
          "$faces/face_detection_full_range_sparse.tflite" >/dev/null
# The pruned model's CSR index arrays are their own typed runs. The dense base has nothing
# to match them, so the patch inserts them, and compressed they go as bitmaps (codec 6);
# the patch is well under the model compressed alone.
mln-parse "$faces/face_detection_full_range_sparse.tflite" | mln-inspect --json - >"$T/j"
runs=$(grep -c '"tflite.sparsity"' "$T/j" || true)
[ "$runs" -ge 10 ] || fail "expected the pruned model's index arrays as tflite.sparsity runs, found $runs"
mln-compress <"$T/p" >"$T/pz"
mln-inspect --json "$T/pz" >"$T/j"
bitmaps=$(/usr/bin/python3 -c '
import json, sys
ops = json.load(open(sys.argv[1]))["patch"]["ops"]
print(sum(1 for o in ops if o["name"] == "tflite.sparsity" and o["op"] == "insert" and "bitmap" in o["codecs"]))
' "$T/j")
[ "$bitmaps" -ge 10 ] || fail "expected the pruning patch's index arrays coded as bitmaps, found $bitmaps"
# -z compresses in the same run, byte for byte as the pipe does.
mln-diff -z "$faces/face_detection_full_range.tflite" \
  "$faces/face_detection_full_range_sparse.tflite" -o "$T/pz1"
cmp "$T/pz" "$T/pz1" || fail "mln-diff -z differs from mln-diff | mln-compress"
mln-compress "$faces/face_detection_full_range_sparse.tflite" -o "$T/alone.mlnz"
[ "$(stat -c %s "$T/pz")" -lt "$(stat -c %s "$T/alone.mlnz")" ] ||
  fail "pruning patch $(stat -c %s "$T/pz") B, the model compressed alone $(stat -c %s "$T/alone.mlnz") B"
roundtrip "$faces/face_detection_full_range_sparse.tflite" \
          "$faces/face_detection_full_range.tflite" >/dev/null
# An index array that the base has too, every element but the first raised by one: its
# differences are the base's but for one, so it goes as an idelta of a few bytes.
cp "$faces/face_detection_full_range_sparse.tflite" "$T/sparse.tflite"
/usr/bin/python3 "$here/make_pair.py" reindex "$T/sparse.tflite" "$T/reindexed.tflite" 5
roundtrip "$T/sparse.tflite" "$T/reindexed.tflite" >/dev/null
mln-inspect --json "$T/p" >"$T/j"
idelta=$(/usr/bin/python3 -c '
import json, sys
ops = json.load(open(sys.argv[1]))["patch"]["ops"]
print(" ".join(str(o["stored_bytes"]) for o in ops if o["op"] == "idelta"))
' "$T/j")
[ -n "$idelta" ] && [ "$idelta" -lt 64 ] || fail "the raised index array is not a small idelta: '$idelta'"
cp "$hands/hand_landmark_full.tflite" "$T/h.tflite"
/usr/bin/python3 "$here/make_pair.py" finetune "$T/h.tflite" "$T/h_ft.tflite" 4
roundtrip "$T/h.tflite" "$T/h_ft.tflite" -c 64K >/dev/null

# Inputs as streams (compressed too), from stdin, and a small chunk size.
mln-parse "$T/f16.gguf" | mln-compress >"$T/old.mlnz"
mln-diff "$T/old.mlnz" - <"$T/f16_ft.gguf" -o "$T/p"
mln-apply "$T/f16.gguf" "$T/p" -o "$T/new"
cmp "$T/new" "$T/f16_ft.gguf" || fail "diff from a compressed stream and stdin differs"
roundtrip "$T/f16.gguf" "$T/f16_ft.gguf" -c 4K -T 1 >/dev/null
cat "$T/f16_ft.gguf" | mln-diff "$T/f16.gguf" - | mln-apply "$T/f16.gguf" - >"$T/new"
cmp "$T/new" "$T/f16_ft.gguf" || fail "diff of a model arriving on a pipe differs"
cat "$T/f16.gguf" | mln-diff - "$T/f16_ft.gguf" | mln-apply "$T/f16.gguf" >"$T/new"
cmp "$T/new" "$T/f16_ft.gguf" || fail "diff of an old model arriving on a pipe differs"

# --in-place replaces the base, keeping its permission bits; --check writes nothing.
cp "$T/f16.gguf" "$T/inplace.gguf"
chmod 640 "$T/inplace.gguf"
mln-diff "$T/f16.gguf" "$T/f16_ft.gguf" -o "$T/p"
mln-apply --check "$T/inplace.gguf" "$T/p" || fail "--check failed"
cmp "$T/inplace.gguf" "$T/f16.gguf" || fail "--check changed the base"
mln-apply --in-place "$T/inplace.gguf" "$T/p" || fail "--in-place failed"
cmp "$T/inplace.gguf" "$T/f16_ft.gguf" || fail "--in-place result differs"
[ "$(stat -c %a "$T/inplace.gguf")" = 640 ] || fail "--in-place lost the file mode"
ls -A "$T" | grep -q '\.mln-' && fail "temporary file left behind"
# Through a symbolic link (an edge device's current.gguf -> releases/v1.gguf): the model it
# names is updated, and the link stays a link.
mkdir "$T/releases"
cp "$T/f16.gguf" "$T/releases/model.gguf"
ln -s releases/model.gguf "$T/current.gguf"
mln-apply --in-place "$T/current.gguf" "$T/p" || fail "--in-place through a link failed"
[ -L "$T/current.gguf" ] || fail "--in-place replaced the link with a file"
cmp "$T/releases/model.gguf" "$T/f16_ft.gguf" || fail "--in-place did not update the linked model"
ls -A "$T/releases" | grep -q '\.mln-' && fail "temporary file left beside the linked model"
# From one format to another (a conversion): a warning that nothing can match, and a patch
# that still applies byte for byte.
mln-diff "$T/f16.gguf" "$hands/hand_landmark_lite.tflite" -o "$T/cross" 2>"$T/err" ||
  fail "cross-format diff: $(cat "$T/err")"
grep -q "warning: OLD is a gguf model, NEW a tflite one: nothing can match" "$T/err" ||
  fail "cross-format diff said: $(cat "$T/err")"
mln-apply "$T/f16.gguf" "$T/cross" | cmp - "$hands/hand_landmark_lite.tflite" ||
  fail "cross-format patch does not apply"
mln-diff "$T/f16.gguf" "$T/f16_ft.gguf" 2>"$T/err" >/dev/null
[ ! -s "$T/err" ] || fail "a same-format diff printed: $(cat "$T/err")"
true
