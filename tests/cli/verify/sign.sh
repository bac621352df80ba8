#!/usr/bin/env bash
# Signing and trust: another key, tampering, threshold, expiry, replay with --state,
# --min-version and malformed PEM, each refused with its exit code and a precise message.
source "$(dirname "$0")/../lib.sh"
f=$(gguf_fixtures | grep real_f16)
mln-parse "$f" -o "$T/s"
for k in a b; do
  openssl genpkey -algorithm ed25519 -out "$T/$k.pem" 2>/dev/null
  openssl pkey -in "$T/$k.pem" -pubout -out "$T/$k.pub"
done
expect_exit 0 mln-verify --sign "$T/a.pem" --name face --version 3 "$T/s" -o "$T/v3"
expect_exit 0 mln-verify --sign "$T/a.pem" --name face --version 4 --expires 30 "$T/s" -o "$T/v4"
expect_exit 0 mln-verify --pubkey "$T/a.pub" --check "$T/v3"
# Signed streams still emit the same model.
mln-emit "$T/v3" -o "$T/model" && cmp "$T/model" "$f" || fail "signed stream emits differently"
# The signed manifest covers the unsigned stream's trailer digest.
mln-verify --print --json "$T/s" | grep -o '"trailer_sha256":"[0-9a-f]*"' | cut -d'"' -f4 > "$T/d1"
mln-verify --print --json "$T/v3" | grep -o '"content_sha256":"[0-9a-f]*"' | head -1 | cut -d'"' -f4 > "$T/d2"
cmp -s "$T/d1" "$T/d2" || fail "content digest is not the unsigned trailer digest"
# Another key, threshold, no signature.
expect_exit 1 mln-verify --pubkey "$T/b.pub" --check "$T/v3"; expect_err "not a trusted key"
expect_exit 1 mln-verify --pubkey "$T/a.pub" --pubkey "$T/b.pub" --threshold 2 --check "$T/v3"
expect_err "1 of 2 required"
expect_exit 0 mln-verify --sign "$T/b.pem" --name face --version 3 "$T/v3" -o "$T/v3ab"
expect_exit 0 mln-verify --pubkey "$T/a.pub" --pubkey "$T/b.pub" --threshold 2 --check "$T/v3ab"
expect_exit 1 mln-verify --pubkey "$T/a.pub" --check "$T/s"; expect_err "carries no signature"
# Tampering with the signed stream: payload, then the manifest (caught by checksums: 65).
size=$(stat -c %s "$T/v3")
cp "$T/v3" "$T/t"
damage "$T/t" $((size / 2))
expect_exit 65 mln-verify --pubkey "$T/a.pub" --check "$T/t"; expect_err "frame [0-9]+"
# Truncated inside the signature frame.
head -c $((size - 150)) "$T/v3" > "$T/cut"
expect_exit 65 mln-verify --pubkey "$T/a.pub" --check "$T/cut"; expect_err "truncated"
# Expired manifest.
expect_exit 0 mln-verify -q --sign "$T/a.pem" --name face --version 5 --expires-at 1000 "$T/s" -o "$T/old"
expect_exit 1 mln-verify --pubkey "$T/a.pub" --check "$T/old"; expect_err "expired at 1970-01-01T00:16:40Z"
# Replay and downgrade with --state; the state changes only on success, atomically.
expect_exit 0 mln-verify --pubkey "$T/a.pub" --state "$T/state" "$T/v3" -o "$T/out3"
grep -q '"face": 3' "$T/state" || fail "state not recorded"
expect_exit 1 mln-verify --pubkey "$T/a.pub" --state "$T/state" "$T/v3" -o "$T/again"
expect_err "version 3 is not newer than version 3"
[ ! -e "$T/again" ] || fail "refused stream was written"
# --check accepts v4 but records nothing (it installs nothing); the install then does.
cp "$T/state" "$T/state.before"
expect_exit 0 mln-verify --pubkey "$T/a.pub" --state "$T/state" --check "$T/v4"
cmp -s "$T/state" "$T/state.before" || fail "--check changed the state"
expect_exit 0 mln-verify --pubkey "$T/a.pub" --state "$T/state" "$T/v4" -o "$T/out4"
grep -q '"face": 4' "$T/state" || fail "state not advanced"
expect_exit 1 mln-verify --pubkey "$T/a.pub" --state "$T/state" --check "$T/v3"
expect_exit 0 mln-verify --pubkey "$T/a.pub" --state "$T/state" --allow-downgrade --check "$T/v3"
expect_exit 1 mln-verify --pubkey "$T/a.pub" --min-version 7 --check "$T/v4"; expect_err "below --min-version 7"
# Pipe: a signed stream passes through to the next filter.
STDIN="$T/v4" expect_exit 0 mln-verify --pubkey "$T/a.pub" --name face
cmp "$T/out" "$T/v4" || fail "pass-through of a trusted stream differs"
# Malformed PEM keys and usage errors.
echo "not a key" > "$T/bad.pem"
expect_exit 64 mln-verify --pubkey "$T/bad.pem" --check "$T/v3"; expect_err "bad.pem: malformed PEM key"
head -c 60 "$T/a.pem" > "$T/cut.pem"
expect_exit 64 mln-verify --sign "$T/cut.pem" --name x --version 1 "$T/s" -o "$T/o"
expect_err "cut.pem: malformed PEM key"
expect_exit 64 mln-verify --sign "$T/a.pub" --name x --version 1 "$T/s" -o "$T/o"
expect_err "found 'PUBLIC KEY'"
expect_exit 66 mln-verify --pubkey "$T/missing.pub" --check "$T/v3"
expect_exit 64 mln-verify --sign "$T/a.pem" "$T/s" -o "$T/o"; expect_err "needs --name and --version"
[ ! -e "$T/o" ] || fail "failed sign left output"
# The state's directory is made when missing (as /var/lib/mln on a fresh machine); one that
# cannot be made or written fails before anything is written, so no model is installed with
# its version unrecorded.
expect_exit 0 mln-verify --pubkey "$T/a.pub" --state "$T/new/dir/state.json" "$T/v3" -o "$T/o3"
grep -q '"face": 3' "$T/new/dir/state.json" || fail "state in a new directory not recorded"
# (/proc takes no new directory, even from root, whom permissions would not stop.)
expect_exit 73 mln-verify --pubkey "$T/a.pub" --state /proc/mln-no-such-dir/state.json "$T/v3" -o "$T/o3b"
expect_err "state.json: cannot make the state's directory"
[ ! -e "$T/o3b" ] || fail "the output was written although the state could not be"
expect_exit 0 mln-verify --pubkey "$T/a.pub" --state /proc/mln-no-such-dir/state.json --check "$T/v3"
# mln-inspect lists the signature frames as found (key, name, version), not as unknown frames.
expect_exit 0 mln-inspect "$T/v3ab"
[ "$(grep -c "^  signature     frame [0-9]*, key [0-9a-f]\{64\}: 'face' version 3, signed" "$T/out")" = 2 ] ||
  fail "mln-inspect does not list the two signatures: $(cat "$T/out")"
