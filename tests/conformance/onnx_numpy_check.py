#!/usr/bin/python3
"""Conformance of mln's ONNX reading against Debian's python3-onnx.

For each model, every TensorProto is found by walking the graph with onnx's own objects
(initializers, sparse initializers, tensor attributes such as Constant values, recursively
through If/Loop subgraphs, training graphs and functions) and converted with
onnx.numpy_helper.to_array. The mln side is read from the bytes of `mln-parse MODEL`,
decoded here from the stream layout in mln-stream(5) with python3-flatbuffers, not through
any mln code. Each tensor must appear once in the stream with the same name, shape,
data type and values (its payload decoded per its onnx.encoding attribute); string tensors
must not appear. External tensors are compared with what numpy_helper gives after
onnx.load loads the external data: their frames must carry those bytes, follow a source
frame for their data file (onnx.part "external-data") at their offset in it, and name the
same location/offset/length. The frames under each data file's source must rebuild that
file byte for byte, and the model's own frames the .onnx file.

Usage: onnx_numpy_check.py MLN_BIN_DIR MODEL.onnx...
Prints one line per model and exits 1 on the first model with a mismatch.
"""
import os
import struct
import subprocess
import sys

import flatbuffers
import numpy as np
import onnx
from flatbuffers import number_types as N
from flatbuffers.table import Table
from onnx import TensorProto, numpy_helper

T = TensorProto
NP = {T.FLOAT: "<f4", T.UINT8: "u1", T.INT8: "i1", T.UINT16: "<u2", T.INT16: "<i2", T.INT32: "<i4",
      T.INT64: "<i8", T.BOOL: "?", T.FLOAT16: "<f2", T.DOUBLE: "<f8", T.UINT32: "<u4", T.UINT64: "<u8",
      T.COMPLEX64: "<c8", T.COMPLEX128: "<c16"}
# mln-stream(5) element type ids for the ONNX types whose bytes are a plain array.
MLN_DTYPE = {T.FLOAT: 0, T.FLOAT16: 1, T.BFLOAT16: 30, T.DOUBLE: 28, T.INT8: 24, T.INT16: 25,
             T.INT32: 26, T.INT64: 27, T.UINT8: 100, T.BOOL: 101, T.UINT16: 102, T.UINT32: 103,
             T.UINT64: 104}
UNKNOWN = 0xFFFFFFFF


# ---- the stream, per mln-stream(5) ----------------------------------------------------
def header_fields(buf):
    buf = bytearray(buf)
    tab = Table(buf, flatbuffers.encode.Get(N.UOffsetTFlags.packer_type, buf, 0))

    def off(fid):
        return tab.Offset(4 + 2 * fid)

    def scalar(fid, flags, default=0):
        o = off(fid)
        return tab.Get(flags, o + tab.Pos) if o else default

    def string(fid, t=tab):
        o = t.Offset(4 + 2 * fid)
        return t.String(o + t.Pos).decode() if o else ""

    h = {"kind": scalar(0, N.Uint16Flags), "name": string(1), "dtype": scalar(2, N.Uint32Flags),
         "file_offset": scalar(4, N.Uint64Flags), "chunk_index": scalar(7, N.Uint32Flags),
         "codec": scalar(9, N.Uint8Flags), "shape": [], "attrs": {}, "format": string(15),
         "file_size": scalar(16, N.Uint64Flags)}
    o = off(3)
    if o:
        start = tab.Vector(o)
        h["shape"] = [tab.Get(N.Int64Flags, start + 8 * i) for i in range(tab.VectorLen(o))]
    o = off(12)
    if o:
        start = tab.Vector(o)
        for i in range(tab.VectorLen(o)):
            sub = Table(buf, tab.Indirect(start + 4 * i))
            h["attrs"][string(0, sub)] = string(1, sub)
    return h


def read_stream(data):
    if data[:8] != b"\x89MLN\r\n\x1a\n":
        raise ValueError("not an mln stream")
    pos, frames = 16, []
    while True:
        magic, hlen, plen = struct.unpack_from("<IIQ", data, pos)
        if magic != 0x464E4C4D:
            raise ValueError(f"bad frame magic at {pos}")
        pos += 24
        h = header_fields(data[pos:pos + hlen])
        pos += hlen
        if plen:
            pos += (64 - pos % 64) % 64
        if h["codec"] != 0:
            raise ValueError("this check reads raw payloads only")
        frames.append((h, data[pos:pos + plen]))
        pos += plen
        if h["kind"] == 15:
            return frames


