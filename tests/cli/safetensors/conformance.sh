#!/usr/bin/env bash
# Conformance: every tensor mln-parse carries equals what an independent reader sees.
# Python writes safetensors files with numpy (every dtype, metadata, 0-d and empty tensors,
# padding, header order unlike data order), reads them back with the json module and
# np.frombuffer, and reads mln's stream with python3-flatbuffers per mln-stream(5); no mln
# code is involved on the Python side. Name, shape, dtype id and SHA-256 of the bytes must
# agree, and no tensor may be missing or extra. Extra arguments: files to check instead.
source "$(dirname "$0")/../lib.sh"
cat > "$T/check.py" <<'PY'
import hashlib, json, struct, subprocess, sys
import flatbuffers
import numpy as np
from flatbuffers import number_types as N
from flatbuffers.table import Table

# safetensors dtype -> (numpy dtype, mln-stream(5) element type id)
DT = {"F64": ("<f8", 28), "F32": ("<f4", 0), "F16": ("<f2", 1), "BF16": ("<u2", 30),
      "I64": ("<i8", 27), "I32": ("<i4", 26), "I16": ("<i2", 25), "I8": ("i1", 24),
      "U8": ("u1", 100), "U16": ("<u2", 102), "U32": ("<u4", 103), "U64": ("<u8", 104),
      "BOOL": ("?", 101), "F8_E4M3": ("u1", 105), "F8_E5M2": ("u1", 106)}

def write(path, tensors, metadata, gaps):
    hdr, data = {}, b""
    if metadata:
        hdr["__metadata__"] = metadata
    for i, (name, st, arr) in enumerate(tensors):
        data += b"\0" * gaps.get(name, 0)
        b = arr.tobytes()
        hdr[name] = {"dtype": st, "shape": list(arr.shape), "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    hdr = dict(sorted(hdr.items(), key=lambda kv: kv[0], reverse=True))  # header order != data order
    text = json.dumps(hdr, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + data)

def numpy_view(path):
    raw = open(path, "rb").read()
    n = struct.unpack_from("<Q", raw)[0]
    hdr = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, t in hdr.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        a = np.frombuffer(raw[base + b:base + e], dtype=DT[t["dtype"]][0]).reshape(t["shape"])
        out[name] = (list(a.shape), DT[t["dtype"]][1], hashlib.sha256(a.tobytes()).hexdigest())
    return out, hdr.get("__metadata__", {})

def fb_header(buf):
    buf = bytearray(buf)
    tab = Table(buf, flatbuffers.encode.Get(N.UOffsetTFlags.packer_type, buf, 0))
    def field(fid, flags, default=0):
        o = tab.Offset(4 + 2 * fid)
        return tab.Get(flags, o + tab.Pos) if o else default
    def string(t, fid):
        o = t.Offset(4 + 2 * fid)
        return t.String(o + t.Pos).decode() if o else ""
    h = {"kind": field(0, N.Uint16Flags), "name": string(tab, 1), "dtype": field(2, N.Uint32Flags),
         "chunk_index": field(7, N.Uint32Flags), "shape": [], "attrs": {}}
    o = tab.Offset(4 + 2 * 3)
    if o:
        v = tab.Vector(o)
        h["shape"] = [tab.Get(N.Int64Flags, v + 8 * i) for i in range(tab.VectorLen(o))]
    o = tab.Offset(4 + 2 * 12)
    if o:
        v = tab.Vector(o)
        for i in range(tab.VectorLen(o)):
            sub = Table(buf, tab.Indirect(v + 4 * i))
            h["attrs"][string(sub, 0)] = string(sub, 1)
    return h

def mln_view(stream):
    assert stream[:8] == b"\x89MLN\r\n\x1a\n", "not an mln stream"
    pos, runs, source = 16, [], None
    while True:
        magic, hlen, plen = struct.unpack_from("<IIQ", stream, pos)
        assert magic == 0x464E4C4D, f"bad frame magic at {pos}"
        pos += 24
        h = fb_header(stream[pos:pos + hlen])
        pos += hlen
        if plen:
            pos += (64 - pos % 64) % 64
        payload = stream[pos:pos + plen]
        pos += plen
        if h["kind"] == 1:
            source = h
        if h["kind"] == 3:
            if h["chunk_index"] == 0:
                runs.append([h, hashlib.sha256()])
            runs[-1][1].update(payload)
        if h["kind"] == 15:
            break
    out = {}
    for h, sha in runs:
        assert h["name"] not in out, f"tensor {h['name']} appears twice"
        out[h["name"]] = (h["shape"], h["dtype"], sha.hexdigest())
    return out, source

def check(path, stream_path):
    want, meta = numpy_view(path)
    got, source = mln_view(open(stream_path, "rb").read())
    for name, v in want.items():
        if name not in got:
            sys.exit(f"{path}: tensor {name!r} missing from the stream")
        if got[name] != v:
            sys.exit(f"{path}: tensor {name!r}: numpy reads {v}, mln carries {got[name]}")
    extra = set(got) - set(want)
    if extra:
        sys.exit(f"{path}: stream has tensors numpy does not: {sorted(extra)[:3]}")
    for k, v in meta.items():
        if source["attrs"].get("safetensors.metadata." + k) != v:
            sys.exit(f"{path}: metadata {k!r} not carried")
    print(f"{path}: {len(want)} tensors agree")

if sys.argv[1] == "make":
    rng = np.random.default_rng(7)
    ts = []
    for st, (npdt, _) in DT.items():
        a = (rng.integers(0, 255, size=(3, 4, 5)) % (2 if st == "BOOL" else 255)).astype(npdt)
        ts.append((f"layer.{st.lower()}.weight", st, a))
    ts.append(("scalar", "F32", np.array(3.5, dtype="<f4")))
    ts.append(("empty", "F16", np.zeros((0, 7), dtype="<f2")))
    ts.append(("big", "F32", rng.standard_normal((300, 257)).astype("<f4")))
    write(sys.argv[2], ts, {"format": "pt", "note": "written by numpy"}, {"big": 24, "scalar": 3})
    ts[0] = (ts[0][0], ts[0][1], ts[0][2].copy())
    ts[0][2].view(np.uint8).flat[0] ^= 1  # the same file with one tensor byte changed
    write(sys.argv[3], ts, {"format": "pt", "note": "written by numpy"}, {"big": 24, "scalar": 3})
else:
    check(sys.argv[2], sys.argv[3])
PY
if [ $# -gt 0 ]; then files=("$@"); else
  /usr/bin/python3 "$T/check.py" make "$T/a.safetensors" "$T/changed.safetensors"
  files=("$T/a.safetensors")
fi
for f in "${files[@]}"; do
  mln-parse --chunk-size 4K "$f" -o "$T/s"
  /usr/bin/python3 "$T/check.py" check "$f" "$T/s"
done
[ $# -gt 0 ] && exit 0
# The check must be able to fail: the stream of one file against a file one byte apart.
mln-parse "$T/a.safetensors" -o "$T/s"
if /usr/bin/python3 "$T/check.py" check "$T/changed.safetensors" "$T/s" 2>"$T/err"; then
  fail "the conformance check accepted a stream whose tensor differs from numpy's"
fi
grep -q "numpy reads" "$T/err" || fail "unexpected checker output: $(cat "$T/err")"
