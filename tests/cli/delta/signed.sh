#!/usr/bin/env bash
# The edge-gateway flow: a signed patch applies only with a trusted key, only once (the
# version state refuses replays and downgrades), only to the file it names, and the state
# is recorded only after the new model is in place.
. "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
cp "${MLN_GGUF_FIXTURES:?}/real_f16.gguf" "$T/v1.gguf"
/usr/bin/python3 "$here/make_pair.py" finetune "$T/v1.gguf" "$T/v2.gguf" 11
/usr/bin/python3 "$here/make_pair.py" finetune "$T/v2.gguf" "$T/v3.gguf" 12
openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
openssl pkey -in "$T/key.pem" -pubout -out "$T/pub.pem"
openssl genpkey -algorithm ed25519 -out "$T/other.pem" 2>/dev/null
openssl pkey -in "$T/other.pem" -pubout -out "$T/otherpub.pem"

mln-diff "$T/v1.gguf" "$T/v2.gguf" | mln-compress |
  mln-verify --sign "$T/key.pem" --name m --version 2 >"$T/p12"
mln-diff "$T/v2.gguf" "$T/v3.gguf" | mln-verify --sign "$T/key.pem" --name m --version 3 >"$T/p23"
mln-diff "$T/v1.gguf" "$T/v2.gguf" >"$T/unsigned"

# The signed manifest states which file the patch applies to and what it makes.
mln-verify --pubkey "$T/pub.pem" --check "$T/p12"
grep -aq "\"base_sha256\":\"$(sha256sum <"$T/v1.gguf" | cut -c1-64)\"" "$T/p12" ||
  fail "manifest does not name the base digest"
grep -aq "\"target_sha256\":\"$(sha256sum <"$T/v2.gguf" | cut -c1-64)\"" "$T/p12" ||
  fail "manifest does not name the result digest"

expect_exit 1 mln-apply --pubkey "$T/pub.pem" "$T/v1.gguf" "$T/unsigned" -o "$T/new"
expect_err 'not trusted: .*no signature'
expect_exit 1 mln-apply --pubkey "$T/otherpub.pem" "$T/v1.gguf" "$T/p12" -o "$T/new"
[ ! -e "$T/new" ] || fail "an untrusted patch produced output"

st="$T/state.json"
mln-apply --pubkey "$T/pub.pem" --state "$st" "$T/v1.gguf" "$T/p12" -o "$T/new"
cmp "$T/new" "$T/v2.gguf" || fail "signed apply differs"
grep -q '"m": 2' "$st" || fail "state does not record version 2"
# Replaying the same patch, now refused; the state keeps 2.
expect_exit 1 mln-apply --pubkey "$T/pub.pem" --state "$st" "$T/v1.gguf" "$T/p12" -o "$T/again"
expect_err 'not newer'
[ ! -e "$T/again" ] || fail "a replayed patch produced output"
# The next version applies in place and moves the state on.
cp "$T/new" "$T/model.gguf"
mln-apply --pubkey "$T/pub.pem" --state "$st" --in-place "$T/model.gguf" "$T/p23"
cmp "$T/model.gguf" "$T/v3.gguf" || fail "in-place signed apply differs"
grep -q '"m": 3' "$st" || fail "state does not record version 3"
# A state that cannot be written is found out before the model is touched: --in-place
# leaves the model as it was rather than install it with its version unrecorded.
cp "$T/model.gguf" "$T/model.before"
expect_exit 73 mln-apply --pubkey "$T/pub.pem" --state /proc/mln-no-such-dir/state.json --in-place \
  "$T/model.gguf" "$T/p12"
expect_err "cannot make the state's directory"
cmp -s "$T/model.gguf" "$T/model.before" || fail "the model changed although the state could not be written"
# A tampered signed patch fails before anything is written, and the state stays.
cp "$T/p23" "$T/bad"
damage "$T/bad" 3000
expect_exit 65 mln-apply --pubkey "$T/pub.pem" --state "$st" --allow-downgrade "$T/v2.gguf" "$T/bad" -o "$T/x"
grep -q '"m": 3' "$st" || fail "a failed apply changed the state"
expect_exit 64 mln-apply --state "$st" "$T/v1.gguf" "$T/p12" -o "$T/x"
# Signatures are checked at the end of the patch: nothing may reach stdout before that.
expect_exit 64 mln-apply --pubkey "$T/pub.pem" "$T/v1.gguf" "$T/p12"
expect_err 'nothing is released before the signatures are checked'