! grep -q "unknown kind" "$T/out" || fail "mln-inspect counts signatures as unknown frames"
expect_exit 0 mln-inspect --json "$T/v4"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["signatures"]; assert len(s)==1 and s[0]["name"]=="face" and s[0]["version"]==4 and "expires" in s[0], s' "$T/out" ||
  fail "mln-inspect --json: $(cat "$T/out")"
# Compressing a signed stream: a warning (its signatures cover the bytes before compression),
# which -q silences; -d gives the signed stream back, and it verifies again.
cp "$T/v3" "$T/v3.mlns"
expect_exit 0 mln-compress "$T/v3.mlns"
expect_err "v3.mlns: warning: the stream is signed.*verify again only after -d"
expect_exit 0 mln-compress -q -f "$T/v3.mlns"
[ ! -s "$T/err" ] || fail "-q did not silence the warning: $ERR"
expect_exit 1 mln-verify --pubkey "$T/a.pub" --check "$T/v3.mlns.mlnz"
expect_exit 0 mln-compress -d -o "$T/v3.back" "$T/v3.mlns.mlnz"
cmp "$T/v3.back" "$T/v3" || fail "-d did not give the signed stream back"
expect_exit 0 mln-verify --pubkey "$T/a.pub" --check "$T/v3.back"
echo ok
