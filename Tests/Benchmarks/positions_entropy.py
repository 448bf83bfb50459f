#!/usr/bin/env python3
"""How close a .spruce artifact's stored positions are to the information in its masks.

For every sparse-stored weight (CSR or bitmask) it compares the bytes the artifact spends on
positions (row pointers, column indices or mask, after zstd, from `spruce inspect --json`) with
two lower bounds on any code for that mask:
  - layer:  log2 C(n, k), the bits to name which k of the layer's n weights are kept, knowing k;
  - rows:   sum over rows of log2 C(cols, k_r), knowing each row's count (plus the counts
            themselves at log2(cols + 1) bits each), which a code that adapts per row can reach.
Masks come from `spruce export` (dense ONNX weights; a stored zero and a pruned weight look the
same, as they do to the runtime). A second table splits each artifact's bytes by part.

    python3 Tests/Benchmarks/positions_entropy.py model.spruce [more.spruce ...] [--spruce PATH]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper


def log2_binomial(n, k):
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2)


def measure(spruce, path):
    info = json.loads(subprocess.run([spruce, "inspect", path, "--json"], check=True, capture_output=True, text=True).stdout)
    with tempfile.TemporaryDirectory() as folder:
        exported = os.path.join(folder, "m.onnx")
        subprocess.run([spruce, "export", path, "-o", exported], check=True, capture_output=True)
        weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(exported).graph.initializer}
    totals = dict(stored=0, layer=0.0, rows=0.0, nonzeros=0, values=0)
    # Where the stored bytes go: every tensor's parts (after zstd), weights split from the rest.
    parts = dict(positions=0, weight_values=0, scales=0, dense_weights=0, other=0)
    for t in info["tensors"]:
        sparse = t["encoding"] in ("csr", "bitmask")
        parts["positions"] += t["index_bytes_stored"]
        parts["scales"] += t["scale_bytes_stored"]
        key = "weight_values" if t["is_weight"] and sparse else "dense_weights" if t["is_weight"] else "other"
        parts[key] += t["value_bytes_stored"]
    totals["parts"] = parts
    for t in info["tensors"]:
        if not t["is_weight"] or t["encoding"] not in ("csr", "bitmask") or t["name"] not in weights:
            continue
        w = weights[t["name"]]
        matrix = w.reshape(w.shape[0], -1) if w.ndim > 1 else w.reshape(1, -1)
        rows, cols = matrix.shape
        kept = (matrix != 0).sum(axis=1)
        n, k = matrix.size, int(kept.sum())
        totals["stored"] += t["index_bytes_stored"]
        totals["layer"] += log2_binomial(n, k) / 8
        totals["rows"] += (sum(log2_binomial(cols, int(r)) for r in kept) + rows * math.log2(cols + 1)) / 8
        totals["nonzeros"] += k
        totals["values"] += t["value_bytes_stored"]
    return info, totals


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifacts", nargs="+")
    parser.add_argument("--spruce", default=os.path.join(os.path.dirname(__file__), "../../.build/release/spruce"))
    args = parser.parse_args()
    print("| artifact | bytes | sparse weights' non-zeros | positions stored | bound: layer counts | bound: row counts "
          "| stored / row bound | bits per non-zero: positions, values |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    measured = [(path, *measure(args.spruce, path)) for path in args.artifacts]
    for path, info, t in measured:
        if t["nonzeros"] == 0:
            print(f"| {os.path.basename(path)} | {info['bytes']:,} | 0 | | | | | |")
            continue
        print(f"| {os.path.basename(path)} | {info['bytes']:,} | {t['nonzeros']:,} | {t['stored']:,} | {t['layer']:,.0f} "
              f"| {t['rows']:,.0f} | {t['stored'] / t['rows']:.2f}× | {8 * t['stored'] / t['nonzeros']:.2f}, "
              f"{8 * t['values'] / t['nonzeros']:.2f} |")
    print()
    print("| artifact | positions | sparse weights' values | int8 scales | dense weights (depthwise, first conv, classifier) | other tensors (biases) | manifest and padding |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for path, info, t in measured:
        p = t["parts"]
        rest = info["bytes"] - sum(p.values())
        print(f"| {os.path.basename(path)} | {p['positions']:,} | {p['weight_values']:,} | {p['scales']:,} | {p['dense_weights']:,} "
              f"| {p['other']:,} | {rest:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
