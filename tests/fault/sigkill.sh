#!/usr/bin/env bash
# SIGKILL at random points of `mln-emit -o FILE` and `mln-parse -o FILE`: FILE is always
# either the previous file or the complete, correct output, never a partial one. Where the
# file system makes nameless temporaries (O_TMPFILE) the kill leaves none behind either,
# unless it lands in the instant between naming the finished file and renaming it, which
# leaves the complete output under its hidden name. (Elsewhere a killed process cannot
# remove its hidden temporary; SIGINT/TERM/HUP can: tests/cli/parse/interrupted.sh.)
. "$(dirname "$0")/common.bash"
gen_model "$T/m.gguf" 48 4
mln-parse <"$T/m.gguf" >"$T/s"  # as the loop runs it: the source frame names <stdin>
mkdir -p "$T/out"
nameless() { nameless_temporaries "$T/out"; }
RANDOM=8
prev=0 complete=0
for i in $(seq 1 12); do
  for mode in emit parse; do
    if [ $mode = emit ]; then want="$T/m.gguf" in="$T/s" cmd=mln-emit
    else want="$T/s" in="$T/m.gguf" cmd=mln-parse; fi
    printf 'previous %s\n' "$i" >"$T/out/f"
    cp "$T/out/f" "$T/prev"
    "$cmd" -o "$T/out/f" <"$in" 2>/dev/null &
    pid=$!
    sleep "0.$(printf '%03d' $((RANDOM % 400)))"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if cmp -s "$T/out/f" "$T/prev"; then prev=$((prev + 1))
    elif cmp -s "$T/out/f" "$want"; then complete=$((complete + 1))
    else fail "$cmd killed at round $i left a partial $(stat -c %s "$T/out/f")-byte file"; fi
    for left in "$T"/out/.f.mln-*; do
      [ -e "$left" ] || continue
      if nameless; then
        cmp -s "$left" "$want" || fail "$cmd killed at round $i left a partial temporary $left"
      fi
      rm -f "$left"
    done
  done
done
echo "sigkill: 24 kills: previous file kept $prev times, complete output $complete times"
