# Shared by the CLI tests: each case is a bash script that sources this file, runs the
# filters from $MLN_BIN and exits non-zero on the first unmet expectation.
set -euo pipefail
: "${MLN_BIN:?MLN_BIN must name the directory of the mln-* binaries}"
PATH="$MLN_BIN:$PATH"
T=$(mktemp -d "${TMPDIR:-/tmp}/mln-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

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

gguf_fixtures() { ls "${MLN_GGUF_FIXTURES:?}"/*.gguf; }
