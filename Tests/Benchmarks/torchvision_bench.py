#!/usr/bin/env python3
# The models people bring: torchvision classifiers exported as users export them (eval mode,
# torch.onnx.export opset 17, dynamo=False; random weights, BatchNorm statistics randomized so the
# activations are O(1)) at their native sizes. For each: does Spruce load it, does it match
# onnxruntime, and Spruce's runtime (dense, and 90 % + int8 from `spruce pack --sparsity 0.9
# --uniform --int8`: every pruned layer 90 % sparse, one-shot) against onnxruntime on the same
# dense ONNX file, batch 1, in alternating rounds (best median of each), 1 thread and optionally 2;
# with `--ort-int8` also against onnxruntime running its
# own int8 model (quantize_static: QDQ, per-channel, calibrated on fixtures/calibration), the peer
# a user would try next. Needs a Python with torch, torchvision, onnx and
# onnxruntime (`make pyenv-torch` makes .venv-torch) and the release spruce-bench (`make release`).
# With `--family keras` the models are keras.applications exports by tf2onnx (NHWC), made by
# keras_export.py under `make pyenv`'s .venv.
# Usage: .venv-torch/bin/python Tests/Benchmarks/torchvision_bench.py [--family keras] [--models resnet18,...] [--rounds 3]
#        [--runs N] [--threads 1,2] [--check-only]. `--check-only` loads and compares without timing,
#        so it may run beside other work. Writes bench-out/<family>/ (git-ignored) and its JSON summary.
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runtime_bench import ROOT, SPRUCE_BENCH, cpu_ticks, other_runnable, spruce_time, steal_percent  # noqa: E402

SPRUCE = os.environ.get("SPRUCE", os.path.join(ROOT, ".build", "release", "spruce"))
# name: input size. The torchvision list of issue 18, and Keras models of the same families.
FAMILIES = {
    "torchvision": {
        "resnet18": 224, "resnet50": 224, "inception_v3": 299, "googlenet": 224, "densenet121": 224,
        "squeezenet1_1": 224, "mnasnet1_0": 224, "regnet_y_400mf": 224, "efficientnet_b0": 224,
        "mobilenet_v2": 224, "mobilenet_v3_small": 224, "mobilenet_v3_large": 224, "shufflenet_v2_x1_0": 224,
        "convnext_tiny": 224,
    },
    "keras": {
        "MobileNetV2": 224, "MobileNetV3Small": 224, "MobileNetV3Large": 224, "EfficientNetB0": 224,
        "ResNet50": 224, "ResNet50V2": 224, "DenseNet121": 224, "InceptionV3": 299, "Xception": 299,
        "NASNetMobile": 224,  # ConvNeXtTiny: tf2onnx 1.16.1 leaves a PartitionedCall ONNX cannot run
    },
}
OUT = os.path.join(ROOT, "bench-out", "torchvision")
KERAS_PYTHON = os.environ.get("KERAS_PYTHON", os.path.join(ROOT, ".venv", "bin", "python"))


