#!/usr/bin/env bash
# Wrong base, changed base, truncated or bit-flipped patch, a patch for another file, a
# model stream or garbage as the patch, a full disk, a kill in the middle: each ends with
# a one-line error and exit code, the output path keeps what it had (or stays absent), no
# temporary file is left, and the base is never touched.
. "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
dir=$("$root/scripts/fetch-fixtures" --print-dir)
hands=("$dir"/mediapipe-hands-*/package)
cp "${MLN_GGUF_FIXTURES:?}/real_f16.gguf" "$T/v1.gguf"
/usr/bin/python3 "$here/make_pair.py" finetune "$T/v1.gguf" "$T/v2.gguf" 7
mln-diff "$T/v1.gguf" "$T/v2.gguf" -o "$T/p"
sum=$(sha256sum <"$T/v1.gguf")
echo "previous output" >"$T/result"

# untouched: the base and the previous output are as they were, and no temporary is left.
untouched() {
  [ "$(sha256sum <"$T/v1.gguf")" = "$sum" ] || fail "$1: the base changed"
  [ "$(cat "$T/result")" = "previous output" ] || fail "$1: the output path was overwritten"
  ! ls -A "$T" | grep -q '\.mln-' || fail "$1: temporary file left behind"
}

expect_exit 64 mln-diff - -
expect_err 'cannot both be stdin'
expect_exit 64 mln-apply - "$T/p"
expect_err 'BASE must be a file'

# Another file as the base: its size already tells.
expect_exit 65 mln-apply "${MLN_GGUF_FIXTURES}/real_q8_0.gguf" "$T/p" -o "$T/result"
expect_err 'real_q8_0.gguf: is [0-9]+ bytes; this patch applies to a gguf file of [0-9]+ bytes'
untouched "wrong base"

# The right size but changed since the diff: the first range that differs is named.
cp "$T/v1.gguf" "$T/changed.gguf"
damage "$T/changed.gguf" 5000
expect_exit 65 mln-apply "$T/changed.gguf" "$T/p" -o "$T/result"
expect_err "changed.gguf: frame [0-9]+ '[^']+': bytes \[[0-9]+, \+[0-9]+\) differ from the base this patch was made from"
untouched "changed base"
# The first such range in the patch, whichever thread finds which first: the same message on
# every run, one thread or several. Here every range differs: the new model as the base.
msgs=$(for t in 1 2 2 2 2 2; do mln-apply -T "$t" "$T/v2.gguf" "$T/p" -o "$T/result" 2>&1 || true; done | sort -u)
[ "$(wc -l <<<"$msgs")" = 1 ] || fail "a wrong base is reported differently from run to run: $msgs"
untouched "base already updated"

# A patch given to mln-emit, as if it were a model: it says what it is and what applies it.
expect_exit 65 mln-emit "$T/p" -o "$T/result"
expect_err "stream is a patch \(mln-diff\), not a model: apply it to its base with mln-apply"
untouched "mln-emit of a patch"

# A patch made between two TFLite files, applied to the GGUF base.
mln-diff "$hands/hand_landmark_lite.tflite" "$hands/hand_landmark_full.tflite" -o "$T/ptfl"
expect_exit 65 mln-apply "$T/v1.gguf" "$T/ptfl" -o "$T/result"
expect_err 'applies to a tflite file'
untouched "patch for another format"

# Truncated anywhere, or one bit flipped anywhere: never a wrong file.
size=$(stat -c %s "$T/p")
for cut in 0 100 1000 $((size / 2)) $((size - 1)); do
  head -c "$cut" "$T/p" >"$T/cut"
  expect_exit 65 mln-apply "$T/v1.gguf" "$T/cut" -o "$T/result"
  untouched "patch cut at $cut"
done
for pos in 20 70 200 1000 5000 $((size / 3)) $((size / 2)) $((size - 40)); do
  cp "$T/p" "$T/flip"
  damage "$T/flip" "$pos" 16
  code=0
  mln-apply "$T/v1.gguf" "$T/flip" -o "$T/result" 2>"$T/err" || code=$?
  [ "$code" -eq 65 ] || fail "bit flip at $pos: exit $code, expected 65: $(cat "$T/err")"
  [ "$(wc -l <"$T/err")" -eq 1 ] || fail "bit flip at $pos: not a one-line error"
  untouched "bit flip at $pos"
done

# A model stream or garbage where the patch should be.
mln-parse "$T/v2.gguf" -o "$T/model.mlns"
expect_exit 65 mln-apply "$T/v1.gguf" "$T/model.mlns" -o "$T/result"
expect_err 'model stream, not a patch'
head -c 5000 /dev/urandom >"$T/junk"
expect_exit 65 mln-apply "$T/v1.gguf" "$T/junk" -o "$T/result"
untouched "garbage patch"

# --in-place with a patch that fails leaves the base as it was.
expect_exit 65 mln-apply --in-place "$T/v1.gguf" "$T/cut"
untouched "failed --in-place"

# A full disk (file size limit): an I/O error, and nothing left behind.
code=0
(ulimit -f 100; mln-apply "$T/v1.gguf" "$T/p" -o "$T/result") 2>"$T/err" || code=$?
[ "$code" -eq 74 ] || fail "file size limit: exit $code, expected 74: $(cat "$T/err")"
grep -q result "$T/err" || fail "file size limit: the error does not name the output"
untouched "file size limit"

# Killed in the middle (the patch stalls half way through a pipe): the output path holds
# what it had; a later run still works.
half=$((size / 2))
( head -c "$half" "$T/p"; sleep 5; tail -c +"$((half + 1))" "$T/p" ) |
  mln-apply "$T/v1.gguf" - -o "$T/result" 2>/dev/null &
pid=$!
sleep 1
pkill -KILL -f "mln-apply $T/v1.gguf - -o $T/result" || true
wait "$pid" 2>/dev/null || true
[ "$(sha256sum <"$T/v1.gguf")" = "$sum" ] || fail "kill: the base changed"
[ "$(cat "$T/result")" = "previous output" ] || fail "kill: the output path was overwritten"
# SIGKILL cannot be caught: only a nameless temporary (O_TMPFILE) goes with the process.
if nameless_temporaries "$T"; then
  ! ls -A "$T" | grep -q '^\.result\.mln-' || fail "kill: a temporary was left: $(ls -A "$T")"
fi
rm -f "$T"/.result.mln-*
mln-apply "$T/v1.gguf" "$T/p" -o "$T/result"
cmp "$T/result" "$T/v2.gguf" || fail "apply after the kill differs"
