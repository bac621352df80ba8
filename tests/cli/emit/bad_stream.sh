#!/usr/bin/env bash
# Damaged streams: mln-emit names the frame, exits 65 and leaves no output.
source "$(dirname "$0")/../lib.sh"
f=$(gguf_fixtures | grep real_f16)
mln-parse "$f" -o "$T/s"
size=$(stat -c %s "$T/s")
# Truncated: mid-stream and just before the end (trailer missing).
head -c $((size / 2)) "$T/s" > "$T/cut"
expect_exit 65 mln-emit "$T/cut" -o "$T/o"; expect_err "frame [0-9]+"
head -c $((size - 10)) "$T/s" > "$T/notrailer"
expect_exit 65 mln-emit "$T/notrailer" -o "$T/o"
# A flipped bit in a tensor payload, in a frame header, in the trailer.
for at in $((size / 3)) 60 $((size - 5)); do
  cp "$T/s" "$T/flip"
  damage "$T/flip" "$at" 4
  expect_exit 65 mln-emit "$T/flip" -o "$T/o"; expect_err "mismatch|bad|invalid|truncated|padding"
done
# Frame length past the end of input.
cp "$T/s" "$T/long"
printf '\xff\xff\xff\x0f' | dd of="$T/long" bs=1 seek=$((16 + 8)) conv=notrunc status=none
expect_exit 65 mln-emit "$T/long" -o "$T/o"; expect_err "frame 0"
# Not a stream, empty input.
expect_exit 65 mln-emit "$f" -o "$T/o"; expect_err "not an mln stream"
: > "$T/empty"
STDIN="$T/empty" expect_exit 65 mln-emit -o "$T/o"; expect_err "empty input"
[ ! -e "$T/o" ] || fail "failed emit left output behind"
# A good stream from stdin to stdout still works.
STDIN="$T/s" expect_exit 0 mln-emit
cmp "$T/out" "$f" || fail "stdin/stdout emit differs"
echo ok
