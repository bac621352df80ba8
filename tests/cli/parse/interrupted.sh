#!/usr/bin/env bash
# A filter killed while writing -o FILE leaves neither FILE nor its hidden temporary.
source "$(dirname "$0")/../lib.sh"
f=$(gguf_fixtures | head -1)
mkdir "$T/out"
for sig in TERM INT HUP; do
  # Half a header: the parser, its output already open, blocks for the rest.
  interrupt_midway "$sig" "$T/out" '^\.model\.mlns\.mln-' "$f" 100 \
    mln-parse "$T/fifo" -o "$T/out/model.mlns"
done
echo ok
