#!/usr/bin/env bash
# The caller closed a standard descriptor, or stdout is full. A closed stdin must not become
# the next file opened (mln-diff v1 - <&- once read v1 as the new model and wrote a patch
# that did nothing): reading '-' fails, names <stdin>, exit 74. Text output (tables, JSON,
# --help) that cannot be written is exit 74 too, as binary output already was, and a closed
# stderr does not send messages into an output file. A terminal on stdin is refused.
. "$(dirname "$0")/common.bash"
gen_model "$T/v1.gguf" 1 3
gen_model "$T/v2.gguf" 1 4
mln-parse "$T/v1.gguf" -o "$T/s"

# Closed stdin, read as '-': every reader fails on it, none reads another file instead.
for cmd in "mln-diff $T/v1.gguf -" "mln-apply $T/v1.gguf -" "mln-parse -" "mln-inspect -" \
           "mln-compress -c -" "mln-emit -" "mln-verify -"; do
  got=0
  $cmd <&- >"$T/out" 2>"$T/err" || got=$?
  ERR=$(cat "$T/err")
  [ "$got" -eq 74 ] || fail "'$cmd <&-' exited $got (expected 74): $ERR"
  expect_err "<stdin>: read failed"
  [ ! -s "$T/out" ] || fail "'$cmd <&-' wrote $(stat -c %s "$T/out") bytes"
done

# Text to a full or closed stdout (expect_exit would redirect stdout itself).
stdout_fails() {  # HOW CMD...: HOW is "full" or "closed"
  local how=$1; shift
  local got=0
  if [ "$how" = full ]; then "$@" >/dev/full 2>"$T/err" || got=$?
  else "$@" >&- 2>"$T/err" || got=$?; fi
  ERR=$(cat "$T/err")
  [ "$got" -eq 74 ] || fail "'$*' with stdout $how exited $got (expected 74): $ERR"
  expect_err "stdout: write failed|write failed"
}
for cmd in "mln-inspect $T/v1.gguf" "mln-inspect --json $T/s" "mln-verify --print $T/s" \
           "mln-compress --help" "mln-diff --version"; do
  stdout_fails full $cmd
  stdout_fails closed $cmd
done
# Binary output to a full stdout was already an error; it stays one, and names <stdout>
# (mln-diff named its new model, the file it read).
for cmd in "mln-parse $T/v1.gguf" "mln-diff $T/v1.gguf $T/v2.gguf" "mln-compress -c $T/v1.gguf"; do
  stdout_fails full $cmd
  grep -q "<stdout>: .*write failed: No space left on device" <<<"$ERR" || fail "'$cmd' > /dev/full: $ERR"
done

# A closed stderr: the output file gets the model's bytes and nothing else.
mln-emit -o "$T/back.gguf" <"$T/s" 2>&-
cmp -s "$T/back.gguf" "$T/v1.gguf" || fail "with stderr closed, mln-emit -o wrote something else"
# The run above was fine; a failing run with stderr closed still fails, and still writes
# nothing to the output it was given.
got=0
mln-emit -o "$T/bad.gguf" <"$T/v2.gguf" 2>&- || got=$?
[ "$got" -eq 65 ] || fail "mln-emit of a non-stream with stderr closed exited $got"
[ ! -e "$T/bad.gguf" ] || fail "a failed mln-emit left $T/bad.gguf"
# A terminal on stdin holds no model: refused at once (as zstd does), not waited on.
if command -v script >/dev/null; then
  for cmd in "mln-inspect" "mln-compress -c" "mln-parse" "mln-diff $T/v1.gguf -"; do
    # script(1) runs the command on a new pseudo-terminal; timeout catches a hang.
    out=$(timeout 20 script -qec "$MLN_BIN/$cmd >/dev/null; echo rc=\$?" /dev/null </dev/null) ||
      fail "'$cmd' on a terminal did not return: $out"
    grep -q "rc=64" <<<"$out" || fail "'$cmd' on a terminal: $out"
    grep -q "<stdin>: is a terminal" <<<"$out" || fail "'$cmd' on a terminal said: $out"
  done
fi
echo "closed_stdio: ok"
