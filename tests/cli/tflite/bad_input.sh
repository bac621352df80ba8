#!/usr/bin/env bash
# Damaged TFLite files: one-line error, exit 65, no output.
. "$(dirname "$0")/../lib.sh"
root=$(cd "$(dirname "$0")/../../.." && pwd)
dir=$("$root/scripts/fetch-fixtures" --print-dir)
m=$(ls "$dir"/mediapipe-hands-*/package/hand_landmark_lite.tflite)

head -c 4096 "$m" >"$T/trunc.tflite"
expect_exit 65 mln-parse -o "$T/out.mlns" "$T/trunc.tflite"
expect_err 'trunc.tflite: .*fails verification'
[ ! -e "$T/out.mlns" ] || fail "partial output left behind"

head -c 6 "$m" >"$T/tiny.tflite"
expect_exit 65 mln-parse --format tflite "$T/tiny.tflite"
expect_err 'truncated TFLite file: 6 bytes'

printf 'GGUF\3\0\0\0' >"$T/not.tflite"
expect_exit 65 mln-parse --format tflite "$T/not.tflite"
expect_err 'expected identifier "TFL3"'

# The root offset points past the end.
{ printf '\377\377\0\0TFL3'; head -c 100 /dev/zero; } >"$T/root.tflite"
expect_exit 65 mln-parse "$T/root.tflite"
expect_err 'fails verification'
