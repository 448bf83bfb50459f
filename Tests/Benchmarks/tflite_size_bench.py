#!/usr/bin/env python3
"""Artifact bytes against tfmot + TFLite on the same pruned weights.

The study's networks (keras.applications, random weights, the study's head: global average pool
and one sigmoid unit) are pruned by tfmot the study's way (`prune_low_magnitude`, every prunable
layer to the same sparsity, one shot at step 0, `strip_pruning`). The same pruned model is then
stored two ways: TFLite with int8 weights (`Optimize.DEFAULT`), gzipped at level 9 — the peer's
best size — and, exported by tf2onnx, `spruce pack --int8` (and `--bits 4`) without further
pruning. Both hold the same zeros and the same float weights, so the ratio is the formats'.

With --study DIR the rows are also written to DIR/peer_sizes.json, which the study report shows
(`spruce study ... --report-only` rewrites it); give the study's models, size and sparsities.

    .venv/bin/python Tests/Benchmarks/tflite_size_bench.py --models inceptionv3 --size 75 [--study study/]
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERAS = {"mobilenetv2": "MobileNetV2", "inceptionv3": "InceptionV3", "resnet50v2": "ResNet50V2",
         "resnet152v2": "ResNet152V2"}


def keras_model(tf, name, size):
    tf.keras.utils.set_random_seed(0)
    base = getattr(tf.keras.applications, KERAS[name])(weights=None, include_top=False, input_shape=(size, size, 3))
    pooled = tf.keras.layers.GlobalAveragePooling2D()(base.output)
    return tf.keras.Model(base.input, tf.keras.layers.Dense(1, activation="sigmoid")(pooled))


def pruned(tf, tfmot, np, model, sparsity):
    """tfmot's one-shot magnitude pruning: masks applied at step 0, then stripped."""
    if sparsity == 0:
        return model
    schedule = tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0, frequency=1)
    wrapped = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    wrapped.compile(optimizer=tf.keras.optimizers.SGD(0.0), loss="binary_crossentropy")
    x = np.zeros((1,) + tuple(model.input_shape[1:]), np.float32)
    wrapped.fit(x, np.zeros((1, 1), np.float32), epochs=1, verbose=0,
                callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(wrapped)


def zeros(model):
    kernels = [w for layer in model.layers for w in layer.get_weights()[:1] if w.ndim >= 2]
    total = sum(w.size for w in kernels)
    return sum(int((w == 0).sum()) for w in kernels) / max(total, 1)


def spruce_pack(spruce, onnx, flags, tmp):
    out = os.path.join(tmp, "a.spruce")
    r = subprocess.run([spruce, "pack", onnx, "-o", out] + flags, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"spruce pack failed: {r.stderr.strip()}")
    return os.path.getsize(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenetv2,inceptionv3,resnet50v2")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--sparsities", default="0,0.25,0.5,0.75,0.9")
    ap.add_argument("--study", help="a study folder to write peer_sizes.json into")
    ap.add_argument("--spruce", default=os.path.join(ROOT, ".build/release/spruce"))
    args = ap.parse_args()
    models, size = args.models.split(","), args.size
    sparsities = [float(s) for s in args.sparsities.split(",")]

    import numpy as np
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf2onnx

    rows = []
    print("| model | sparsity | zeros of the kernels | TFLite int8 + gzip -9 | Spruce int8 | TFLite ÷ Spruce | Spruce 4-bit | TFLite ÷ Spruce 4-bit |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in models:
        for s in sparsities:
            model = pruned(tf, tfmot, np, keras_model(tf, name, size), s)
            converter = tf.lite.TFLiteConverter.from_keras_model(model)
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            tflite = len(gzip.compress(converter.convert(), 9))
            with tempfile.TemporaryDirectory() as tmp:
                onnx = os.path.join(tmp, "m.onnx")
                spec = (tf.TensorSpec((1, size, size, 3), tf.float32, name="input"),)
                tf2onnx.convert.from_keras(model, input_signature=spec, opset=13, output_path=onnx)
                int8 = spruce_pack(args.spruce, onnx, ["--int8"], tmp)
                four = spruce_pack(args.spruce, onnx, ["--bits", "4"], tmp)
            row = {"model": name, "size": size, "sparsity": s, "kernelZeros": zeros(model), "tfliteInt8GzipBytes": tflite,
                   "spruceInt8Bytes": int8, "spruce4BitBytes": four}
            rows.append(row)
            print(f"| {name} {size}² | {s:.0%} | {row['kernelZeros']:.1%} | {tflite:,} | {int8:,} | {tflite / int8:.2f}× | "
                  f"{four:,} | {tflite / four:.2f}× |", flush=True)
    if args.study:
        with open(os.path.join(args.study, "peer_sizes.json"), "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
