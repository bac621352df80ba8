#!/usr/bin/env bash
# mln-verify as a filter: a valid stream passes through byte for byte, a damaged one is
# refused (65) naming the frame, -o leaves nothing behind, --sha256/--print on files.
source "$(dirname "$0")/../lib.sh"
f=$(gguf_fixtures | grep real_f16)
mln-parse "$f" -o "$T/s"
expect_exit 0 mln-verify --check "$T/s"
[ ! -s "$T/out" ] || fail "--check wrote output"
STDIN="$T/s" expect_exit 0 mln-verify
cmp "$T/out" "$T/s" || fail "pass-through differs"
expect_exit 0 mln-verify "$T/s" -o "$T/copy"
cmp "$T/copy" "$T/s" || fail "-o copy differs"
size=$(stat -c %s "$T/s")
# A flipped bit in a payload: exit 65, frame named, no output file.
cp "$T/s" "$T/flip"
damage "$T/flip" $((size / 2)) 1
expect_exit 65 mln-verify "$T/flip" -o "$T/bad"; expect_err "frame [0-9]+ '.*': checksum mismatch"
[ ! -e "$T/bad" ] || fail "failed verify left -o output"
# Not a stream at all (the model file itself): refused before a byte passes through.
STDIN="$f" expect_exit 65 mln-verify; expect_err "not an mln stream"
[ ! -s "$T/out" ] || fail "a model file passed $(stat -c %s "$T/out") bytes through before it was refused"
# Truncated: no trailer.
head -c $((size - 30)) "$T/s" > "$T/cut"
expect_exit 65 mln-verify --check "$T/cut"; expect_err "truncated"
# File digests, as sha256sum prints them; a comment line for streams.
want=$(sha256sum "$f" | cut -c1-64)
expect_exit 0 mln-verify --sha256 "$want" "$f"
expect_exit 1 mln-verify --sha256 "$(sha256sum "$T/s" | cut -c1-64)" "$f"
expect_err "sha256 mismatch: expected [0-9a-f]{64}, got $want"
expect_exit 0 mln-verify --print "$f" "$T/s"
grep -q "^$want  $f\$" "$T/out" || fail "--print line differs from sha256sum"
(cd / && sha256sum --strict -c "$T/out" >/dev/null) || fail "sha256sum -c rejects --print output"
expect_exit 0 mln-verify --print --json "$T/s"
grep -q '"trailer_sha256":"[0-9a-f]\{64\}"' "$T/out" || fail "--json lacks the trailer digest"
expect_exit 64 mln-verify --sha256 xyz "$f"; expect_err "64 hex digits"
# --version names the release to sign; alone it prints the program's version, as -V does.
expect_exit 0 mln-verify --version
grep -q "^mln-verify mln [0-9]" "$T/out" || fail "--version alone: $(cat "$T/out")"
expect_exit 64 mln-verify --state "$T/st" "$T/s"; expect_err "needs|cannot be used"
echo ok
