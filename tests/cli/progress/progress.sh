#!/usr/bin/env bash
# Progress on stderr: drawn when forced or when stderr is a terminal, erased at the end,
# never in a pipe or a file by default.
source "$(dirname "$0")/../lib.sh"
f=$(gguf_fixtures | grep real_f16)
size=$(stat -c %s "$f")

# progress_ok PROG FILE: FILE holds progress lines of PROG, redrawn with \r, no newline, and
# ends erased (\r, blanks, \r).
progress_ok() {
  grep -aq "$1: [0-9.]* [KMG]*i*B" "$2" || fail "$1: no progress line in: $(od -c "$2" | head -3)"
  [ "$(head -c1 "$2")" = $'\r' ] || fail "$1: progress does not start with CR"
  [ "$(tail -c1 "$2")" = $'\r' ] || fail "$1: progress line not erased at the end"
  # Split at CR: the last piece holding text comes before the blank one that erases it.
  awk 'BEGIN { RS = "\r" } NF { text = NR } END { exit !(text < NR) }' "$2" ||
    fail "$1: the last redraw is not blank: $(cat -v "$2")"
  [ "$(tr -cd '\n' <"$2" | wc -c)" -eq 0 ] || fail "$1: progress wrote a newline"
}

# Forced: every filter that moves bytes draws it, and the output is still right.
mln-parse --progress "$f" -o "$T/s" 2>"$T/e.parse"
progress_ok mln-parse "$T/e.parse"
grep -aq "/ $(awk -v s="$size" 'BEGIN{printf "%.1f MiB", s/1048576}')" "$T/e.parse" ||
  fail "mln-parse: the total (file size) is missing: $(cat -v "$T/e.parse")"
mln-emit --progress "$T/s" -o "$T/m" 2>"$T/e.emit"
progress_ok mln-emit "$T/e.emit"
cmp "$T/m" "$f" || fail "emit with progress differs"
mln-compress --progress "$T/s" -o "$T/z" 2>"$T/e.compress"
progress_ok mln-compress "$T/e.compress"
mln-verify --progress --check "$T/z" 2>"$T/e.verify"
progress_ok mln-verify "$T/e.verify"
# mln-diff counts the new model's bytes its ops cover and mln-apply the bytes it makes, both
# out of the new file's size (patch.begin); mln-quant counts its input, out of the input
# file's size, since its output is smaller. A line without that total means the filter's
# bytes never reached the progress line.
total="/ $(awk -v s="$size" 'BEGIN{printf "%.1f MiB", s/1048576}')"
cp "$f" "$T/v2"
head -c 4096 /dev/urandom | dd of="$T/v2" bs=1 seek=$((size - 70000)) conv=notrunc status=none
mln-diff --progress "$f" "$T/v2" -o "$T/p" 2>"$T/e.diff"
progress_ok mln-diff "$T/e.diff"
grep -aq "$total" "$T/e.diff" || fail "mln-diff: no total in: $(cat -v "$T/e.diff")"
mln-apply --progress "$f" "$T/p" -o "$T/v2.back" 2>"$T/e.apply"
progress_ok mln-apply "$T/e.apply"
grep -aq "$total" "$T/e.apply" || fail "mln-apply: no total in: $(cat -v "$T/e.apply")"
cmp "$T/v2.back" "$T/v2" || fail "patch made or applied with progress is wrong"
mln-quant --progress -t q8_0 --include '*' "$T/s" -o "$T/q" 2>"$T/e.quant"
progress_ok mln-quant "$T/e.quant"
grep -aq "$total" "$T/e.quant" || fail "mln-quant: no total in: $(cat -v "$T/e.quant")"

# Default in pipes and to files: not a byte on stderr (mln-diff and mln-quant too).
mln-diff "$f" "$T/v2" 2>"$T/e5" >/dev/null
mln-quant -t q8_0 --include '*' "$T/s" 2>"$T/e6" | cat >/dev/null
for e in e5 e6; do [ ! -s "$T/$e" ] || fail "progress or noise in a pipe ($e): $(cat -v "$T/$e")"; done
mln-parse "$f" 2>"$T/e1" | mln-compress 2>"$T/e2" | mln-verify 2>"$T/e3" |
  mln-emit -o "$T/m2" 2>"$T/e4"
cmp "$T/m2" "$f" || fail "piped round trip differs"
for e in e1 e2 e3 e4; do
  [ ! -s "$T/$e" ] || fail "progress or noise in a pipe ($e): $(cat -v "$T/$e")"
done

# A terminal on stderr (script(1) gives the command a pty): drawn by default, not with
# --no-progress or -q.
if command -v script >/dev/null; then
  tty_run() { script -qec "$1" /dev/null </dev/null >"$T/tty" 2>&1 || fail "'$1' failed: $(cat -v "$T/tty")"; }
  tty_run "mln-parse '$f' -o '$T/s2'"
  grep -aq 'mln-parse: .*B' "$T/tty" || fail "no progress on a terminal: $(cat -v "$T/tty")"
  tty_run "mln-parse --no-progress '$f' -o '$T/s2'"
  [ ! -s "$T/tty" ] || fail "--no-progress drew on a terminal: $(cat -v "$T/tty")"
  tty_run "mln-parse -q '$f' -o '$T/s2'"
  [ ! -s "$T/tty" ] || fail "-q drew progress on a terminal: $(cat -v "$T/tty")"
  cmp "$T/s" "$T/s2" || fail "stream differs when progress was drawn"
fi

# Both at once is a usage error.
expect_exit 64 mln-parse --progress --no-progress "$f" -o "$T/s3"
grep -q "excludes" <<<"$ERR" || fail "no usage error for --progress --no-progress: $ERR"
echo ok
