#!/usr/bin/env bash
# mln-inspect: table and JSON for models and streams; carries on after a bad input.
source "$(dirname "$0")/../lib.sh"
f=$(gguf_fixtures | grep all_types)
expect_exit 0 mln-inspect "$f"
grep -q "gguf          version 3" "$T/out" || fail "table lacks the GGUF header line"
grep -Eq "t\.q4_K +q4_K" "$T/out" || fail "table lacks tensor t.q4_K"
grep -q "general.architecture" "$T/out" || fail "table lacks metadata"
expect_exit 0 mln-inspect --json "$f"; cp "$T/out" "$T/model.json"
mln-parse "$f" | mln-inspect --json > "$T/stream.json"
if command -v python3 >/dev/null; then
  python3 - "$T/model.json" "$T/stream.json" <<'PY' || fail "JSON check failed"
import json, sys
m, s = (json.load(open(p)) for p in sys.argv[1:])
assert m["kind"] == "model" and s["kind"] == "stream", (m["kind"], s["kind"])
assert len(s["stream_sha256"]) == 64
assert m["tensors"] == s["tensors"], "model and stream disagree on tensors"
assert m["gguf"] == s["gguf"]
t = {x["name"]: x for x in m["tensors"]}
assert t["t.q8_0"]["type"] == "q8_0" and t["t.q8_0"]["bytes"] == 34 * 512 * 4 // 32
assert all(len(x["xxh3"]) == 16 for x in m["tensors"])
PY
fi
: > "$T/empty"
expect_exit 65 mln-inspect "$T/empty" "$f"
grep -q "t.q4_K" "$T/out" || fail "inspect stopped at the first bad input"
echo ok