def export(name, size, family="torchvision"):
    """The ONNX file, a seeded input and onnxruntime's output on it (made once)."""
    path = os.path.join(OUT, f"{name}.onnx")
    if os.path.exists(path):
        return path
    if family == "keras":
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_export.py")
        subprocess.run([KERAS_PYTHON, script, name, str(size), OUT], check=True)
        return path
    import numpy as np
    import onnxruntime as ort
    import torch
    import torchvision
    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": True} if name in ("inception_v3", "googlenet") else {}
    model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
    x = torch.randn(1, 3, size, size)
    torch.onnx.export(model, x, path + ".tmp", opset_version=17, dynamo=False)
    os.replace(path + ".tmp", path)
    np.save(os.path.join(OUT, f"{name}.in.npy"), x.numpy())
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    np.save(os.path.join(OUT, f"{name}.ort.npy"), session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
    return path


def pack(onnx, sparsity_int8):
    """(artifact path, None) or (None, the error line) from `spruce pack`."""
    suffix = "s90u_int8" if sparsity_int8 else "dense"
    path = onnx.replace(".onnx", f".{suffix}.spruce")
    if os.path.exists(path):
        return path, None
    flags = ["--sparsity", "0.9", "--uniform", "--int8"] if sparsity_int8 else []
    result = subprocess.run([SPRUCE, "pack", onnx, "-o", path, *flags], capture_output=True, text=True)
    if result.returncode != 0:
        return None, (result.stderr.strip().splitlines() or ["failed"])[-1]
    return path, None


def ort_int8(onnx, size):
    """onnxruntime's static int8 model of `onnx` (QDQ, per-channel weights, MinMax calibration on the
    images of fixtures/calibration, resized to the input with ImageNet normalisation); made once."""
    path = onnx.replace(".onnx", ".ort_int8.onnx")
    if os.path.exists(path):
        return path
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from PIL import Image
    folder = os.path.join(ROOT, "fixtures", "calibration")
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)

    def image(file):
        rgb = np.asarray(Image.open(os.path.join(folder, file)).convert("RGB").resize((size, size)), np.float32) / 255
        return ((rgb - mean) / std).transpose(2, 0, 1)[None]

    class Reader(CalibrationDataReader):
        def __init__(self, name):
            self.feeds = iter([{name: image(f)} for f in sorted(os.listdir(folder)) if f.endswith(".jpg")])

        def get_next(self):
            return next(self.feeds, None)

    import onnx as onnx_lib
    name = onnx_lib.load(onnx, load_external_data=False).graph.input[0].name
    prepared = path + ".pre.onnx"
    quant_pre_process(onnx, prepared, skip_symbolic_shape=True)
    quantize_static(prepared, path + ".tmp", Reader(name), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    os.remove(prepared)
    os.replace(path + ".tmp", path)
    return path


def max_error(name, artifact):
    """Max |Spruce − onnxruntime| on the seeded input, and max |onnxruntime|."""
    import numpy as np
    out = os.path.join(OUT, f"{name}.spruce.npy")
    subprocess.run([SPRUCE, "run", artifact, os.path.join(OUT, f"{name}.in.npy"), "--output", out],
                   check=True, capture_output=True, text=True)
    want = np.load(os.path.join(OUT, f"{name}.ort.npy"))
    return float(np.abs(np.load(out) - want).max()), float(np.abs(want).max())


def ort_time(onnx, size, threads, runs, warmup):
    import numpy as np
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(onnx, opts, providers=["CPUExecutionProvider"])
    shape = [1, size, size, 3] if session.get_inputs()[0].shape[-1] == 3 else [1, 3, size, size]
    feed = {session.get_inputs()[0].name: np.random.default_rng(1).standard_normal(shape, dtype=np.float32)}
    for _ in range(warmup):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--family", default="torchvision", choices=sorted(FAMILIES),
                        help="torchvision exports, or Keras ones (tf2onnx, NHWC; exported under .venv)")
    parser.add_argument("--models", help="comma-separated names of the family (default: all)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (best median kept)")
    parser.add_argument("--runs", type=int, default=20, help="timed inferences per configuration")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", default="1", help="comma-separated thread counts, e.g. 1,2")
    parser.add_argument("--check-only", action="store_true", help="load and compare with onnxruntime, no timing")
    parser.add_argument("--ort-int8", action="store_true", help="also time onnxruntime's own static int8 model")
    args = parser.parse_args()
    for tool in (SPRUCE, SPRUCE_BENCH):
        if not os.path.exists(tool):
            sys.exit(f"{tool} missing: run `make release` first")
    import onnxruntime as ort
    global OUT
    OUT = os.path.join(ROOT, "bench-out", args.family)
    os.makedirs(OUT, exist_ok=True)
    models = FAMILIES[args.family]
    if args.ort_int8 and args.family == "keras":
        sys.exit("--ort-int8 calibrates NCHW ImageNet inputs: torchvision only")
    threads = [int(t) for t in args.threads.split(",")]
    busy = other_runnable()
    ticks = cpu_ticks()
    rows = []
    for name in (args.models.split(",") if args.models else models):
        if name not in models:
            sys.exit(f"unknown {args.family} model '{name}': {', '.join(models)}")
        size = models[name]
        onnx = export(name, size, args.family)
        dense, error = pack(onnx, False)
        if error:
            rows.append({"model": name, "size": size, "loads": False, "error": error})
            print(f"{name:20s} does not load: {error}", flush=True)
            continue
        sparse, error = pack(onnx, True)
        err, scale = max_error(name, dense)
        if args.check_only:
            rows.append({"model": name, "size": size, "loads": True, "max_abs_error": err, "max_abs_output": scale,
                         "s90_int8_packs": sparse is not None})
            print(f"{name:20s} {size}²  error {err:.1e} (max |y| {scale:.1e})  "
                  f"90%+int8 {'packs' if sparse else 'does not pack: ' + error}", flush=True)
            continue
        quantized = ort_int8(onnx, size) if args.ort_int8 else None
        timing = {}
        for t in threads:
            best = {"ort": float("inf"), "dense": float("inf"), "s90": float("inf")}
            if quantized:
                best["ort_int8"] = float("inf")
            for _ in range(args.rounds):
                best["ort"] = min(best["ort"], ort_time(onnx, size, t, args.runs, args.warmup))
                if quantized:
                    best["ort_int8"] = min(best["ort_int8"], ort_time(quantized, size, t, args.runs, args.warmup))
                best["dense"] = min(best["dense"], spruce_time(dense, t, args.runs, args.warmup)["median_ms"])
                if sparse:
                    best["s90"] = min(best["s90"], spruce_time(sparse, t, args.runs, args.warmup)["median_ms"])
            timing[t] = best
        row = {"model": name, "size": size, "loads": True, "max_abs_error": err, "max_abs_output": scale,
               "onnx_bytes": os.path.getsize(onnx), "s90_int8_bytes": os.path.getsize(sparse) if sparse else None,
               "ms": {str(t): v for t, v in timing.items()}}
        rows.append(row)
        one = timing[threads[0]]
        line = (f"{name:20s} {size}²  error {err:.1e} (max |y| {scale:.1e})  ORT {one['ort']:.2f} ms  "
                f"dense {one['dense']:.2f} ms ({one['dense'] / one['ort']:.2f}× ORT)")
        if sparse:
            line += (f"  90%+int8 {one['s90']:.2f} ms ({one['ort'] / one['s90']:.2f}× faster than ORT dense)"
                     f"  size {row['onnx_bytes'] / row['s90_int8_bytes']:.1f}×")
        else:
            line += f"  90%+int8 does not pack: {error}"
        if quantized:
            line += f"  ORT int8 {one['ort_int8']:.2f} ms"
            if sparse:
                line += f" (Spruce 90%+int8 {one['ort_int8'] / one['s90']:.2f}× its speed)"
        for t in threads[1:]:
            line += f"  {t} threads: dense {timing[threads[0]]['dense'] / timing[t]['dense']:.2f}× the speed of {threads[0]}"
        print(line, flush=True)
    if args.check_only:
        return
    steal = steal_percent(ticks, cpu_ticks())
    summary = {"onnxruntime": ort.__version__, "other_runnable_before": busy, "steal_percent": steal,
               "threads": threads, "rounds": args.rounds, "runs": args.runs, "models": rows}
    with open(os.path.join(OUT, f"{args.family}_bench.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(f"onnxruntime {ort.__version__}; other runnable threads before the run: {busy:.2f}; "
          f"steal {steal if steal is not None else float('nan'):.1f} %")


if __name__ == "__main__":
    main()
