#!/usr/bin/python3
"""Makes v2 of a real model for the delta tests, the way releases change models.

  make_pair.py finetune IN OUT SEED   every float tensor moved by a few ulps (f16, f32, bf16)
  make_pair.py requant IN OUT SEED    ~10% of the int8 values of Q8_0 blocks moved by one
  make_pair.py retrain IN OUT SEED    the two largest tensors replaced by fresh bytes
  make_pair.py reindex IN OUT SEED    the longest sorted u16 array (a sparse TFLite tensor's
                                      CSR segments or indices) raised by one past its first

Tensor offsets come from `mln-inspect --json` (mln-inspect must be on PATH); the file's
layout is unchanged, only tensor bytes move.
"""
import json
import subprocess
import sys

import numpy as np


def tensors(path):
    out = subprocess.run(["mln-inspect", "--json", path], check=True, capture_output=True)
    return json.loads(out.stdout)["tensors"]


def main():
    mode, src, dst, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    rng = np.random.default_rng(seed)
    data = bytearray(open(src, "rb").read())
    ts = tensors(src)
    changed = 0
    if mode == "reindex":
        # Not a tensor, so not in mln-inspect's list: the longest strictly rising run of
        # 4-byte-aligned u16 values (FlatBuffers vectors are aligned), found by scanning.
        a = np.frombuffer(bytes(data[:len(data) // 4 * 4]), dtype="<u2").astype(np.int64)
        a = a[: len(a) // 2 * 2]
        rise = np.concatenate(([False], np.diff(a) > 0, [False]))
        edges = np.flatnonzero(np.diff(rise.astype(np.int8)))
        starts, ends = edges[0::2] - 1, edges[1::2]  # run = a[start:end]
        k = int(np.argmax(ends - starts))
        start = int(starts[k]) + (int(starts[k]) % 2)  # an aligned start within the run
        end = int(ends[k])
        if end - start >= 64 and a[start:end].max() < 65535:
            run = a[start:end].copy()
            run[1:] += 1
            data[2 * start:2 * end] = run.astype("<u2").tobytes()
            changed += 1
    if mode == "retrain":
        for t in sorted(ts, key=lambda t: t["bytes"])[-2:]:
            o, n = t["offset"], t["bytes"]
            data[o:o + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
            changed += 1
    for t in ts:
        o, n, ty = t["offset"], t["bytes"], t["type"]
        if mode == "finetune" and ty in ("f16", "f32") and n >= 64:
            dt = np.float16 if ty == "f16" else np.float32
            w = np.frombuffer(bytes(data[o:o + n]), dtype=dt).astype(np.float64)
            w = w + rng.normal(0.0, 1e-3 * (w.std() + 1e-12), w.shape)
            data[o:o + n] = w.astype(dt).tobytes()
            changed += 1
        elif mode == "requant" and ty == "q8_0":
            blocks = np.frombuffer(bytes(data[o:o + n]), dtype=np.uint8).reshape(-1, 34).copy()
            qs = blocks[:, 2:].view(np.int8)
            move = rng.random(qs.shape) < 0.1
            qs[move] = np.clip(qs[move].astype(np.int16) + rng.choice([-1, 1], move.sum()),
                               -127, 127).astype(np.int8)
            data[o:o + n] = blocks.tobytes()
            changed += 1
    if changed == 0:
        sys.exit(f"make_pair.py: nothing to change in {src} for {mode}")
    open(dst, "wb").write(data)


main()
