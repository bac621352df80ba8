#!/usr/bin/env bash
# make_seeds.sh MLN_BIN [OUT]: regenerates the checked-in seed corpora (default
# tests/fuzz/corpus/<target>/) from small generated models and from real files cut down to a
# few KB: ggml-written GGUF headers and ONNX models written by python3-onnx. Needs the built
# filters in MLN_BIN, flatc, zstd, tar, zip, gzip, xz and /usr/bin/python3 with onnx.
# Every seed is kept under 8 KB, so ctest replays the lot in seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$(cd "${1:?usage: make_seeds.sh MLN_BIN [OUT]}" && pwd)
out=${2:-$here/corpus}
PATH="$bin:$PATH"
T=$(mktemp -d "${TMPDIR:-/tmp}/mln-seeds.XXXXXX")
trap 'rm -rf "$T"' EXIT
for t in stream_reader verify_stream gguf_parse tflite_parse onnx_parse safetensors_parse \
         container zstd_decode byteplane_decode manifest patch_apply; do
  mkdir -p "$out/$t"
done

# --- GGUF: every KV type, arrays, three alignments of tensor data, several dtypes.
/usr/bin/python3 - "$T" <<'PY'
import hashlib, struct, sys
d = sys.argv[1]
def s(x): b = x.encode(); return struct.pack("<Q", len(b)) + b
def kv(key, t, payload): return s(key) + struct.pack("<I", t) + payload
def gguf(path, kvs, tensors, align=32, version=3):
    h = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs)
    data, infos = b"", b""
    for name, ne, typ, blob in tensors:
        data += b"\0" * (-len(data) % align)
        infos += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        infos += struct.pack("<IQ", typ, len(data))
        data += blob
    h += infos
    h += b"\0" * (-len(h) % align)
    open(path, "wb").write(h + data)
kvs = [kv("general.architecture", 8, s("llama")), kv("u8", 0, b"\x07"), kv("i8", 1, b"\xf9"),
       kv("u16", 2, struct.pack("<H", 500)), kv("i16", 3, struct.pack("<h", -500)),
       kv("u32", 4, struct.pack("<I", 70000)), kv("i32", 5, struct.pack("<i", -70000)),
       kv("f32", 6, struct.pack("<f", 1.5)), kv("bool", 7, b"\x01"),
       kv("u64", 10, struct.pack("<Q", 1 << 40)), kv("i64", 11, struct.pack("<q", -(1 << 40))),
       kv("f64", 12, struct.pack("<d", 2.25)),
       kv("arr.i32", 9, struct.pack("<IQ", 5, 3) + struct.pack("<3i", 1, -2, 3)),
       kv("arr.str", 9, struct.pack("<IQ", 8, 2) + s("a") + s("bc"))]
f32 = struct.pack("<8f", *[i * 0.25 for i in range(8)])
f16 = struct.pack("<8e", *[i * 0.5 for i in range(8)])
q8 = struct.pack("<e", 0.1) + bytes(range(32))
tensors = [("tok_embd.weight", [4, 2], 0, f32), ("norm", [8], 1, f16), ("q", [32], 8, q8),
           ("i8", [5], 24, b"\1\2\3\4\5")]
gguf(f"{d}/kv_types.gguf", kvs, tensors)
gguf(f"{d}/align64_v2.gguf", kvs[:1] + [kv("general.alignment", 4, struct.pack("<I", 64))],
     tensors[:2], align=64, version=2)
gguf(f"{d}/no_tensors.gguf", kvs[:3], [])
# A bigger tensor so --chunk-size splits it into several chunk frames.
gguf(f"{d}/chunked.gguf", kvs[:1], [("big", [1024], 0, struct.pack("<1024f", *range(1024)))])
# 24 copies of one block of 2900 bytes no codec shrinks, and a ramp: mln-compress bundles them
# in a body over 64 KiB, which takes codec 5 (bundle) rather than one zstd frame, and the
# copies cost little stored, so the seed stays small.
block = b"".join(hashlib.sha256(struct.pack("<I", i)).digest() for i in range(91))[:2900]
gguf(f"{d}/bundle5.gguf", kvs[:1], [(f"t{i}", [2900], 24, block) for i in range(24)] +
     [("ramp", [2048], 0, struct.pack("<2048f", *[(k % 97) * 0.5 for k in range(2048)]))])
