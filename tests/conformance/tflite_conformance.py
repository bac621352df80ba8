#!/usr/bin/env python3
"""Independent check of mln's TFLite reading.

    tflite_conformance.py MODEL.tflite STREAM.mlns INSPECT.json

Walks MODEL with the `flatbuffers` package's low-level Table API (Debian
python3-flatbuffers) using the TFLite schema field ids (tensorflow/lite/schema/schema.fbs),
and reads STREAM (mln-parse's output) with the same API using the mln-stream(5) field ids,
so no code is shared with libstream. Then checks, for every non-empty buffer, that mln
carried exactly its bytes (SHA-256 of the stream payloads against the bytes the schema
walk finds), under the documented name, dtype and shape, and that mln-inspect --json
reports the same tensors at the same offsets. Exits 1 with one line per mismatch.
"""
import hashlib
import json
import struct
import sys

from flatbuffers import encode, number_types as N
from flatbuffers.table import Table

# TFLite schema field ids.
MODEL_SUBGRAPHS, MODEL_BUFFERS, MODEL_METADATA = 2, 4, 6
SUBGRAPH_TENSORS = 0
TENSOR_SHAPE, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_SPARSITY = 0, 1, 2, 3, 6
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 0, 1, 2
METADATA_NAME, METADATA_BUFFER = 0, 1
# TensorType -> (mln dtype name, item bytes); None: carried as u8.
TYPES = {0: ("f32", 4), 1: ("f16", 2), 2: ("i32", 4), 3: ("u8", 1), 4: ("i64", 8),
         6: ("bool", 1), 7: ("i16", 2), 9: ("i8", 1), 10: ("f64", 8), 12: ("u64", 8),
         15: ("u32", 4), 16: ("u16", 2)}


def slot(tab, field_id):
    return tab.Offset(4 + 2 * field_id)


def scalar(tab, field_id, flags, default=0):
    o = slot(tab, field_id)
    return tab.Get(flags, tab.Pos + o) if o else default


def string(tab, field_id):
    o = slot(tab, field_id)
    return tab.String(tab.Pos + o).decode("utf-8", "replace") if o else None


def tables(tab, field_id):
    o = slot(tab, field_id)
    if not o:
        return []
    start, n = tab.Vector(o), tab.VectorLen(o)
    return [Table(tab.Bytes, tab.Indirect(start + 4 * i)) for i in range(n)]


def scalars(tab, field_id, flags):
    o = slot(tab, field_id)
    if not o:
        return None
    start, n = tab.Vector(o), tab.VectorLen(o)
    return [encode.Get(flags.packer_type, tab.Bytes, start + i * flags.bytewidth)
            for i in range(n)]


def vector_range(tab, field_id):
    o = slot(tab, field_id)
    if not o:
        return None
    return tab.Vector(o), tab.VectorLen(o)


def expected_from_model(buf):
    """Per non-empty buffer: what mln must carry, following mln-stream(5)'s TFLite mapping."""
    model = Table(buf, encode.Get(N.UOffsetTFlags.packer_type, buf, 0))
    buffers = tables(model, MODEL_BUFFERS)
    uses = {}
    for s, sg in enumerate(tables(model, MODEL_SUBGRAPHS)):
        for i, t in enumerate(tables(sg, SUBGRAPH_TENSORS)):
            uses.setdefault(scalar(t, TENSOR_BUFFER, N.Uint32Flags), []).append((s, i, t))
    meta = {}
    for i, m in enumerate(tables(model, MODEL_METADATA)):
        if string(m, METADATA_NAME):
            meta.setdefault(scalar(m, METADATA_BUFFER, N.Uint32Flags), string(m, METADATA_NAME))
    pieces = []
    for b, bt in enumerate(buffers):
        r = vector_range(bt, BUFFER_DATA)
        if r and r[1]:
            pieces.append((r[0], r[1], b))
        off, size = scalar(bt, BUFFER_OFFSET, N.Uint64Flags), scalar(bt, BUFFER_SIZE, N.Uint64Flags)
        if off > 1 and size:
            pieces.append((off, size, b))
    # Names are given in buffer order (mln-stream(5)); the output is in file order.
    pieces.sort(key=lambda p: p[2])
    taken, out = set(), []
    for off, size, b in pieces:
        entry = {"buffer": b, "offset": off, "bytes": size,
                 "sha256": hashlib.sha256(buf[off:off + size]).hexdigest()}
        if b in uses:
            s, i, t = uses[b][0]
            name = string(t, TENSOR_NAME) or "subgraph%d.tensor%d" % (s, i)
            shape = scalars(t, TENSOR_SHAPE, N.Int32Flags) or []
            ttype = scalar(t, TENSOR_TYPE, N.Int8Flags)
            dtype = "u8"
            if ttype in TYPES and not slot(t, TENSOR_SPARSITY):
                elems = 1
                for d in shape:
                    elems *= d
                if min(shape, default=0) >= 0 and elems * TYPES[ttype][1] == size:
                    dtype = TYPES[ttype][0]
            entry.update(kind="tensor", shape=shape, dtype=dtype)
        else:
            name = "tflite.metadata." + meta[b] if b in meta else "tflite.buffer.%d" % b
            entry.update(kind="bytes")
        if name in taken:
            base, k = "%s#%d" % (name, b), 2
            name = base
            while name in taken:
                name, k = "%s.%d" % (base, k), k + 1
        taken.add(name)
        entry["name"] = name
        out.append(entry)
    out.sort(key=lambda e: e["offset"])
    return out


