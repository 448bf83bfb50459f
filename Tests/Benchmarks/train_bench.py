#!/usr/bin/env python3
# Training-throughput benchmark: Spruce's TrainingSession against tf.keras (tensorflow-cpu, the
# study's stack) on the same machine in the same run. Both train the same architecture from
# scratch (keras.applications MobileNetV2 width 1.0 / ResNet50V2, weights=None, + GAP → Dense(1,
# sigmoid)) with Adam 1e-3 and binary cross-entropy, batch 16, 96×96, on random data, after
# warm-up steps; both use every core. The machine may be shared, so the contenders run in
# alternating rounds and each keeps its best round. Needs the release spruce-bench:
#   swift build -c release -Xswiftc -target-cpu -Xswiftc native -Xswiftc -DSPRUCE_FMA
# Usage (from the repo root): .venv/bin/python Tests/Benchmarks/train_bench.py [--steps N] [--warmup W] [--rounds R]
# Where Spruce's step time goes: .build/release/spruce-bench train --model M --profile (per-operator
# ms/step on stderr; a BatchNormalization fused with its ReLU / Clip shows as "BatchNormalization+Clip").
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPRUCE_BENCH = os.path.join(ROOT, ".build", "release", "spruce-bench")
MODELS = [("mobilenetv2", "MobileNet v2 (width 1.0)"), ("resnet50v2", "ResNet50 v2")]


def spruce(model, size, batch, steps, warmup):
    result = subprocess.run([SPRUCE_BENCH, "train", "--model", model, "--size", str(size), "--batch", str(batch),
                             "--steps", str(steps), "--warmup", str(warmup)],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def keras_model(model, size, batch, warmup):
    """The Keras network, compiled and warmed up, with its two random batches."""
    import numpy as np
    import tensorflow as tf
    tf.keras.utils.set_random_seed(1)
    shape = (size, size, 3)
    if model == "mobilenetv2":
        backbone = tf.keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=shape, alpha=1.0)
    else:
        backbone = tf.keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=shape)
    x = tf.keras.layers.GlobalAveragePooling2D()(backbone.output)
    out = tf.keras.layers.Dense(1, activation="sigmoid")(x)
    net = tf.keras.Model(backbone.input, out)
    net.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    rng = np.random.default_rng(1)
    images = [rng.random((batch,) + shape, dtype=np.float32) for _ in range(2)]
    labels = (np.arange(batch) % 2).astype(np.float32).reshape(batch, 1)
    for k in range(warmup):
        net.train_on_batch(images[k % 2], labels)
    return net, images, labels


def keras(prepared, batch, steps):
    net, images, labels = prepared
    start = time.perf_counter()
    for k in range(steps):
        loss = net.train_on_batch(images[k % 2], labels)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "images_per_second": steps * batch / seconds, "last_loss": float(loss)}


def main():
    parser = argparse.ArgumentParser(description="training images/s: Spruce vs tf.keras")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per contender and model")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; each contender keeps its best")
    parser.add_argument("--models", default="mobilenetv2,resnet50v2")
    args = parser.parse_args()
    if not os.path.exists(SPRUCE_BENCH):
        sys.exit(f"{SPRUCE_BENCH} missing: build the release spruce-bench first (see the header)")
    chosen = [m for m in MODELS if m[0] in args.models.split(",")]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    spruce_runs, keras_runs = {}, {}
    for m, _ in chosen:
        prepared = keras_model(m, args.size, args.batch, args.warmup)
        for _ in range(args.rounds):
            s = spruce(m, args.size, args.batch, args.steps, args.warmup)
            if m not in spruce_runs or s["images_per_second"] > spruce_runs[m]["images_per_second"]:
                spruce_runs[m] = s
            k = keras(prepared, args.batch, args.steps)
            if m not in keras_runs or k["images_per_second"] > keras_runs[m]["images_per_second"]:
                keras_runs[m] = k
        del prepared

    print(f"training throughput, batch {args.batch}, {args.size}x{args.size}, {args.steps} timed steps after "
          f"{args.warmup} warm-up, best of {args.rounds} alternating rounds, {os.cpu_count()} cores; "
          f"tf.keras {tf.__version__}")
    print(f"{'model':<26} {'Spruce img/s':>13} {'Keras img/s':>12} {'Spruce/Keras':>13}")
    for m, label in chosen:
        s, k = spruce_runs[m]["images_per_second"], keras_runs[m]["images_per_second"]
        print(f"{label:<26} {s:>13.1f} {k:>12.1f} {s / k:>12.2f}x")
    print(json.dumps({"spruce": spruce_runs, "keras": keras_runs}))


if __name__ == "__main__":
    main()
