#!/usr/bin/env bash
# A stream cut short, at every frame boundary and inside every frame (prefix, FlatBuffers
# header, payload), makes mln-emit, mln-verify and mln-compress -d exit 65 with one line
# naming the frame the input ends in; mln-emit -o leaves no file, or the previous file
# untouched, and no temporary file.
. "$(dirname "$0")/common.bash"
gen_model "$T/m.gguf" 1 4
mln-parse --chunk-size 128K "$T/m.gguf" >"$T/s"
mln-compress -l 1 <"$T/s" >"$T/c"
frame_layout "$T/s" >"$T/layout.s"
frame_layout "$T/c" >"$T/layout.c"
[ "$(wc -l <"$T/layout.s")" -ge 10 ] || fail "expected a stream of at least 10 frames"
mkdir -p "$T/dst"
printf 'previous model\n' >"$T/dst/prev.gguf"
cp "$T/dst/prev.gguf" "$T/prev.orig"

# cuts LAYOUT: "offset frame kind" triples: each frame's first byte (boundary), the middle of
# its prefix and of its header, the middle of its payload and its last byte (inside).
cuts() {
  echo "0 - b" ; echo "9 - i"
  while read -r i start hdr pay end; do
    echo "$start $i b"; echo "$((start + 11)) $i i"; echo "$(((hdr + pay) / 2)) $i i"
    [ "$pay" -lt "$end" ] && echo "$(((pay + end) / 2)) $i i"
    echo "$((end - 1)) $i i"
  done <"$1"
}

n=0
check() {  # check FRAME CMD...: exit 65, one line, naming the frame (unless "-")
  local frame=$1; shift
  expect_exit 65 "$@"
  if [ "$frame" != - ]; then
    expect_err "frame $frame\\b"
  else
    expect_err "stream"
  fi
  n=$((n + 1))
}
# Every cut through mln-verify and mln-emit -o FILE (new); boundaries also through mln-emit to
# stdout and -o over a previous file (the sanitizer build runs each filter in ~0.3 s).
while read -r cut frame kind; do
  head -c "$cut" "$T/s" >"$T/cut"
  if [ "$kind" = b ]; then
    STDIN="$T/cut" check "$frame" mln-emit
    STDIN="$T/cut" check "$frame" mln-emit -o "$T/dst/prev.gguf"
    cmp -s "$T/prev.orig" "$T/dst/prev.gguf" || fail "cut at $cut: mln-emit -o changed the previous file"
  fi
  STDIN="$T/cut" check "$frame" mln-verify
  STDIN="$T/cut" check "$frame" mln-emit -o "$T/dst/new.gguf"
  [ ! -e "$T/dst/new.gguf" ] || fail "cut at $cut: mln-emit -o left a file"
  no_temp_files "$T/dst"
done < <(cuts "$T/layout.s")
while read -r cut frame kind; do
  head -c "$cut" "$T/c" >"$T/cut"
  STDIN="$T/cut" check "$frame" mln-compress -d -o "$T/dst/new.mlns"
  [ ! -e "$T/dst/new.mlns" ] || fail "cut at $cut: mln-compress -d -o left a file"
  no_temp_files "$T/dst"
done < <(cuts "$T/layout.c")
# The whole streams still go through (the cuts above are what failed, not the tools).
mln-emit <"$T/s" | cmp -s - "$T/m.gguf" || fail "the uncut stream does not emit the model"
mln-compress -d <"$T/c" | mln-emit | cmp -s - "$T/m.gguf" || fail "the uncut compressed stream"
echo "truncate: $n truncated inputs refused as expected"
