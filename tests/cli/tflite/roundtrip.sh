#!/usr/bin/env bash
# Real TFLite models (npm fixtures, pinned sha256) go through the stream and come back byte
# for byte, from a file and from a pipe; the sparse face detector included.
. "$(dirname "$0")/../lib.sh"
root=$(cd "$(dirname "$0")/../../.." && pwd)
dir=$("$root/scripts/fetch-fixtures" --print-dir)
models=("$dir"/mediapipe-hands-*/package/*.tflite
        "$dir"/mediapipe-face_detection-*/package/*.tflite)
[ "${#models[@]}" -ge 5 ] || fail "expected at least 5 TFLite fixtures, found ${#models[@]}"
for m in "${models[@]}"; do
  [ -f "$m" ] || fail "missing fixture $m"
  mln-parse --chunk-size 64K "$m" | mln-emit >"$T/copy"
  cmp "$m" "$T/copy" || fail "$m: round trip differs"
  mln-parse - <"$m" | mln-emit >"$T/copy"
  cmp "$m" "$T/copy" || fail "$m: round trip through a pipe differs"
done
# The format facts reach mln-inspect: subgraphs in the source, quantization and sparsity on
# tensors (the sparse model has 46 sparse tensors, carried as u8).
sparse=$(ls "$dir"/mediapipe-face_detection-*/package/face_detection_full_range_sparse.tflite)
mln-inspect --json "$sparse" >"$T/j"
grep -Eq '"format": *"tflite"' "$T/j" || fail "format is not tflite"
n=$(grep -o '"tflite.sparsity"' "$T/j" | wc -l)
[ "$n" -eq 46 ] || fail "expected 46 sparse tensors, mln-inspect shows $n"
grep -q '"tflite.subgraphs"' "$T/j" || fail "no tflite.subgraphs in the source facts"
mln-inspect "$sparse" >"$T/t"
grep -q 'tflite.metadata.*min_runtime_version' "$T/t" || fail "metadata names missing"
