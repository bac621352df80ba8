#!/usr/bin/env bash
# A filter killed while writing -o FILE leaves neither FILE nor its hidden temporary.
source "$(dirname "$0")/../lib.sh"
f=$(gguf_fixtures | head -1)
mkdir "$T/out"
for sig in TERM INT HUP; do
  mkfifo "$T/fifo"
  mln-parse "$T/fifo" -o "$T/out/model.mlns" 2>/dev/null &
  pid=$!
  exec 7>"$T/fifo"               # the parser now has its output open and waits for input
  head -c 100 "$f" >&7           # half a header: it blocks for the rest
  for _ in $(seq 50); do [ -n "$(ls -A "$T/out")" ] && break; sleep 0.1; done
  [ -n "$(ls -A "$T/out")" ] || fail "no temporary file appeared (test setup)"
  kill -s "$sig" "$pid"
  code=0; wait "$pid" || code=$?
  exec 7>&-
  rm "$T/fifo"
  [ "$code" -ne 0 ] || fail "SIG$sig: parser exited 0"
  [ -z "$(ls -A "$T/out")" ] || fail "SIG$sig left $(ls -A "$T/out")"
done
echo ok
