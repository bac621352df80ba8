#!/usr/bin/env bash
# examples/release/Makefile: builds, checks and publishes signed streams and patches.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/models.bash"
make_versions "$T/models"

release 1 || fail "release 1"
release 2 1 || fail "release 2"
for f in m-1.mlns m-1.SHA256SUMS m-2.mlns m-1-2.mlnp m-2.SHA256SUMS LATEST; do
  [ -f "$T/pub/$f" ] || fail "$f not published"
done
[ "$(cat "$T/pub/LATEST")" = "m 2" ] || fail "LATEST: $(cat "$T/pub/LATEST")"
ls -a "$T/pub" | grep -q '\.tmp$' && fail "temporary files left in the publish dir"
(cd "$T/dist" && sha256sum --quiet -c m-2.SHA256SUMS) || fail "SHA256SUMS"
# The published artifacts are signed by the release key and rebuild the release model.
mln-verify --pubkey "$T/models/release.pub" --name m "$T/pub/m-2.mlns" | mln-emit |
  cmp - "$T/dist/m-2.gguf" || fail "stream does not rebuild m-2.gguf"
mln-verify --pubkey "$T/models/release.pub" --name m "$T/pub/m-1-2.mlnp" |
  mln-apply "$T/dist/m-1.gguf" | cmp - "$T/dist/m-2.gguf" || fail "patch does not give m-2.gguf"
# A patch is much smaller than the stream.
[ "$(stat -c %s "$T/pub/m-1-2.mlnp")" -lt $(( $(stat -c %s "$T/pub/m-2.mlns") / 10 )) ] ||
  fail "patch is not small"
if [ -n "$QUANT" ]; then
  mln-inspect "$T/dist/m-2.gguf" >/dev/null || fail "quantized model does not read back"
fi
# Nothing to redo; a broken input fails the build and publishes nothing new.
[ -z "$(release 2 1 2>&1)" ] || fail "second make was not a no-op"
head -c 1000 "$T/models/v1.gguf" > "$T/models/v3.gguf"
release 3 2 2>/dev/null && fail "release of a truncated model succeeded"
[ "$(cat "$T/pub/LATEST")" = "m 2" ] || fail "LATEST moved after a failed release"
[ ! -e "$T/dist/m-3.gguf" ] || fail "a failed release left dist/m-3.gguf"
echo ok
