#!/usr/bin/python3
"""The reference method issue #4 quotes for f16 files ("byte planes + zstd-19"), measured on
the given files so mln-compress can be set beside it on the same set: the high and the low
bytes of every f16 tensor, each plane concatenated over the file and coded with zstd -19,
plus every other byte of the file (graph, metadata, other tensors) as one zstd -19 blob.
Prints the size kept per file and the median.

  bench/planes_reference.py FILE...      (mln-inspect must be on PATH, or set MLN_BIN)
"""
import json
import os
import shutil
import statistics
import subprocess
import sys

import numpy as np


def zstd19(data: bytes) -> int:
    out = subprocess.run(["zstd", "-19", "-c", "--no-check"], input=data,
                         capture_output=True, check=True).stdout
    return len(out)


def main():
    inspect = os.path.join(os.environ["MLN_BIN"], "mln-inspect") if "MLN_BIN" in os.environ \
        else shutil.which("mln-inspect")
    kept = []
    for path in sys.argv[1:]:
        info = json.loads(subprocess.run([inspect, "--json", path], check=True,
                                         capture_output=True).stdout)
        raw = np.fromfile(path, dtype=np.uint8)
        in_f16 = np.zeros(raw.size, dtype=bool)
        high, low = [], []
        for t in info["tensors"]:
            if t["type"] != "f16":
                continue
            begin, end = t["offset"], t["offset"] + t["bytes"]
            low.append(raw[begin:end:2])  # little-endian: low byte first
            high.append(raw[begin + 1:end:2])
            in_f16[begin:end] = True
        size = zstd19(raw[~in_f16].tobytes())
        if high:
            size += zstd19(np.concatenate(high).tobytes()) + zstd19(np.concatenate(low).tobytes())
        kept.append(100.0 * size / raw.size)
        print(f"{os.path.basename(path):45s} {kept[-1]:6.2f}%  (f16 tensors: "
              f"{100.0 * in_f16.sum() / raw.size:.1f}% of the file)", flush=True)
    if kept:
        print(f"median {statistics.median(kept):.2f}% over {len(kept)} files")


main()
