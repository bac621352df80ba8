#!/usr/bin/python3
"""Simulated full fine-tune of a big F16/F32 GGUF for the scale benchmarks, in bounded
memory: every float tensor w' = w + N(0, (1e-3 * std(w))^2), written chunk by chunk.

  bench/finetune_pair.py IN OUT [SEED]      (mln-inspect must be on PATH)
"""
import json
import shutil
import subprocess
import sys

import numpy as np

CHUNK = 16 << 20


def main():
    src, dst = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(int(sys.argv[3]) if len(sys.argv) > 3 else 505)
    info = json.loads(subprocess.run(["mln-inspect", "--json", src], check=True,
                                     capture_output=True).stdout)
    shutil.copyfile(src, dst)
    with open(src, "rb") as fin, open(dst, "r+b") as fout:
        for t in info["tensors"]:
            if t["type"] not in ("f16", "f32"):
                continue
            dt = np.float16 if t["type"] == "f16" else np.float32
            width = np.dtype(dt).itemsize
            fin.seek(t["offset"])
            sample = np.frombuffer(fin.read(min(t["bytes"], CHUNK)), dtype=dt).astype(np.float64)
            sigma = 1e-3 * (sample.std() + 1e-12)
            done = 0
            while done < t["bytes"]:
                n = min(CHUNK, t["bytes"] - done) // width * width
                fin.seek(t["offset"] + done)
                w = np.frombuffer(fin.read(n), dtype=dt).astype(np.float32)
                w += rng.normal(0.0, sigma, w.shape).astype(np.float32)
                fout.seek(t["offset"] + done)
                fout.write(w.astype(dt).tobytes())
                done += n


main()
