#!/usr/bin/env python3
"""Checks `spruce export` against onnxruntime: for fixtures in fixtures/onnx/manifest.json, packs
each model (float32 and int8, several sparsities), exports the artifact back to ONNX, runs the
export with onnxruntime and compares with `spruce run MODEL.spruce` on the fixture inputs.

Not part of `swift test` (tests must not need Python). Run it from the repository root:
    .venv/bin/python Tests/Benchmarks/check_export_onnxruntime.py [--spruce .build/debug/spruce] [--all]
Without --all it checks the Keras models and a few operator fixtures. Exits 1 on any mismatch.

onnxruntime runs with ORT_DISABLE_ALL, as fixtures/make_fixtures.py does: onnxruntime 1.18's
basic-level PadFusion folds a zero Pad into a following MaxPool's pads, which MaxPool treats as
-inf, so its optimized run of the exported (lowered) Keras ResNet differs by up to 6 % from the
unoptimized one (and from Spruce). See onnx/optimizer#318 and onnxsim#290 for the same mistake.
"""
import argparse, json, os, subprocess, sys, tempfile

import numpy as np
import onnxruntime as ort

QUICK = ["conv_basic.onnx", "conv_groups.onnx", "gemm_transb.onnx", "pytorch_flatten_gemm.onnx",
         "residual_block.onnx", "keras_mobilenetv2.onnx", "keras_resnetv2_small.onnx",
         "keras_inceptionv3_small.onnx"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spruce", default=".build/debug/spruce")
    ap.add_argument("--all", action="store_true", help="every manifest entry")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="relative: |a-b| <= tol * max(1, |b|)")
    args = ap.parse_args()
    manifest = json.load(open("fixtures/onnx/manifest.json"))
    entries = manifest if args.all else [e for e in manifest if e["model"] in QUICK]
    failures = 0
    checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        for entry in entries:
            model = os.path.join("fixtures/onnx", entry["model"])
            stem = os.path.splitext(entry["model"])[0]
            for sparsity in ["0", "0.5", "0.9"]:
                for int8 in [False, True]:
                    for sparse_init in [False, True]:
                        tag = f"{stem} sparsity {sparsity}{' int8' if int8 else ''}{' sparse-init' if sparse_init else ''}"
                        art = os.path.join(tmp, f"{stem}.spruce")
                        onnx_out = os.path.join(tmp, f"{stem}.onnx")
                        pack = [args.spruce, "pack", model, "-o", art, "--sparsity", sparsity, "--prune-all"]
                        if int8:
                            pack.append("--int8")
                        r = subprocess.run(pack, capture_output=True, text=True)
                        if r.returncode != 0:
                            print(f"SKIP {tag}: pack: {r.stderr.strip()}")
                            continue
                        exp = [args.spruce, "export", art, "-o", onnx_out] + (["--sparse-initializers"] if sparse_init else [])
                        r = subprocess.run(exp, capture_output=True, text=True)
                        if r.returncode != 0:
                            print(f"FAIL {tag}: export: {r.stderr.strip()}")
                            failures += 1
                            continue
                        so = ort.SessionOptions()
                        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
                        sess = ort.InferenceSession(onnx_out, so, providers=["CPUExecutionProvider"])
                        names = [i.name for i in sess.get_inputs()]
                        feeds = {n: np.load(os.path.join("fixtures/onnx", entry["inputs"][n])) for n in names}
                        expected = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
                        out = os.path.join(tmp, "out.npy")
                        files = [os.path.join("fixtures/onnx", entry["inputs"][n]) for n in names]
                        r = subprocess.run([args.spruce, "run", art, *files, "--output", out], capture_output=True, text=True)
                        if r.returncode != 0:
                            print(f"FAIL {tag}: run: {r.stderr.strip()}")
                            failures += 1
                            continue
                        failed = False
                        for name, want in expected.items():
                            path = out if len(expected) == 1 else out[:-4] + "." + "".join(
                                c if c.isalnum() or c in "-_" else "_" for c in name) + ".npy"
                            got = np.load(path)
                            err = np.max(np.abs(got - want) / np.maximum(1, np.abs(want))) if want.size else 0.0
                            checked += 1
                            if got.shape != want.shape or not err <= args.tolerance:
                                print(f"FAIL {tag}: output {name}: shape {got.shape} vs {want.shape}, max rel err {err:.3g}")
                                failures += 1
                                failed = True
                        if failed:
                            continue
                        note = " (reference executor)" if "note:" in r.stderr else ""
                        print(f"ok   {tag}{note}")
    print(f"{checked} outputs compared, {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
