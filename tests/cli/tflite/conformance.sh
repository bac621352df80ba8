#!/usr/bin/env bash
# Tensors read by mln equal those read by an independent reader: a Python walk of the
# FlatBuffer with Debian python3-flatbuffers' Table API (tests/conformance/
# tflite_conformance.py), compared with mln-parse's payloads and mln-inspect --json.
. "$(dirname "$0")/../lib.sh"
root=$(cd "$(dirname "$0")/../../.." && pwd)
dir=$("$root/scripts/fetch-fixtures" --print-dir)
# Debian's interpreter, where python3-flatbuffers lives (a pyenv python3 on PATH lacks it).
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" -c 'import flatbuffers' || fail "python3-flatbuffers is missing (scripts/bootstrap has it)"
n=0
for m in "$dir"/mediapipe-hands-*/package/*.tflite \
         "$dir"/mediapipe-face_detection-*/package/*.tflite; do
  n=$((n + 1))
  mln-parse "$m" >"$T/s"
  mln-inspect --json "$m" >"$T/j"
  "$py" "$root/tests/conformance/tflite_conformance.py" "$m" "$T/s" "$T/j" >/dev/null ||
    fail "$m: mln and the independent reader disagree"
done
[ "$n" -ge 5 ] || fail "expected at least 5 TFLite fixtures, found $n"
