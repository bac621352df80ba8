#!/usr/bin/env bash
# The reader of a filter's output goes away early (`mln-parse big | head -c 100`): the
# writer ends quietly, by SIGPIPE (exit 141 as the shell shows it) or 0, with nothing on
# stderr; at several points of the output, for every filter that writes a stream or model.
. "$(dirname "$0")/common.bash"
gen_model "$T/m.gguf" 8 4
mln-parse "$T/m.gguf" >"$T/s"
mln-compress -l 1 <"$T/s" >"$T/c"
openssl genpkey -algorithm ed25519 -out "$T/k.pem" 2>/dev/null || fail "openssl genpkey"

n=0
quiet() {  # quiet BYTES CMD...: CMD's stdout into head -c BYTES
  local bytes=$1; shift
  set +o pipefail
  "$@" 2>"$T/err" | head -c "$bytes" >/dev/null
  local st=("${PIPESTATUS[@]}")
  set -o pipefail
  { [ "${st[0]}" -eq 141 ] || [ "${st[0]}" -eq 0 ]; } ||
    fail "'$*' | head -c $bytes: exit ${st[0]}: $(head -c 300 "$T/err")"
  [ ! -s "$T/err" ] || fail "'$*' | head -c $bytes wrote to stderr: $(head -c 300 "$T/err")"
  n=$((n + 1))
}
for bytes in 0 100 65536 1000000; do
  quiet "$bytes" mln-parse "$T/m.gguf"
  quiet "$bytes" mln-parse - <"$T/m.gguf"
  quiet "$bytes" mln-emit <"$T/s"
  quiet "$bytes" mln-compress -l 1 <"$T/s"
  quiet "$bytes" mln-compress -d <"$T/c"
  quiet "$bytes" mln-verify --sign "$T/k.pem" --name m --version 1 <"$T/s"
  quiet "$bytes" mln-inspect --json "$T/s"
done
echo "epipe: $n early-closed pipes, writers quiet"
