#!/usr/bin/env bash
# Bad input to mln-parse: one-line error, documented exit code, no output file left.
source "$(dirname "$0")/../lib.sh"
: > "$T/empty"
expect_exit 65 mln-parse "$T/empty" -o "$T/o"; expect_err "empty input"
printf 'hello world, not a model\n' > "$T/text"
expect_exit 65 mln-parse "$T/text" -o "$T/o"; expect_err "^mln-parse: .*text: unrecognised model format"
expect_exit 66 mln-parse "$T/does-not-exist"; expect_err "does-not-exist: cannot open"
expect_exit 64 mln-parse --no-such-flag
# -f FORMAT forces the format: a GGUF read as TFLite is refused, read as GGUF it parses;
# a bare -f (followed by a file name) keeps meaning --force.
g=$(gguf_fixtures | head -1)
expect_exit 65 mln-parse -f tflite "$g" -o "$T/o"; expect_err "not a TFLite file"
mln-parse -f gguf "$g" -o "$T/forced" || fail "-f gguf did not parse a GGUF"
mln-parse -f "$g" -o "$T/plain" || fail "a bare -f before the input failed"
cmp -s "$T/forced" "$T/plain" || fail "-f gguf and -f FILE gave different streams"
expect_exit 64 mln-parse --format nosuch "$g" -o "$T/o"; expect_err "unknown format 'nosuch'"
rm -f "$T/forced" "$T/plain"
expect_exit 64 mln-parse --chunk-size 12Q "$T/text"
expect_exit 73 mln-parse "$(gguf_fixtures | head -1)" -o "$T/no/such/dir/x"
# GGUF claiming 2^62 tensors: refused before allocating anything.
printf 'GGUF\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00\x00' > "$T/huge"
expect_exit 65 mln-parse "$T/huge" -o "$T/o"; expect_err "tensor count 4611686018427387904"
# A 2^60-byte key string.
printf 'GGUF\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10' > "$T/bigstr"
head -c 64 /dev/zero >> "$T/bigstr"
expect_exit 65 mln-parse "$T/bigstr" -o "$T/o"; expect_err "length 1152921504606846976"
# GGUF v1 is not read.
printf 'GGUF\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' > "$T/v1"
expect_exit 69 mln-parse "$T/v1" -o "$T/o"; expect_err "version 1"
# A truncated real file, from a file and from a pipe.
f=$(gguf_fixtures | head -1)
head -c $(( $(stat -c %s "$f") - 100 )) "$f" > "$T/cut.gguf"
expect_exit 65 mln-parse "$T/cut.gguf" -o "$T/o"; expect_err "past the end|truncated"
expect_exit 65 bash -c 'set -o pipefail; cat "$1" | mln-parse -o "$2"' _ "$T/cut.gguf" "$T/o"
expect_err "truncated"
[ ! -e "$T/o" ] || fail "a failed parse left $T/o behind"
[ -z "$(ls -A "$T" | grep '^\.o\.mln-' || true)" ] || fail "temporary file left behind"
# An existing output survives a failed run untouched.
echo precious > "$T/keep"
expect_exit 65 mln-parse "$T/text" -o "$T/keep"
[ "$(cat "$T/keep")" = precious ] || fail "failed run damaged the existing output"
expect_exit 0 mln-parse --version; grep -q "mln" "$T/out" || fail "--version printed nothing"
expect_exit 0 mln-parse --help; grep -q -- "--chunk-size" "$T/out" || fail "--help lacks options"

# A forced format that does not fit names what the content looks like; a format's name may
# be written in any case.
g=$(gguf_fixtures | head -1)
expect_exit 65 mln-parse --format onnx "$g" -o "$T/o"
expect_err "\(the content looks like gguf; drop --format\)"
[ ! -e "$T/o" ] || fail "a refused --format left output"
mln-parse --format GGUF "$g" | mln-emit | cmp - "$g" || fail "--format GGUF did not parse the GGUF"
echo ok
