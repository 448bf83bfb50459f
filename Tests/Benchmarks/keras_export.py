#!/usr/bin/env python3
# Keras classifiers exported as Keras users export them: keras.applications with random weights
# (BatchNorm statistics randomized so activations are O(1)), converted by tf2onnx (opset 17, NHWC
# input, batch 1) at their native sizes, with a seeded input and onnxruntime's output on it.
# Run by torchvision_bench.py --family keras under `make pyenv`'s .venv (tensorflow-cpu, tf2onnx);
# the timing then runs under the current onnxruntime of .venv-torch.
# Usage: .venv/bin/python Tests/Benchmarks/keras_export.py NAME SIZE OUT_DIR
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    name, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    tf.keras.utils.set_random_seed(0)
    builder = getattr(tf.keras.applications, name)
    kwargs = {"include_preprocessing": False} if name.startswith(("MobileNetV3", "EfficientNetV2")) else {}
    model = builder(weights=None, input_shape=(size, size, 3), **kwargs)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            # Weights in Keras's order; InceptionV3's layers have no gamma (scale=False).
            n = layer.get_weights()[-1].shape
            values = [rng.uniform(0.5, 1.5, n)] if layer.scale else []
            values += [rng.normal(0, 0.1, n)] if layer.center else []
            values += [rng.normal(0, 0.1, n), rng.uniform(0.5, 2.0, n)]
            layer.set_weights([v.astype(np.float32) for v in values])
    spec = (tf.TensorSpec((1, size, size, 3), tf.float32, name="input"),)
    path = os.path.join(out, f"{name}.onnx")
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=path + ".tmp")
    os.replace(path + ".tmp", path)
    x = rng.standard_normal((1, size, size, 3), dtype=np.float32)
    np.save(os.path.join(out, f"{name}.in.npy"), x)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    np.save(os.path.join(out, f"{name}.ort.npy"), session.run(None, {session.get_inputs()[0].name: x})[0])


if __name__ == "__main__":
    main()
