#!/usr/bin/env bash
# The disk fills up while a filter writes -o FILE: a file-size limit (ulimit -f, SIGXFSZ
# ignored so write(2) fails with EFBIG as it would with ENOSPC) and, when running as root
# where mounting works, a real full tmpfs. The filter exits 73/74 with one line, the previous
# FILE is untouched, and no temporary file is left.
. "$(dirname "$0")/common.bash"
gen_model "$T/m.gguf" 2 4
mln-parse --chunk-size 64K "$T/m.gguf" >"$T/s"
mln-compress -q "$T/m.gguf" -o "$T/m.mlnz"
mkdir -p "$T/out"
printf 'previous output\n' >"$T/prev"

n=0
expect_write_failure() {  # DIR TARGET CMD...: run CMD (stdin $IN) with -o DIR/TARGET
  local dir=$1 target=$2; shift 2
  cp "$T/prev" "$dir/$target"
  local got=0
  "$@" -o "$dir/$target" <"$IN" >"$T/stdout" 2>"$T/err" || got=$?
  ERR=$(cat "$T/err")
  { [ "$got" -eq 74 ] || [ "$got" -eq 73 ]; } || fail "'$*' on a full disk exited $got: $ERR"
  expect_err "$target|No space|too large|write"
  cmp -s "$T/prev" "$dir/$target" || fail "'$*' changed the previous $target"
  no_temp_files "$dir"
  n=$((n + 1))
}

# ulimit -f: 512 KiB, far below the 2 MiB model and its stream.
(
  trap '' XFSZ
  ulimit -f 512
  IN="$T/s" expect_write_failure "$T/out" model.gguf mln-emit
  IN="$T/m.gguf" expect_write_failure "$T/out" model.mlns mln-parse
  IN="$T/s" expect_write_failure "$T/out" model.mlnc mln-compress -l 1
  IN="$T/s" expect_write_failure "$T/out" checked.mlns mln-verify
  # Writes the model on a thread of its own: the error still reaches the exit status.
  IN=/dev/null expect_write_failure "$T/out" model.gguf mln-compress -d "$T/m.mlnz"
  echo "$n" >"$T/n.ulimit"
)
n=$(cat "$T/n.ulimit")

# A real ENOSPC: a 1 MiB tmpfs, when we may mount one.
if [ "$(id -u)" -eq 0 ] && mkdir -p "$T/mnt" && mount -t tmpfs -o size=1m tmpfs "$T/mnt" 2>/dev/null; then
  trap 'umount "$T/mnt" 2>/dev/null || true; rm -rf "$T"' EXIT
  IN="$T/s" expect_write_failure "$T/mnt" model.gguf mln-emit
  IN="$T/m.gguf" expect_write_failure "$T/mnt" model.mlns mln-parse
  IN=/dev/null expect_write_failure "$T/mnt" model.gguf mln-compress -d "$T/m.mlnz"
  grep -q "No space" <<<"$ERR" || fail "tmpfs: expected ENOSPC, got: $ERR"
  umount "$T/mnt"
else
  echo "enospc: tmpfs not mountable here, ulimit -f only"
fi
# With room, the same commands succeed (so the failures above came from the limit).
IN="$T/s"; mln-emit -o "$T/out/model.gguf" <"$T/s" && cmp -s "$T/out/model.gguf" "$T/m.gguf" ||
  fail "mln-emit -o without a limit"
mln-compress -q -d "$T/m.mlnz" -o "$T/out/model.gguf" && cmp -s "$T/out/model.gguf" "$T/m.gguf" ||
  fail "mln-compress -d -o without a limit"
echo "enospc: $n full-disk writes failed cleanly"
