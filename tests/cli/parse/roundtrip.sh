#!/usr/bin/env bash
# mln-parse | mln-emit is byte-identical, from files and from pipes, with any thread count.
source "$(dirname "$0")/../lib.sh"
n=0
for f in $(gguf_fixtures); do
  mln-parse "$f" | mln-emit > "$T/a.gguf"
  cmp "$f" "$T/a.gguf" || fail "file round trip of $f differs"
  cat "$f" | mln-parse --chunk-size 64K | mln-emit -o "$T/b.gguf"
  cmp "$f" "$T/b.gguf" || fail "pipe round trip of $f differs"
  mln-parse -T 1 "$f" -o "$T/s1"
  mln-parse -T 2 "$f" -o "$T/s2"
  cmp "$T/s1" "$T/s2" || fail "-T 1 and -T 2 streams of $f differ"
  n=$((n + 1))
done
[ "$n" -ge 3 ] || fail "only $n fixtures"
echo "round trip ok on $n files"