def mln_tensors(frames):
    """Tensor runs, each with `part`: the source frame it follows (the model's or a data file's)."""
    runs, part = [], None
    for h, payload in frames:
        if h["kind"] == 1:
            part = h
        if h["kind"] != 3:
            continue
        if h["chunk_index"] == 0:
            runs.append(dict(h, payload=bytearray(), part=part))
        runs[-1]["payload"] += payload
    return runs


def mln_files(frames):
    """(source frame, bytes laid out by its bytes and tensor frames) for each file."""
    files = []
    for h, payload in frames:
        if h["kind"] == 1:
            files.append((h, bytearray()))
        elif h["kind"] in (2, 3):
            files[-1][1].extend(payload)
    return files


# ---- onnx's view ----------------------------------------------------------------------
def onnx_tensors(m):
    """(TensorProto, name mln is expected to use) for every tensor in the model."""
    out = []

    def graph(g):
        out.extend((t, t.name) for t in g.initializer)
        for sp in g.sparse_initializer:
            sparse(sp, sp.values.name)
        nodes(g.node)

    def sparse(sp, fallback):
        name = sp.values.name or fallback
        out.append((sp.values, name))
        if sp.HasField("indices"):
            out.append((sp.indices, sp.indices.name or name + ".indices"))

    def nodes(ns):
        for i, n in enumerate(ns):
            const = n.op_type == "Constant" and n.domain in ("", "ai.onnx")
            label = n.name or f"{n.op_type}#{i}"
            for a in n.attribute:
                if a.HasField("t"):
                    fb = n.output[0] if const and n.output else f"{label}.{a.name}"
                    out.append((a.t, a.t.name or fb))
                for k, t in enumerate(a.tensors):
                    out.append((t, t.name or f"{label}.{a.name}[{k}]"))
                if a.HasField("sparse_tensor"):
                    sparse(a.sparse_tensor, n.output[0] if const and n.output else f"{label}.{a.name}")
                for sp in a.sparse_tensors:
                    sparse(sp, f"{label}.{a.name}")
                if a.HasField("g"):
                    graph(a.g)
                for sg in a.graphs:
                    graph(sg)

    graph(m.graph)
    for ti in m.training_info:
        graph(ti.initialization)
        graph(ti.algorithm)
    for f in m.functions:
        nodes(f.node)
    return out


def varints(b):
    vals, v, shift = [], 0, 0
    for byte in b:
        v |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            vals.append(v)
            v, shift = 0, 0
    if shift:
        raise ValueError("payload ends inside a varint")
    return vals


def bf16_bits_to_f32(bits):
    return (np.asarray(bits, dtype=np.uint32) << 16).astype("<u4").view("<f4")


def decode(payload, enc, dt, dims):
    """The array mln's payload holds, decoded from its ONNX field encoding."""
    payload = bytes(payload)
    if enc in ("raw_data", "none"):
        a = bf16_bits_to_f32(np.frombuffer(payload, "<u2")) if dt == T.BFLOAT16 else np.frombuffer(payload, NP[dt])
    elif enc == "float_data":
        a = np.frombuffer(payload, "<f4")
        if dt == T.COMPLEX64:
            a = a.view("<c8")
    elif enc == "double_data":
        a = np.frombuffer(payload, "<f8")
        if dt == T.COMPLEX128:
            a = a.view("<c16")
    elif enc == "uint64_data":
        a = np.array(varints(payload), dtype=np.uint64).astype(NP[dt])
    elif enc in ("int32_data", "int64_data"):
        signed = np.array([v - (1 << 64) if v >= 1 << 63 else v for v in varints(payload)], dtype=np.int64)
        if dt == T.FLOAT16:
            a = signed.astype(np.uint16).view(np.float16)
        elif dt == T.BFLOAT16:
            a = bf16_bits_to_f32(signed.astype(np.uint16))
        else:
            a = signed.astype(NP[dt])
    else:
        raise ValueError(f"unknown onnx.encoding {enc!r}")
    return a.reshape(dims)


