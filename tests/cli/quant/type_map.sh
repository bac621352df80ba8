#!/usr/bin/env bash
# mln-quant --type-map: a mixed recipe gives each tensor the type of its first matching rule,
# with the very bytes the single-type run (-t TYPE) gives it; f32 rules widen f16 matrices
# exactly; 1-D tensors stay; a rule whose block does not fit a tensor's rows, or an unknown
# type, is a one-line usage error (64) naming the map file, the line and the tensor.
source "$(dirname "$0")/../lib.sh"
f=$(gguf_fixtures | grep real_f16)
# real_f16 (ggml-written, real weights) has matrices with rows of 32 and 1-D tensors.
cat > "$T/recipe" <<'MAP'
# a mixed recipe
w.41      q8_0     # the largest matrix
w.2?      q4_0
w.1?      f32      # f16 -> f32, matrices only
w.3[0-4]  keep
MAP
mln-parse "$f" | mln-quant -t q4_0 --include '*' --type-map "$T/recipe" | mln-emit > "$T/mixed.gguf" ||
  fail "mixed recipe pipeline"
# The single-type runs the mixed one must agree with, tensor by tensor.
mln-quant -t q8_0 --include '*' "$f" | mln-emit > "$T/q8_0.gguf"
mln-quant -t q4_0 --include '*' "$f" | mln-emit > "$T/q4_0.gguf"
for g in mixed q8_0 q4_0; do mln-inspect --json "$T/$g.gguf" > "$T/$g.json"; done
mln-inspect --json "$f" > "$T/in.json"
python3 - "$T" "$f" <<'PY' || fail "mixed recipe: wrong type or bytes"
import fnmatch, json, struct, sys
t, src = sys.argv[1], sys.argv[2]
def load(name):
    return {x["name"]: x for x in json.load(open(f"{t}/{name}.json"))["tensors"]}
def raw(path, x):
    with open(path, "rb") as fh:
        fh.seek(x["offset"]); return fh.read(x["bytes"])
rules = [("w.41", "q8_0"), ("w.2?", "q4_0"), ("w.1?", "f32"), ("w.3[0-4]", "keep")]
mixed, single, orig = load("mixed"), {"q8_0": load("q8_0"), "q4_0": load("q4_0")}, load("in")
seen = {}
for name, x in orig.items():
    matrix = len(x["shape"]) > 1 and any(d > 1 for d in x["shape"][:-1])
    want = next((ty for pat, ty in rules if fnmatch.fnmatchcase(name, pat)), "q4_0")
    if want == "keep" or not matrix:
        want = "f16"
    got = mixed[name]
    assert got["type"] == want, (name, got["type"], want)
    seen[want] = seen.get(want, 0) + 1
    if want in single:
        a = raw(f"{t}/mixed.gguf", got); b = raw(f"{t}/{want}.gguf", single[want][name])
        assert a == b, f"{name}: mixed {want} bytes differ from the -t {want} run"
    elif want == "f32" and matrix:
        h = raw(src, x); w = raw(f"{t}/mixed.gguf", got)
        n = len(h) // 2
        assert struct.unpack(f"<{n}f", w) == struct.unpack(f"<{n}e", h), name
    else:
        assert raw(f"{t}/mixed.gguf", got) == raw(src, x), f"{name} changed"
# Every kind of rule was exercised.
assert seen.get("q8_0") == 1 and seen.get("q4_0", 0) > 5 and seen.get("f32", 0) > 1, seen
kv = {m["key"]: m["value"] for m in json.load(open(f"{t}/mixed.json"))["gguf"]["metadata"]}
assert kv["general.file_type"] == 2, kv.get("general.file_type")  # MOSTLY_Q4_0: most weights
PY
# -T 1 and -T 2 agree, and the map works without -t (unmatched tensors stay).
mln-quant -T 1 -t q4_0 --include '*' --type-map "$T/recipe" "$f" | mln-emit | cmp - "$T/mixed.gguf" ||
  fail "-T 1 differs"
mln-quant --type-map "$T/recipe" "$f" | mln-inspect --json - > "$T/only.json"
python3 - "$T/only.json" <<'PY' || fail "map without -t"
import json, sys
ty = {x["name"]: x["type"] for x in json.load(open(sys.argv[1]))["tensors"]}
assert ty["w.41"] == "q8_0" and ty["w.20"] == "q4_0" and ty["w.14"] == "f32", ty
assert ty["w.39"] == "f16" and ty["w.31"] == "f16", ty
PY
# A rule whose block (256) does not divide rows of 32: an error naming file, line, tensor.
printf '# rows of 32\nw.41 q8_0\nw.2? q4_k\n' > "$T/bad"
expect_exit 64 mln-quant -t q8_0 --type-map "$T/bad" "$f" -o "$T/x"
expect_err "^mln-quant: $T/bad: 'w\.2[0-9]': type map line 3 \('w\.2\? q4_K'\): row length 32 is not a multiple of q4_K's block of 256$"
[ ! -e "$T/x" ] || fail "failed run left output behind"
printf 'w.41 q8_0\nw.2? q5_k\n' > "$T/bad2"
expect_exit 64 mln-quant --type-map "$T/bad2" "$f" -o "$T/x"
expect_err "^mln-quant: $T/bad2: type map line 2: unknown type 'q5_k'"
echo ok
