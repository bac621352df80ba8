# Shared by the CLI tests: each case is a bash script that sources this file, runs the
# filters from $MLN_BIN and exits non-zero on the first unmet expectation.
set -euo pipefail
: "${MLN_BIN:?MLN_BIN must name the directory of the mln-* binaries}"
PATH="$MLN_BIN:$PATH"
T=$(mktemp -d "${TMPDIR:-/tmp}/mln-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# The two TFLite fixtures of many small f16 tensors (npm, pinned sha256): MediaPipe's
# short-range face detector and its lite hand landmark model, one path a line.
small_tflite_fixtures() {
  local root dir
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  dir=$("$root/scripts/fetch-fixtures" --print-dir)
  ls "$dir"/mediapipe-face_detection-*/package/face_detection_short_range.tflite \
     "$dir"/mediapipe-hands-*/package/hand_landmark_lite.tflite
}

# expect_exit CODE CMD...: runs CMD (stdin from $STDIN if set, else /dev/null), keeps its
# stderr in $ERR and stdout in $T/out, and checks the exit code.
expect_exit() {
  local want=$1; shift
  local got=0
  "$@" <"${STDIN:-/dev/null}" >"$T/out" 2>"$T/err" || got=$?
  ERR=$(cat "$T/err")
  [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want; stderr: $ERR"
}

# expect_err PATTERN: the last command's stderr matches the extended regex PATTERN, and is
# one line (diagnostics are one line).
expect_err() {
  grep -Eq -- "$1" <<<"$ERR" || fail "stderr '$ERR' does not match /$1/"
  [ "$(wc -l <"$T/err")" -le 1 ] || fail "diagnostic is more than one line: $ERR"
}

# damage FILE OFFSET [MASK]: XORs the byte at OFFSET with MASK (default 0xff: all its bits),
# so the file surely changes; writing a fixed byte leaves it as it was when the byte
# already had that value.
damage() {
  local byte
  byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  [ -n "$byte" ] || fail "damage: $1 has no byte at $2 (test setup)"
  printf "\\$(printf '%03o' $((byte ^ ${3:-0xff})))" |
    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

gguf_fixtures() { ls "${MLN_GGUF_FIXTURES:?}"/*.gguf; }

# interrupt_midway SIG DIR TEMP_RE FILE COUNT CMD...: runs CMD, which must read the FIFO
# $T/fifo and write into DIR; feeds it the first COUNT bytes of FILE so that it blocks for
# the rest; waits until an entry of DIR matches TEMP_RE (its hidden temporary); sends SIG.
# Fails unless CMD exits non-zero and leaves DIR empty.
# nameless_temporaries DIR: true when files can be made nameless in DIR (O_TMPFILE), as
# cli::Output makes its temporaries there: then not even SIGKILL leaves one behind.
nameless_temporaries() {
  /usr/bin/python3 -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_TMPFILE | os.O_WRONLY, 0o600))' "$1" 2>/dev/null
}

interrupt_midway() {
  local sig=$1 dir=$2 temp_re=$3 src=$4 count=$5; shift 5
  mkfifo "$T/fifo"
  # A background job of a script starts with SIGINT ignored, which the filters respect (as
  # nohup's SIGHUP): the default actions are restored for it, as a terminal's job has them.
  env --default-signal "$@" 2>/dev/null &
  local pid=$!
  exec 7>"$T/fifo"  # CMD now has its input open and waits for bytes
  head -c "$count" "$src" >&7
  # Its output is open: a hidden temporary in DIR, or a nameless one (O_TMPFILE), which
  # /proc shows as DIR/#INODE (deleted).
  local real; real=$(realpath "$dir")
  opened() { ls -A "$dir" | grep -q -- "$temp_re" || ls -l "/proc/$pid/fd" 2>/dev/null | grep -qF -- "$real/#"; }
  for _ in $(seq 50); do opened && break; sleep 0.1; done
  opened || fail "no temporary matching /$temp_re/ appeared (test setup): $(ls -A "$dir")"
  kill -s "$sig" "$pid"
  local code=0
  wait "$pid" || code=$?
  exec 7>&-
  rm "$T/fifo"
  [ "$code" -ne 0 ] || fail "SIG$sig: $1 exited 0"
  [ -z "$(ls -A "$dir")" ] || fail "SIG$sig: $1 left $(ls -A "$dir")"
}
