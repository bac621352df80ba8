#!/usr/bin/env bash
# One flipped bit anywhere in a stream (stream header, each frame's prefix, header, padding
# and payload, and random places), raw and compressed: mln-verify always refuses it (65, or
# 69 for a version or flag it does not know) in one line; mln-emit and mln-compress -d
# either refuse it the same way or produce exactly the original model, never another one.
. "$(dirname "$0")/common.bash"
gen_model "$T/m.gguf" 1 4
mln-parse --chunk-size 128K "$T/m.gguf" >"$T/s"
mln-compress -l 1 <"$T/s" >"$T/c"
flip_variants "$T/s" "$T/fs" 1
flip_variants "$T/c" "$T/fc" 2

refused() {  # refused CMD...: exit 65 or 69 and a one-line message
  got=0
  "$@" <"$IN" >"$T/out" 2>"$T/err" || got=$?
  ERR=$(cat "$T/err")
  { [ "$got" -eq 65 ] || [ "$got" -eq 69 ]; } && expect_err "." && return 0
  return 1
}
verified=0 emitted_same=0 refused_n=0
for IN in "$T"/fs/*; do
  refused mln-verify || fail "mln-verify accepted or crashed on flip ${IN##*/} (exit $got: $ERR)"
  verified=$((verified + 1))
  if refused mln-emit; then refused_n=$((refused_n + 1)); else
    [ "$got" -eq 0 ] || fail "mln-emit on flip ${IN##*/}: exit $got: $ERR"
    cmp -s "$T/out" "$T/m.gguf" || fail "mln-emit wrote a different model for flip ${IN##*/}"
    emitted_same=$((emitted_same + 1))
  fi
done
for IN in "$T"/fc/*; do
  refused mln-verify || fail "mln-verify accepted compressed flip ${IN##*/} (exit $got: $ERR)"
  verified=$((verified + 1))
  if refused mln-compress -d; then refused_n=$((refused_n + 1)); else
    [ "$got" -eq 0 ] || fail "mln-compress -d on flip ${IN##*/}: exit $got: $ERR"
    mln-emit <"$T/out" | cmp -s - "$T/m.gguf" ||
      fail "mln-compress -d passed flip ${IN##*/} and the model differs"
    emitted_same=$((emitted_same + 1))
  fi
done
[ "$verified" -ge 80 ] || fail "only $verified flipped streams were tried"
echo "bitflip: $verified flips refused by mln-verify; emit/decompress refused $refused_n," \
     "produced the identical model for $emitted_same"
