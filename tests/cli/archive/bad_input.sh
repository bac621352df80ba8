#!/usr/bin/env bash
# Damaged archives: truncated or corrupt members are exit 65 with a one-line error, never
# a stream that looks complete.
source "$(dirname "$0")/../lib.sh"
m=$(gguf_fixtures | head -1)
cp "$m" "$T/m.gguf"
(cd "$T" && tar -cf one.tar m.gguf && zip -q -0 one.zip m.gguf)
gzip -c "$T/one.tar" > "$T/one.tar.gz"
for a in one.tar one.tar.gz one.zip; do
  n=$(stat -c %s "$T/$a")
  head -c $((n * 2 / 3)) "$T/$a" > "$T/cut"
  expect_exit 65 mln-parse --member m.gguf "$T/cut" -o "$T/o.mlns"
  expect_err "m.gguf|truncated"
  [ ! -e "$T/o.mlns" ] || fail "$a: output left behind"
  expect_exit 65 mln-parse --list "$T/cut"
done
# One flipped byte inside a stored zip member: zip's CRC (checked at the member's end).
/usr/bin/python3 - "$T/one.zip" "$T/m.gguf" "$T/flip.zip" <<'PY'
import sys
z, m = bytearray(open(sys.argv[1], "rb").read()), open(sys.argv[2], "rb").read()
at = z.find(m[-64:])
assert at > 0
z[at + 10] ^= 0x01
open(sys.argv[3], "wb").write(z)
PY
expect_exit 65 mln-parse --member m.gguf "$T/flip.zip" -o "$T/o.mlns"
expect_err "CRC|longer than"
[ ! -e "$T/o.mlns" ] || fail "output left behind"
# Not an archive at all, with --list or --member.
expect_exit 65 mln-parse --list "$m"
expect_err "cannot read it as a tar or zip archive: Unrecognized archive format"
expect_exit 65 mln-parse --member x "$m"
