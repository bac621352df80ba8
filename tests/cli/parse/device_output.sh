#!/usr/bin/env bash
# -o naming a FIFO or a device writes into it: renaming a temporary file over it would
# replace the node itself (as root, -o /dev/null would have destroyed /dev/null).
. "$(dirname "$0")/../lib.sh"
model=$(gguf_fixtures | head -1)
mkfifo "$T/fifo"
cat "$T/fifo" >"$T/got" &
reader=$!
mln-parse "$model" -o "$T/fifo"
wait "$reader"
[ -p "$T/fifo" ] || fail "the FIFO was replaced"
mln-emit <"$T/got" | cmp - "$model" || fail "what went through the FIFO is not the stream"
mkfifo "$T/fifo2"
cat "$T/fifo2" >"$T/got2" &
reader=$!
mln-diff "$model" "$model" -o "$T/fifo2"
wait "$reader"
[ -p "$T/fifo2" ] || fail "mln-diff replaced the FIFO"
mln-apply "$model" "$T/got2" -o "$T/fifo3" && cmp "$T/fifo3" "$model" || fail "apply after a FIFO patch"