def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def check(mln_bin, path):
    stream = subprocess.run([os.path.join(mln_bin, "mln-parse"), path], check=True,
                            stdout=subprocess.PIPE).stdout
    frames = read_stream(stream)
    if frames[0][0]["format"] != "onnx":
        return [f"format {frames[0][0]['format']!r}, expected onnx"]
    runs = mln_tensors(frames)
    by_name = {}
    for r in runs:
        by_name.setdefault(r["name"], []).append(r)
    m = onnx.load(path, load_external_data=False)
    # The reference values: onnx.load as users call it, external data loaded.
    loaded = onnx_tensors(onnx.load(path))
    base = os.path.dirname(path)
    errors, matched, strings = [], 0, 0
    files = mln_files(frames)
    with open(path, "rb") as f:
        if files[0][1] != f.read() or files[0][0]["attrs"].get("onnx.part"):
            errors.append("the model's own frames do not rebuild the .onnx file")
    for h, data in files[1:]:
        loc = h["attrs"].get("onnx.external.location", "")
        if h["attrs"].get("onnx.part") != "external-data" or h["format"] != "onnx":
            errors.append(f"source frame {h['name']!r} after the model is not an external data file")
            continue
        with open(os.path.join(base, loc), "rb") as f:
            want = f.read()
        if data != want or h["file_size"] != len(want):
            errors.append(f"frames of data file {loc!r} do not rebuild it byte for byte")
    for (t, name), (full, _) in zip(onnx_tensors(m), loaded):
        cands = by_name.get(name, [])
        if t.data_type == T.STRING:
            strings += 1
            if cands:
                errors.append(f"{name}: string tensor carried as a tensor frame")
            continue
        external = t.data_location == T.EXTERNAL
        ext = {e.key: e.value for e in t.external_data}  # before to_array loads the data
        dims = list(t.dims)
        want = numpy_helper.to_array(full)
        if not cands:
            errors.append(f"{name}: missing from the stream")
            continue
        ok = None
        for r in cands:
            a = r["attrs"]
            if a.get("onnx.data_type") != T.DataType.Name(t.data_type) or r["shape"] != dims:
                continue
            if external:
                part = r["part"]["attrs"]
                if (a.get("onnx.encoding") != "external" or a.get("onnx.external.carried") != "true"
                        or a.get("onnx.external.location") != ext["location"]
                        or a.get("onnx.external.offset", "0") != ext.get("offset", "0")
                        or a.get("onnx.external.length") != ext.get("length")
                        or part.get("onnx.part") != "external-data"
                        or part.get("onnx.external.location") != ext["location"]
                        or r["file_offset"] != int(ext.get("offset", "0"))):
                    continue
                got = decode(r["payload"], "raw_data", t.data_type, list(t.dims))
                if same(got, want) and r["dtype"] == MLN_DTYPE.get(t.data_type, UNKNOWN):
                    ok = r
                    break
                continue
            if r["part"]["attrs"].get("onnx.part"):
                continue  # an inline tensor's frames belong to the model, not a data file
            enc = a.get("onnx.encoding")
            try:
                got = decode(r["payload"], enc, t.data_type, list(t.dims))
            except ValueError as e:
                errors.append(f"{name}: {e}")
                continue
            want_dtype = MLN_DTYPE.get(t.data_type, UNKNOWN) if enc in ("raw_data", "none") else \
                {"float_data": 0 if t.data_type == T.FLOAT else UNKNOWN,
                 "double_data": 28 if t.data_type == T.DOUBLE else UNKNOWN}.get(enc, UNKNOWN)
            if same(got, want) and r["dtype"] == want_dtype:
                ok = r
                break
        if ok is None:
            errors.append(f"{name}: no tensor frame matches numpy_helper's "
                          f"{T.DataType.Name(t.data_type)} {list(t.dims)}")
            continue
        cands.remove(ok)
        matched += 1
    extra = [n for n, rs in by_name.items() for _ in rs]
    if extra:
        errors.append(f"tensor frames onnx does not know: {extra[:5]}")
    if not errors:
        print(f"ok {path}: {matched} tensors match numpy_helper ({strings} string tensors not carried)")
    return errors


def main():
    mln_bin, paths = sys.argv[1], sys.argv[2:]
    total = 0
    for p in paths:
        errors = check(mln_bin, p)
        if errors:
            for e in errors[:10]:
                print(f"FAIL {p}: {e}", file=sys.stderr)
            return 1
        total += 1
    print(f"{total} models conform")
    return 0 if total else 1


if __name__ == "__main__":
    sys.exit(main())