PY
cp "$T"/kv_types.gguf "$T"/align64_v2.gguf "$T"/no_tensors.gguf "$out/gguf_parse/"
# Real ggml-written GGUF (tests/conformance fixtures, when built): the header and first KB of data.
for g in ${MLN_GGUF_FIXTURES:-/nonexistent}/*.gguf; do
  [ -f "$g" ] && head -c 6144 "$g" >"$out/gguf_parse/real_$(basename "$g" .gguf)_head"
done

# --- safetensors: metadata, gaps, several dtypes; a sharded index.
/usr/bin/python3 - "$T" "$out/safetensors_parse" <<'PY'
import json, struct, sys
d, o = sys.argv[1], sys.argv[2]
def write(path, tensors, meta=None, gap=0, tail=b""):
    hdr, data = ({"__metadata__": meta} if meta else {}), b""
    for name, dtype, shape, blob in tensors:
        data += b"\x5a" * gap
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = json.dumps(hdr).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + data + tail)
write(f"{o}/meta_gap_tail.safetensors",
      [("w", "F16", [2, 4], bytes(range(16))), ("b", "BF16", [3], b"abcdef"),
       ("s", "I64", [], b"12345678"), ("e", "F32", [0], b""), ("x", "F8_E4M3", [2], b"\1\2")],
      {"format": "pt"}, gap=8, tail=b"TAIL")
write(f"{o}/plain.safetensors", [("a", "U8", [2], b"ab"), ("c", "BOOL", [1], b"\1")])
write(f"{d}/model.safetensors", [("w", "F32", [16], struct.pack("<16f", *range(16)))])
idx = {"metadata": {"total_size": 10}, "weight_map": {"a": "s-1.safetensors", "b": "s-2.safetensors"}}
open(f"{o}/index.json", "w").write(json.dumps(idx))
PY

# --- ONNX: python3-onnx's models (tests/conformance/onnx_make_fixtures.py).
/usr/bin/python3 "$root/tests/conformance/onnx_make_fixtures.py" "$T/onnx"
for f in $(cd "$T/onnx" && find . -name '*.onnx' | sort); do
  n=${f#./}; cp "$T/onnx/$f" "$out/onnx_parse/${n//\//_}"
done

# --- TFLite: small models from JSON through flatc and the schema subset mln reads.
cat >"$T/m.json" <<'EOF'
{ "version": 3, "description": "fuzz seed",
  "subgraphs": [ { "name": "main", "inputs": [0], "outputs": [1],
    "tensors": [ { "name": "w", "shape": [2, 2], "type": 0, "buffer": 1,
                   "quantization": { "scale": [0.5], "zero_point": [1] } },
                 { "name": "out", "shape": [2], "type": 9, "buffer": 2 } ],
    "operators": [ {} ] } ],
  "buffers": [ {}, { "data": [0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64] },
               { "data": [1, 2] } ],
  "metadata": [ { "name": "min_runtime_version", "buffer": 2 } ] }
EOF
cat >"$T/n.json" <<'EOF'
{ "version": 3,
  "subgraphs": [ { "tensors": [ { "name": "sparse", "shape": [4], "type": 9, "buffer": 1,
                                  "sparsity": { "traversal_order": [0], "block_map": [] } } ] },
                 { "name": "second", "tensors": [ { "name": "v", "shape": [1], "type": 2,
                                                    "buffer": 2, "is_variable": true } ] } ],
  "buffers": [ {}, { "data": [9, 8, 7, 6] }, { "data": [1, 0, 0, 0] }, {} ],
  "metadata_buffer": [3] }
EOF
(cd "$T" && flatc -b "$root/libstream/schema/tflite.fbs" m.json n.json)
cp "$T/m.bin" "$out/tflite_parse/small.tflite"
cp "$T/n.bin" "$out/tflite_parse/sparse_two_subgraphs.tflite"

# --- Archives: one model in tar, tar.gz, tar.xz, tar.zst and zip; two members in a tar.
mkdir -p "$T/a" && cp "$out/gguf_parse/kv_types.gguf" "$T/a/model.gguf"
echo "readme" >"$T/a/README"
(cd "$T/a" && tar -b 1 --format=ustar -cf "$out/container/one.tar" model.gguf &&
  tar -b 1 --format=gnu -cf "$T/two.tar" README model.gguf &&
  gzip -9nc "$out/container/one.tar" >"$out/container/one.tar.gz" &&
  xz -c "$out/container/one.tar" >"$out/container/one.tar.xz" &&
  zstd -q -c "$out/container/one.tar" >"$out/container/one.tar.zst" &&
  zip -q -X "$out/container/one.zip" model.gguf README)
cp "$T/two.tar" "$out/container/two.tar"

key="$here/fuzz_key.pem"
# --- Codec payloads: u32 decoded size, u32 dtype, then the stored bytes (fuzz_entry.h).
/usr/bin/python3 - "$out" <<'PY'
import struct, subprocess, sys
o = sys.argv[1]
def zstd(b): return subprocess.run(["zstd", "-q", "-c", "-3"], input=b, capture_output=True, check=True).stdout
raw = struct.pack("<256f", *[i / 64 for i in range(256)])
def put(target, name, decoded, dtype, stored):
    open(f"{o}/{target}/{name}", "wb").write(struct.pack("<II", decoded, dtype) + stored)
put("zstd_decode", "floats", len(raw), 0, zstd(raw))
put("zstd_decode", "text", 40, 24, zstd(b"mln " * 10))
put("zstd_decode", "empty", 0, 0, zstd(b""))
def planes(data, width, rotate, methods, tail=b"", delta=False):
    n = len(data) // width
    ps = [bytes(data[i * width + b] for i in range(n)) for b in range(width)]
    if rotate:  # the codec stores rotated float bytes; the seed only needs the layout
        pass
    head = bytes([1, width, (1 if rotate else 0) | (2 if delta else 0), 0])
    table, body = b"", b""
    for p, m in zip(ps, methods):
        stored = zstd(p) if m == 1 else p
        table += bytes([m]) + struct.pack("<Q", len(stored))
        body += stored
    return head + table + body + tail
put("byteplane_decode", "f32_rot", len(raw), 0, planes(raw, 4, True, [1, 1, 0, 1]))
f16 = struct.pack("<128e", *[i / 8 for i in range(128)])
put("byteplane_decode", "f16", len(f16) + 1, 1, planes(f16, 2, False, [0, 1], tail=b"\x7f"))
put("byteplane_decode", "u8", 64, 100, planes(bytes(range(64)), 1, False, [1]))
# Sorted u16 indices stored as element differences (the delta flag).
idx = sorted({(i * 37) % 500 for i in range(200)})
diffs = struct.pack(f"<{len(idx)}H", *[(b - a) % 65536 for a, b in zip([0] + idx[:-1], idx)])
put("byteplane_decode", "u16_delta", len(diffs), 102, planes(diffs, 2, False, [1, 1], delta=True))
def fields(data, lengths, methods, tail=b""):  # codec 3: blocks regrouped by field
    block = sum(lengths)
    n = len(data) // block
    head = bytes([1, len(lengths)]) + struct.pack("<H", block)
    table, body, off = b"", b"", 0
    for length, m in zip(lengths, methods):
        group = b"".join(data[i * block + off:i * block + off + length] for i in range(n))
        off += length
        stored = zstd(group) if m == 1 else group
        table += struct.pack("<HB", length, m) + struct.pack("<Q", len(stored))
        body += stored
    return head + table + body + tail
q8 = b"".join(struct.pack("<e", 0.01 * (i % 7 + 1)) + bytes((i * 5 + k) % 256 for k in range(32)) for i in range(40))
put("byteplane_decode", "fields_q8_0", len(q8) + 1, 8, fields(q8, [1, 1, 32], [1, 0, 1], tail=b"\x11"))
def palette(values, indices, bits, method, tail=b""):  # codec 4: value table, packed indices
    packed = bytearray((len(indices) * bits + 7) // 8)
    for i, x in enumerate(indices):
        packed[i * bits // 8] |= x << (i * bits % 8)
    stored = zstd(bytes(packed)) if method == 1 else bytes(packed)
    head = bytes([1, 2, bits, 0]) + struct.pack("<HH", len(values), 0)
    return head + struct.pack(f"<{len(values)}H", *values) + bytes([method]) + struct.pack("<Q", len(stored)) + stored + tail
ternary = [(i * 7 + i // 3) % 3 for i in range(301)]
put("byteplane_decode", "palette_ternary", 2 * 301 + 1, 1, palette([0x0000, 0x2C00, 0xAC00], ternary, 2, 1, tail=b"\x01"))
put("byteplane_decode", "palette_raw", 2 * 10, 1, palette([0x3C00], [0] * 10, 1, 0))
def bitmap(values, width, methods, tail=b""):  # codec 6: runs of rising integers as bitmaps
    runs = []
    for v in values:
        if runs and runs[-1][-1] < v <= runs[-1][-1] + 64:
            runs[-1].append(v)
        else:
            runs.append([v])
    fmt = {1: "B", 2: "H", 4: "I"}[width]
    table = struct.pack(f"<{len(runs)}{fmt}", *[r[0] for r in runs])
    table += struct.pack(f"<{len(runs)}{fmt}", *[r[-1] - r[0] for r in runs])
    bits = b""
    for r in runs:
        b = bytearray((r[-1] - r[0]) // 8 + 1)
        for v in r:
            b[(v - r[0]) // 8] |= 1 << ((v - r[0]) % 8)
        bits += bytes(b)
    head = bytes([1, width, 0, 0]) + struct.pack("<I", len(runs))
    groups = [zstd(g) if m == 1 else g for g, m in zip([table, bits], methods)]
    return head + b"".join(bytes([m]) + struct.pack("<Q", len(g)) for g, m in zip(groups, methods)) + b"".join(groups) + tail
rows = [c for r in range(12) for c in range(200) if (c * 7 + r * 3) % 10 < 7]
put("byteplane_decode", "bitmap_u8", len(rows), 100, bitmap(rows, 1, [0, 1]))
put("byteplane_decode", "bitmap_u16_tail", 2 * len(rows) + 1, 102, bitmap([c * 3 for c in rows], 2, [1, 0], tail=b"\x05"))
# Plane method 2, the context model, encoded here from its description in mln-stream.5: the
# seed also checks that description (tests/unit/codecs/context_model_test.cc decodes it).
def context(plane, stride):
    import math
    pts = [min(4095, max(1, round(4096 / (1 + math.exp(-(i - 16) / 2))))) for i in range(33)]
    def squash(d):
        d = max(-2047, min(2047, d))
        w, i = d & 127, (d >> 7) + 16
        return (pts[i] * (128 - w) + pts[i + 1] * w + 64) >> 7
    st, nxt = [0] * 4096, 0
    for d in range(-2047, 2048):
        while nxt <= squash(d):
            st[nxt] = d; nxt += 1
    for j in range(nxt, 4096): st[j] = 2047
    A = [[32768, 0] for _ in range(256)]
    B = [[[32768, 0] for _ in range(256)] for _ in range(256)]
    W = [[65536, 0] for _ in range(8)]
    low, rng, cache, pending, out = 0, 0xFFFFFFFF, 0, 1, bytearray()
    def shift_low():
        nonlocal low, cache, pending
        if low < 0xFF000000 or low >= 1 << 32:
            carry, byte = low >> 32, cache
            while pending:
                out.append((byte + carry) & 0xFF); byte = 0xFF; pending -= 1
            cache = (low >> 24) & 0xFF
        pending += 1
        low = (low & 0x00FFFFFF) << 8
    def learn(c, bit):
        c[0] += ((65535 if bit else 0) - c[0]) * (65536 // (2 * c[1] + 3)) >> 15
        c[1] = min(255, c[1] + 1)
    for i, byte in enumerate(plane):
        ctx, n = plane[i - stride] if i >= stride else 0, 1
        for depth in range(8):
            bit = byte >> (7 - depth) & 1
            a, b, w = A[n], B[ctx][n], W[depth]
            sa, sb = st[a[0] >> 4], st[b[0] >> 4]
            p = max(1, min(4095, squash(max(-2047, min(2047, (w[0] * sa + w[1] * sb) >> 16)))))
            bound = (rng >> 12) * (4096 - p)
            if bit: low, rng = low + bound, rng - bound
            else: rng = bound
            while rng < 1 << 24:
                rng <<= 8; shift_low()
            err = (bit << 12) - p
            w[0] += (sa * err) >> 10; w[1] += (sb * err) >> 10
            learn(a, bit); learn(b, bit)
            n = 2 * n + bit
    for _ in range(5): shift_low()
    return bytes([1]) + struct.pack("<I", stride) + bytes(out)
lo = bytes((i * 37 + 11) % 256 for i in range(600))
hi = bytes([0x20, 0x21, 0xA0, 0x1C, 0x9C, 0x22][i % 6] ^ (i // 150) for i in range(600))
cm = context(hi, 6)
body = b"".join(bytes([m]) + struct.pack("<Q", len(g)) for g, m in ((lo, 0), (cm, 2)))
put("byteplane_decode", "f16_context", 1200, 1, bytes([1, 2, 0, 0]) + body + lo + cm)
PY

# --- Manifests, keys, version state: first byte selects (fuzz_entry.h FuzzManifest).
printf '\0%s' '{"content_sha256":"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff","created":1700000000,"expires":1900000000,"name":"m","schema":1,"version":7}' >"$out/manifest/manifest"
printf '\0%s' '{"base_sha256":"ab","content_sha256":"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff","created":1,"name":"p","schema":1,"target_sha256":"cd","version":1}' >"$out/manifest/patch_manifest"
{ printf '\1'; openssl pkey -in "$key" -pubout; } >"$out/manifest/pubkey"
{ printf '\2'; cat "$key"; } >"$out/manifest/privkey"
printf '\3%s' '{"fuzz-model": 3, "other": 18446744073709551615}' >"$out/manifest/state"
# --- Streams: parsed models, chunked, compressed with each codec, signed.
mln-parse --chunk-size 1K "$T/chunked.gguf" >"$T/chunked.mlns"
mln-parse "$out/gguf_parse/kv_types.gguf" >"$T/kv.mlns"
mln-parse "$out/safetensors_parse/plain.safetensors" >"$T/st.mlns"
mln-compress --codec zstd <"$T/chunked.mlns" >"$T/zstd.mlns"
mln-compress --codec byteplane <"$T/chunked.mlns" >"$T/byteplane.mlns"
mln-compress <"$T/chunked.mlns" >"$T/bundled.mlns"  # auto: small chunks go into bundles
mln-compress -c "$T/bundle5.gguf" >"$T/bundle5.mlns"  # one bundle frame in codec 5
for s in chunked kv st zstd byteplane bundled bundle5; do cp "$T/$s.mlns" "$out/stream_reader/$s.mlns"; done
mln-verify --sign "$key" --name fuzz-model --version 5 <"$T/kv.mlns" >"$T/signed.mlns"
mln-verify --sign "$key" --name fuzz-model --version 5 <"$T/zstd.mlns" >"$T/signed_zstd.mlns"
cp "$T/signed.mlns" "$out/stream_reader/"
for s in kv st signed signed_zstd bundled bundle5; do cp "$T/$s.mlns" "$out/verify_stream/$s.mlns"; done

# --- Patches: mln-diff from the patch_apply base (fuzz_entry.cc PatchFuzzBase, the same
# bytes; checked by its SHA-256) to variants that between them use every op: keep (a run of
# several pieces), fdelta, xor, sub, sparse, q8delta, replace, insert, delete, zdelta
# (metadata).
/usr/bin/python3 - "$T" <<'PY'
import struct, sys
d = sys.argv[1]
def s(x): b = x.encode(); return struct.pack("<Q", len(b)) + b
def kv(key, value): return s(key) + struct.pack("<I", 8) + s(value)
def gguf(path, kvs, tensors):
    h = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    data = b""
    for name, typ, width, blob in tensors:
        data += b"\0" * (-len(data) % 32)
        elements = len(blob) // 34 * 32 if typ == Q8_0 else len(blob) // width
        h += s(name) + struct.pack("<IQIQ", 1, elements, typ, len(data))
        data += blob
    h += b"\0" * (-len(h) % 32)
    open(path, "wb").write(h + data)
F32, F16, Q8_0, I8, I32, F64 = 0, 1, 8, 24, 26, 28
def q8(blocks, d_step, q_shift):
    out = b""
    for blk in range(blocks):
        qs = bytes(((blk * 32 + i) * 37 % 255 + (q_shift if (blk * 32 + i) % 13 == 0 else 0)) & 0xff
                   for i in range(32))
        out += struct.pack("<H", 0x2000 + blk * 3 + (d_step if blk % 2 else 0)) + qs
    return out
def f32(vals): return struct.pack(f"<{len(vals)}f", *vals)
notes = " ".join(f"note {i}: patches carry tensor-aware ops for small models" for i in range(12))
keep = ("keep.weight", F32, 4, f32([(i % 17) * 0.25 - 2 for i in range(2560)]))
fdelta = f32([(i % 29) * 0.125 + 1 for i in range(128)])
xor = struct.pack("<64d", *[(i % 13) * 0.5 - 3 for i in range(64)])
sub = bytes((i * 7) & 0xff for i in range(256))
sparse = bytes((i * 13 + 5) & 0xff for i in range(512))
gguf(f"{d}/pbase.gguf", [kv("general.architecture", "fuzz"), kv("fuzz.notes", notes)],
     [keep, ("xor.weight", F64, 8, xor), ("fdelta.weight", F32, 4, fdelta),
      ("sub.weight", I8, 1, sub), ("replace.weight", F32, 4, f32([i * 0.5 for i in range(16)])),
      ("sparse.weight", I8, 1, sparse), ("q8delta.weight", Q8_0, 1, q8(256, 0, 0)),
      ("delete.weight", I32, 4, struct.pack("<8i", *range(8)))])
nudged = bytearray(fdelta)
for i in range(0, len(nudged), 4): nudged[i] ^= 1  # a few ulps
flipped = bytearray(xor)
for i in range(7, len(flipped), 8): flipped[i] ^= 0x80  # signs
few = bytearray(sparse); few[3] ^= 1; few[200] ^= 0x10; few[411] = 0
gguf(f"{d}/pnew.gguf", [kv("general.architecture", "fuzz"),
                        kv("fuzz.notes", notes.replace("note 7", "NOTE 7"))],
     [keep, ("xor.weight", F64, 8, bytes(flipped)), ("fdelta.weight", F32, 4, bytes(nudged)),
      ("sub.weight", I8, 1, bytes((b + 1) & 0xff for b in sub)),
      ("replace.weight", F16, 2, struct.pack("<16e", *[i * 0.5 for i in range(16)])),
      ("sparse.weight", I8, 1, bytes(few)), ("q8delta.weight", Q8_0, 1, q8(256, 1, 1)),
      ("insert.weight", F32, 4, f32([1.0] * 8))])
PY
want=$(sed -n 's/^ *"\([0-9a-f]\{64\}\)";$/\1/p' "$root/libstream/fuzz/fuzz_entry.cc")
[ "$(sha256sum <"$T/pbase.gguf" | cut -d' ' -f1)" = "$want" ] ||
  { echo "make_seeds.sh: the patch base differs from fuzz_entry.cc's PatchFuzzBase" >&2; exit 1; }
pa="$out/patch_apply"
mln-diff -c 4K "$T/pbase.gguf" "$T/pnew.gguf" >"$pa/all_ops.mlnp"
mln-diff -c 4K -l 3 "$T/pbase.gguf" "$T/pnew.gguf" >"$pa/all_ops_compressed.mlnp"
mln-diff -c 4K "$T/pbase.gguf" "$T/pbase.gguf" >"$pa/unchanged.mlnp"
mln-verify --sign "$key" --name fuzz-model --version 5 <"$pa/all_ops.mlnp" >"$pa/signed.mlnp"
for p in "$pa"/*.mlnp; do
  mln-apply --check "$T/pbase.gguf" "$p" || { echo "make_seeds.sh: $p does not apply" >&2; exit 1; }
done

echo "seeds written to $out" >&2
