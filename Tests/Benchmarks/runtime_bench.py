#!/usr/bin/env python3
# Runtime benchmark: Spruce's embedded runtime (batch 1, 1 and 2 threads) on MobileNet v2 (width
# 1.0) and ResNet50 v2 at 128×128, dense and one-shot magnitude-pruned (uniform per layer) to 50 / 75 / 90 %, float32
# and int8, against onnxruntime (1 and 2 threads) on the same dense ONNX model, in one run.
# Models: Keras applications, weights=None, BatchNorm statistics randomized (so BN is real), the
# study head (GAP → Dense(1, sigmoid)), tf2onnx opset 13; built once into bench-out/ (git-ignored).
# Needs the release spruce-bench (make bench builds it). Prints a table and writes
# bench-out/runtime_bench.json. Usage: .venv/bin/python Tests/Benchmarks/runtime_bench.py [--runs N] [--rounds R]
# [--sparsities 0,0.9] [--threads 1] [--models resnet50v2] (subsets while iterating; see --help)
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "bench-out")
SPRUCE_BENCH = os.environ.get("SPRUCE_BENCH", os.path.join(ROOT, ".build", "release", "spruce-bench"))
SIZE = 128
MODELS = {
    "mobilenetv2": "MobileNet v2 (1.0, 128²)",
    "resnet50v2": "ResNet50 v2 (128²)",
}
SPARSITIES = [0.0, 0.5, 0.75, 0.9]
# Targets of issue 3.
DENSE_WITHIN = 1.5
SPEEDUP_90_INT8 = {"resnet50v2": 2.0, "mobilenetv2": 1.25}
SIZE_RATIO_90_INT8 = 20.0


def onnx_path(name):
    return os.path.join(OUT, f"{name}_{SIZE}.onnx")


