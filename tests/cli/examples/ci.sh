#!/usr/bin/env bash
# examples/ci/model-ci.sh: every gate passes on a good model and a small patch, and the
# stage fails on a damaged model and on a patch over budget.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/models.bash"
make_versions "$T/models"
ci=$EXAMPLES/ci/model-ci.sh
cd "$T"

"$ci" --prev models/v1.gguf ${QUANT:+--quant "$QUANT"} --artifacts art models/v2.gguf >"$T/log" ||
  fail "CI failed on a good model: $(cat "$T/log")"
for g in "stream round trip" "signed compressed stream" "patch from v1.gguf"; do
  grep -qx "PASS $g" "$T/log" || fail "no PASS for '$g': $(cat "$T/log")"
done
[ -z "$QUANT" ] || grep -qx "PASS quantize to $QUANT" "$T/log" || fail "quant gate: $(cat "$T/log")"
mln-apply models/v1.gguf art/patch.mlnp | cmp - models/v2.gguf || fail "artifact patch is wrong"
grep -q '"tensors"' art/inspect.json || fail "no inspect.json"
grep -q '| v2.gguf | ' art/summary.md || fail "no summary.md"

# Over the patch budget: that gate fails, the stage exits 1.
rc=0; "$ci" --prev models/v1.gguf --max-patch 0.001 --artifacts art models/v2.gguf >"$T/log" || rc=$?
[ "$rc" = 1 ] && grep -q "^FAIL patch" "$T/log" || fail "budget not enforced (exit $rc): $(cat "$T/log")"
# A damaged model (truncated) fails the round trip gate.
head -c 100000 models/v2.gguf > models/bad.gguf
rc=0; "$ci" --artifacts art models/bad.gguf >"$T/log" || rc=$?
[ "$rc" = 1 ] && grep -q "^FAIL stream round trip" "$T/log" || fail "damaged model passed (exit $rc): $(cat "$T/log")"
echo ok
