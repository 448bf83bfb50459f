#!/usr/bin/env python3
"""Format 2.0's narrow values on the runtime: size, load time, peak memory and batch-1 latency of
90 % artifacts with int8 and with 4- and 3-bit values, against the same model packed as format 1.x.

The zoo models are built at the sizes people use (random weights; latency does not depend on the
values), pruned one-shot to 90 % uniform per layer (`spruce pack --uniform`). The 1.x artifact is
written by a Spruce from before format 2.0 (`--v1 PATH`: a `spruce` built at commit a737e20), the
peer for load time and memory; every artifact runs on the current runtime (`spruce bench --json`,
one process each, alternating rounds, median of the rounds' medians).

    python3 Tests/Benchmarks/packed_bench.py --v1 /path/to/old/spruce
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = [("mobilenetv2", 224), ("resnet50v2", 224), ("inceptionv3", 299)]


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr.strip()}")
    return out.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spruce", default=os.path.join(ROOT, ".build/release/spruce"))
    ap.add_argument("--v1", help="a spruce built before format 2.0 (writes the 1.x artifacts)")
    ap.add_argument("--models", default=",".join(m for m, _ in MODELS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench-out/packed"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    sizes = dict(MODELS)
    rows = []
    for name in args.models.split(","):
        onnx = os.path.join(args.out, f"{name}-{sizes[name]}.onnx")
        if not os.path.exists(onnx):
            run([args.spruce, "zoo", name, "--size", str(sizes[name]), "-o", onnx])
        variants = []
        if args.v1:
            variants.append(("int8, 1.x", args.v1, ["--int8"]))
        variants += [("int8, 2.0", args.spruce, ["--int8"]), ("4-bit", args.spruce, ["--bits", "4"]),
                     ("3-bit", args.spruce, ["--bits", "3"])]
        files = []
        for label, tool, flags in variants:
            path = os.path.join(args.out, f"{name}-s90-{label.replace(', ', '-').replace('.', '')}.spruce")
            run([tool, "pack", onnx, "-o", path, "--sparsity", "0.9", "--uniform"] + flags)
            files.append((label, path))
        results = {label: [] for label, _ in files}
        for _ in range(args.rounds):
            for label, path in files:
                results[label].append(json.loads(run([args.spruce, "bench", path, "--runs", str(args.runs), "--json"])))
        for label, path in files:
            r = results[label]
            rows.append({
                "model": f"{name} {sizes[name]}²", "artifact": label, "bytes": os.path.getsize(path),
                "load_ms": statistics.median(x["load_ms"] for x in r),
                "peak_mb": statistics.median(x["peak_memory_bytes"] for x in r) / 1e6,
                "median_ms": statistics.median(x["median_ms"] for x in r),
            })
    print("| model | artifact | bytes | load ms | peak MB | latency ms | latency ÷ int8 2.0 | load ÷ 1.x | peak ÷ 1.x |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        same = [r for r in rows if r["model"] == row["model"]]
        i8 = next(r for r in same if r["artifact"] == "int8, 2.0")
        v1 = next((r for r in same if r["artifact"] == "int8, 1.x"), None)
        ratio = lambda key: f"{row[key] / v1[key]:.2f}" if v1 else "–"
        print(f"| {row['model']} | {row['artifact']} | {row['bytes']:,} | {row['load_ms']:.1f} | {row['peak_mb']:.1f} | "
              f"{row['median_ms']:.2f} | {row['median_ms'] / i8['median_ms']:.2f} | {ratio('load_ms')} | {ratio('peak_mb')} |")
    with open(os.path.join(args.out, "packed_bench.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
