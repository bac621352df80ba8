#!/usr/bin/env bash
# safetensors: detected by content, byte-identical through the stream from a file and a
# pipe, metadata shown by mln-inspect; a sharded index is checked against its shards.
source "$(dirname "$0")/../lib.sh"
/usr/bin/python3 - "$T" <<'PY'
import json, struct, sys
d = sys.argv[1]
def write(path, tensors, meta=None, gap=0, tail=b""):
    hdr, data = ({"__metadata__": meta} if meta else {}), b""
    for name, dtype, shape, blob in tensors:
        data += b"\x5a" * gap
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = json.dumps(hdr).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + data + tail)
write(f"{d}/m.bin", [("b.weight", "F16", [64, 1000], bytes(range(256)) * 500),
                     ("a.bias", "BF16", [3], b"abcdef"), ("s", "I64", [], b"12345678")],
      {"format": "pt", "author": "mln test"}, gap=8, tail=b"TAIL")
write(f"{d}/shard-1.safetensors", [("a", "U8", [2], b"ab")])
write(f"{d}/shard-2.safetensors", [("b", "U8", [2], b"cd"), ("c", "U8", [1], b"e")])
json.dump({"metadata": {"total_size": 5}, "weight_map": {"a": "shard-1.safetensors",
          "b": "shard-2.safetensors", "c": "shard-2.safetensors"}}, open(f"{d}/index.json", "w"))
json.dump({"weight_map": {"a": "shard-1.safetensors", "z": "shard-2.safetensors"}},
          open(f"{d}/bad-index.json", "w"))
PY
f="$T/m.bin"  # no telling file name: detection is by content
mln-parse "$f" | mln-emit > "$T/a"
cmp "$f" "$T/a" || fail "file round trip differs"
cat "$f" | mln-parse --chunk-size 4K | mln-emit -o "$T/b"
cmp "$f" "$T/b" || fail "pipe round trip differs"
mln-inspect "$f" > "$T/table"
grep -q "safetensors.metadata.author mln test" "$T/table" || fail "metadata not shown: $(cat "$T/table")"
grep -Eq "b\.weight +f16 +\[64, 1000\] +128000" "$T/table" || fail "tensor row missing: $(cat "$T/table")"
mln-inspect --json "$f" | grep -c '"safetensors.metadata.format": "pt"' >/dev/null || fail "metadata not in --json"

# Sharded models: the index round-trips as a file of its own and is checked against shards.
mln-parse "$T/index.json" | mln-emit | cmp - "$T/index.json" || fail "index round trip differs"
mln-inspect "$T/index.json" > "$T/idx"
grep -q "safetensors.index.checked yes" "$T/idx" || fail "index not checked: $(cat "$T/idx")"
grep -q "safetensors.index.shard.shard-2.safetensors 2 tensors mapped, 2 in the file" "$T/idx" ||
  fail "shard line missing: $(cat "$T/idx")"
expect_exit 65 mln-inspect "$T/bad-index.json"
expect_err "does not hold tensor 'z'"
rm "$T/shard-1.safetensors"
expect_exit 65 mln-parse "$T/index.json" -o "$T/x"
expect_err "'shard-1.safetensors' is missing"
[ ! -e "$T/x" ] || fail "partial output left behind"