# mln-stream(5) frame header field ids.
FH_KIND, FH_NAME, FH_DTYPE, FH_SHAPE, FH_CODEC, FH_ATTRS = 0, 1, 2, 3, 9, 12
KIND_BYTES, KIND_TENSOR, KIND_TRAILER = 2, 3, 15


def runs_from_stream(data):
    """Concatenated payload per run of bytes/tensor frames, with name, dtype, shape, attrs."""
    assert data[:8] == b"\x89MLN\r\n\x1a\n", "not an mln stream"
    pos, runs = 16, []
    while True:
        magic, hlen, plen, _ = struct.unpack_from("<IIQQ", data, pos)
        assert magic == 0x464E4C4D, "bad frame magic at %d" % pos
        hdr = bytes(data[pos + 24:pos + 24 + hlen])
        pos += 24 + hlen
        if plen:
            pos += (64 - pos % 64) % 64
        payload = data[pos:pos + plen]
        pos += plen
        h = Table(hdr, encode.Get(N.UOffsetTFlags.packer_type, hdr, 0))
        kind = scalar(h, FH_KIND, N.Uint16Flags)
        if kind == KIND_TRAILER:
            return runs
        if kind not in (KIND_BYTES, KIND_TENSOR):
            continue
        assert scalar(h, FH_CODEC, N.Uint8Flags) == 0, "parse output must be raw"
        attrs = {string(a, 0): string(a, 1) for a in tables(h, FH_ATTRS)}
        chunk = scalar(h, 7, N.Uint32Flags)
        if chunk == 0:
            runs.append({"kind": "tensor" if kind == KIND_TENSOR else "bytes",
                         "name": string(h, FH_NAME),
                         "dtype": scalar(h, FH_DTYPE, N.Uint32Flags, 0xFFFFFFFF),
                         "shape": scalars(h, FH_SHAPE, N.Int64Flags) or [],
                         "attrs": attrs, "sha": hashlib.sha256()})
        runs[-1]["sha"].update(payload)


def main():
    model_path, stream_path, json_path = sys.argv[1:4]
    with open(model_path, "rb") as f:
        buf = bytearray(f.read())
    with open(stream_path, "rb") as f:
        stream = memoryview(f.read())
    with open(json_path) as f:
        report = json.load(f)
    errors = []
    want = expected_from_model(buf)
    got = {}
    for r in runs_from_stream(stream):
        if "tflite.buffer" in r["attrs"]:
            got[int(r["attrs"]["tflite.buffer"])] = r
    inspected = {int(t["attrs"]["tflite.buffer"]): t for t in report["tensors"]}
    dtype_ids = {"f32": 0, "f16": 1, "i8": 24, "i16": 25, "i32": 26, "i64": 27, "f64": 28,
                 "u8": 100, "bool": 101, "u16": 102, "u32": 103, "u64": 104}
    for w in want:
        b, where = w["buffer"], "%s: buffer %d '%s'" % (model_path, w["buffer"], w["name"])
        r = got.pop(b, None)
        if r is None:
            errors.append(where + ": not in the stream")
            continue
        if r["sha"].hexdigest() != w["sha256"]:
            errors.append(where + ": payload sha256 differs from the buffer's bytes")
        for key in ("kind", "name"):
            if r[key] != w[key]:
                errors.append("%s: %s %r, expected %r" % (where, key, r[key], w[key]))
        if w["kind"] == "tensor":
            if r["shape"] != w["shape"]:
                errors.append("%s: shape %r, expected %r" % (where, r["shape"], w["shape"]))
            if r["dtype"] != dtype_ids[w["dtype"]]:
                errors.append("%s: dtype %d, expected %s" % (where, r["dtype"], w["dtype"]))
            t = inspected.pop(b, None)
            if t is None:
                errors.append(where + ": missing from mln-inspect --json")
            elif (t["name"], t["type"], t["shape"], t["bytes"], t["offset"]) != (
                    w["name"], w["dtype"], w["shape"], w["bytes"], w["offset"]):
                errors.append("%s: mln-inspect reports %r" % (where, t))
    for b in got:
        errors.append("%s: stream has buffer %d, which holds no data" % (model_path, b))
    for b in inspected:
        errors.append("%s: mln-inspect has buffer %d, not a tensor buffer" % (model_path, b))
    if not any(w["kind"] == "tensor" for w in want):
        errors.append(model_path + ": no tensor data found; the check would prove nothing")
    for e in errors:
        print(e, file=sys.stderr)
    n = sum(w["kind"] == "tensor" for w in want)
    print("%s: %d tensor buffers, %d other buffers checked, %d mismatches"
          % (model_path, n, len(want) - n, len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