def build_model(name):
    """Keras model with random weights and randomized BN statistics, exported with tf2onnx."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf
    import tf2onnx
    tf.keras.utils.set_random_seed(128)
    shape = (SIZE, SIZE, 3)
    if name == "mobilenetv2":
        backbone = tf.keras.applications.MobileNetV2(alpha=1.0, weights=None, include_top=False, input_shape=shape)
    else:
        backbone = tf.keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=shape)
    x = tf.keras.layers.GlobalAveragePooling2D(name="avg_pool")(backbone.output)
    out = tf.keras.layers.Dense(1, activation="sigmoid", name="prob")(x)
    model = tf.keras.Model(backbone.input, out, name=f"{name}_head")
    rng = np.random.default_rng(7)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
                rng.normal(0, 0.1, beta.shape).astype(np.float32),
                rng.normal(0, 0.1, mean.shape).astype(np.float32),
                rng.uniform(0.5, 1.5, var.shape).astype(np.float32),
            ])
    spec = (tf.TensorSpec((None,) + shape, tf.float32, name="input"),)
    os.makedirs(OUT, exist_ok=True)
    tmp = onnx_path(name) + ".tmp"
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=13, output_path=tmp)
    os.replace(tmp, onnx_path(name))


def artifact_path(name, sparsity, int8):
    return os.path.join(OUT, f"{name}_{SIZE}_s{int(round(sparsity * 100)):02d}_{'int8' if int8 else 'f32'}.spruce")


def pack(name, sparsity, int8):
    path = artifact_path(name, sparsity, int8)
    if os.path.exists(path) and os.path.getmtime(path) >= os.path.getmtime(onnx_path(name)):
        return path
    cmd = [SPRUCE_BENCH, "pack", onnx_path(name), "-o", path, "--sparsity", str(sparsity)] + (["--int8"] if int8 else [])
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return path


def spruce_time(path, threads, runs, warmup):
    cmd = [SPRUCE_BENCH, "runtime", path, "--threads", str(threads), "--runs", str(runs), "--warmup", str(warmup)]
    result = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def ort_time(name, threads, runs, warmup):
    import numpy as np
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(onnx_path(name), opts, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    x = np.random.default_rng(1).random((1, SIZE, SIZE, 3), dtype=np.float32)
    for _ in range(warmup):
        session.run(None, {inp.name: x})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {inp.name: x})
        times.append(time.perf_counter() - start)
    times.sort()
    return {"median_ms": times[len(times) // 2] * 1e3, "p90_ms": times[min(len(times) - 1, int(len(times) * 0.9))] * 1e3}


def cpu_ticks():
    """The aggregate `cpu` line of /proc/stat (user nice system idle iowait irq softirq steal ...), or None."""
    try:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def steal_percent(before, after):
    """Share of all CPU time between two `cpu_ticks()` readings that the hypervisor took (steal)."""
    if not before or not after:
        return None
    delta = [b - a for a, b in zip(before, after)]
    return 100.0 * delta[7] / max(1, sum(delta))


def other_runnable(samples=20, interval=0.1):
    """Mean runnable threads on the machine besides this sampler (Linux /proc/stat), 0 elsewhere."""
    counts = []
    for _ in range(samples):
        try:
            with open("/proc/stat") as f:
                line = next(l for l in f if l.startswith("procs_running"))
        except (OSError, StopIteration):
            return 0.0
        counts.append(int(line.split()[1]) - 1)
        time.sleep(interval)
    return sum(counts) / len(counts)


def main():
    parser = argparse.ArgumentParser(description="Spruce runtime vs onnxruntime, batch-1 latency")
    parser.add_argument("--runs", type=int, default=30, help="timed inferences per configuration (median kept)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed inferences first")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (best median kept)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    parser.add_argument("--sparsities", default=",".join(str(s) for s in SPARSITIES),
                        help="comma-separated subset of the sparsities (0 must stay in for the dense-target check)")
    parser.add_argument("--threads", default="1,2", help="thread counts to time: 1,2 (default) or 1 or 2")
    parser.add_argument("--build-only", action="store_true", help="build the ONNX models and exit")
    args = parser.parse_args()
    names = [m for m in args.models.split(",") if m in MODELS]
    sparsities = [float(x) for x in args.sparsities.split(",")]
    threads = tuple(int(t) for t in args.threads.split(",") if t in ("1", "2"))
    for name in names:
        if not os.path.exists(onnx_path(name)):
            print(f"building {onnx_path(name)} (once) ...", file=sys.stderr)
            build_model(name)
    if args.build_only:
        return
    if not os.path.exists(SPRUCE_BENCH):
        sys.exit(f"{SPRUCE_BENCH} missing: run `swift build -c release --product spruce-bench` first")

    import onnxruntime
    busy_before = other_runnable()
    ticks_before = cpu_ticks()
    results = {"size": SIZE, "runs": args.runs, "warmup": args.warmup, "rounds": args.rounds, "onnxruntime": onnxruntime.__version__,
               "models": {}}
    rows = []
    checks = []
    for name in names:
        onnx_bytes = os.path.getsize(onnx_path(name))
        configs = [(sp, int8) for sp in sparsities for int8 in (False, True)]
        paths = {c: pack(name, *c) for c in configs}
        # The machine is shared: alternate rounds over every contender and keep each one's best
        # median, so a burst of background load hits all alike.
        ort = {t: float("inf") for t in threads}
        spruce = {(c, t): None for c in configs for t in threads}
        for _ in range(args.rounds):
            for t in threads:
                ort[t] = min(ort[t], ort_time(name, t, args.runs, args.warmup)["median_ms"])
            for c in configs:
                for t in threads:
                    run = spruce_time(paths[c], t, args.runs, args.warmup)
                    if spruce[(c, t)] is None or run["median_ms"] < spruce[(c, t)]["median_ms"]:
                        spruce[(c, t)] = run
        entry = {"onnx_bytes": onnx_bytes, "ort_ms": {str(t): ort[t] for t in ort}, "spruce": []}
        for c in configs:
            sparsity, int8 = c
            size = os.path.getsize(paths[c])
            timing = {t: spruce[(c, t)] for t in threads}
            row = {
                "sparsity": sparsity, "int8": int8, "artifact_bytes": size, "size_ratio": onnx_bytes / size,
                "achieved_sparsity": timing[threads[0]].get("sparsity"),
                "spruce_ms": {str(t): timing[t]["median_ms"] for t in timing},
                "speedup_vs_ort": {str(t): ort[t] / timing[t]["median_ms"] for t in timing},
            }
            entry["spruce"].append(row)
            rows.append((MODELS[name], f"{int(sparsity * 100)} %", "int8" if int8 else "f32",
                         timing[1]["median_ms"] if 1 in timing else float("nan"), ort.get(1, float("nan")),
                         timing[2]["median_ms"] if 2 in timing else float("nan"), ort.get(2, float("nan")), onnx_bytes, size))
        results["models"][name] = entry
        dense = entry["spruce"][0]
        best = next((r for r in entry["spruce"] if r["sparsity"] == 0.9 and r["int8"]), None)
        if dense["sparsity"] != 0 or best is None:
            continue
        for t in (str(t) for t in threads):
            ratio = dense["spruce_ms"][t] / entry["ort_ms"][t]
            checks.append((f"{MODELS[name]}: dense f32 within {DENSE_WITHIN}× of onnxruntime ({t} thread{'s' if t == '2' else ''})",
                           f"{ratio:.2f}× ORT time", ratio <= DENSE_WITHIN))
        for t in (str(t) for t in threads):
            speed = best["speedup_vs_ort"][t]
            checks.append((f"{MODELS[name]}: 90 % + int8 ≥ {SPEEDUP_90_INT8[name]}× faster than onnxruntime dense ({t} thread{'s' if t == '2' else ''})",
                           f"{speed:.2f}×", speed >= SPEEDUP_90_INT8[name]))
        checks.append((f"{MODELS[name]}: 90 % + int8 artifact ≥ {SIZE_RATIO_90_INT8:.0f}× smaller than the ONNX file",
                       f"{best['size_ratio']:.1f}×", best["size_ratio"] >= SIZE_RATIO_90_INT8))

    # The 2-thread runtime meets at a barrier after every split step: another runnable process that
    # takes a core away mid-step stalls both threads (ResNet50 v2 90 % int8 measured 6-7 ms on an
    # idle machine and 11-17 ms beside a nice-19 training job). Say how busy the machine was.
    # A VM's cores can also be taken by the hypervisor: report the steal time of the run.
    steal = steal_percent(ticks_before, cpu_ticks())
    busy_after = other_runnable()
    results["other_runnable_threads"] = {"before": busy_before, "after": busy_after}
    results["steal_percent"] = steal
    print(f"Other runnable threads (mean of 20 samples of /proc/stat): {busy_before:.1f} before, {busy_after:.1f} after."
          + (" The machine was busy: 2-thread figures are unreliable." if max(busy_before, busy_after) > 0.3 else ""))
    if steal is not None:
        print(f"Hypervisor steal during the run: {steal:.1f} % of CPU time.")
    print(f"Batch-1 latency: best of {args.rounds} alternating rounds of the median of {args.runs} runs after {args.warmup} warm-up; onnxruntime {onnxruntime.__version__} "
          f"(ORT_ENABLE_ALL, sequential) on the dense ONNX model. ratio = ORT time / Spruce time (> 1: Spruce faster).")
    print()
    print("| model | sparsity | values | Spruce 1T ms | ORT 1T ms | ratio 1T | Spruce 2T ms | ORT 2T ms | ratio 2T | ONNX bytes | artifact bytes | size ratio |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model, sp, vt, s1, o1, s2, o2, ob, ab in rows:
        print(f"| {model} | {sp} | {vt} | {s1:.2f} | {o1:.2f} | {o1 / s1:.2f} | {s2:.2f} | {o2:.2f} | {o2 / s2:.2f} "
              f"| {ob:,} | {ab:,} | {ob / ab:.1f}× |")
    print()
    print("| target (issue 3) | measured | |")
    print("|---|---|---|")
    for text, value, ok in checks:
        print(f"| {text} | {value} | {'met' if ok else 'NOT met'} |")
    results["targets"] = [{"target": t, "measured": v, "met": ok} for t, v, ok in checks]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "runtime_bench.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
