#!/usr/bin/env bash
# Fetches the npm fixtures (pinned sha256) and has ggml's own writer produce the GGUF test
# files in OUTDIR, once; later runs reuse them.
#   make_gguf_fixtures.sh ROOT FIXTURE_TOOL OUTDIR
set -euo pipefail
root=$1 tool=$2 out=$3
dir=$("$root/scripts/fetch-fixtures" --print-dir)
lib="$dir/node-llama-cpp-linux-x64-3.22.1/package/bins/linux-x64/libggml-base.so"
model="$dir/mediapipe-hands-0.4.1675469240/package/hand_landmark_full.tflite"
[ -f "$out/.done" ] && [ "$out/.done" -nt "$tool" ] && exit 0
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
"$tool" gen "$lib" "$model" "$out.tmp"
rm -rf "$out" && mv "$out.tmp" "$out" && touch "$out/.done"
