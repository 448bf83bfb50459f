// Each fast training kernel against its plain twin, SpruceCore's reference executor, on random
// shapes: GEMM convolution (batched and per-image paths, groups, strides, asymmetric pads),
// depthwise (flat stride-1 and phase-split strided paths), pooling, batch norm, layer norm, elementwise, slice.

import Testing
@testable import SpruceCore
@testable import SpruceTrain

struct KernelCase: CustomStringConvertible, Sendable {
    var label: String
    var op: Op
    var x: [Int]
    var parameters: [(String, [Int])]
    var description: String { label }
}

func kernelCases() -> [KernelCase] {
    func conv(_ label: String, _ x: [Int], m: Int, k: Int, s: Int = 1, pads: [Int] = [0, 0, 0, 0], groups: Int = 1) -> KernelCase {
        KernelCase(label: label, op: .conv(ConvAttributes(kernelShape: [k, k], strides: [s, s], pads: pads, groups: groups)), x: x,
                   parameters: [("w", [m, x[1] / groups, k, k]), ("b", [m])])
    }
    let bn = [("s", [5]), ("b", [5]), ("m", [5]), ("v", [5])]
    return [
        conv("conv-batched", [3, 5, 9, 7], m: 6, k: 3, pads: [1, 1, 1, 1]),
        conv("conv-per-image", [2, 4, 20, 18], m: 5, k: 3, s: 1, pads: [1, 0, 2, 1]),
        conv("conv-stride2", [2, 3, 33, 35], m: 4, k: 3, s: 2, pads: [0, 0, 1, 1]),
        conv("pointwise-per-image", [2, 7, 16, 17], m: 9, k: 1),
        conv("pointwise-batched", [4, 7, 5, 3], m: 3, k: 1),
        // GEMMs split over threads along columns (N·OH·OW) and along rows (output channels).
        conv("conv-batched-split-cols", [4, 16, 9, 9], m: 8, k: 3, pads: [1, 1, 1, 1]),
        conv("conv-batched-split-rows", [2, 4, 5, 5], m: 160, k: 3, pads: [1, 1, 1, 1]),
        conv("grouped", [2, 6, 17, 16], m: 9, k: 3, pads: [1, 1, 1, 1], groups: 3),
        conv("stem7x7", [2, 3, 23, 23], m: 4, k: 7, s: 2, pads: [3, 3, 3, 3]),
        conv("depthwise-s1", [3, 5, 13, 21], m: 5, k: 3, pads: [1, 1, 1, 1], groups: 5),
        conv("depthwise-s1-tiny", [4, 5, 3, 3], m: 5, k: 3, pads: [1, 1, 1, 1], groups: 5),
        conv("depthwise-s2", [2, 5, 24, 24], m: 5, k: 3, s: 2, pads: [0, 0, 1, 1], groups: 5),
        conv("depthwise-s2-small", [3, 4, 6, 6], m: 4, k: 3, s: 2, pads: [1, 1, 1, 1], groups: 4),
        conv("depthwise-5x5", [2, 3, 19, 11], m: 3, k: 5, pads: [2, 2, 2, 2], groups: 3),
        // Odd left pad with rows long enough for the SIMD column-phase split; stride 3.
        conv("depthwise-s2-wide", [2, 3, 7, 37], m: 3, k: 3, s: 2, pads: [1, 1, 1, 1], groups: 3),
        conv("depthwise-s3", [2, 3, 11, 13], m: 3, k: 3, s: 3, pads: [1, 1, 1, 1], groups: 3),
        KernelCase(label: "maxpool", op: .maxPool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])),
                   x: [2, 3, 15, 14], parameters: []),
        KernelCase(label: "avgpool", op: .averagePool(PoolAttributes(kernelShape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1])),
                   x: [2, 3, 9, 8], parameters: []),
        KernelCase(label: "avgpool-include-pad-ceil",
                   op: .averagePool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 0, 1, 1], countIncludePad: true,
                                                   ceilMode: true)), x: [2, 3, 8, 9], parameters: []),
        KernelCase(label: "batchnorm", op: .batchNormalization(epsilon: 1e-3), x: [3, 5, 7, 9], parameters: bn),
        KernelCase(label: "gap", op: .globalAveragePool, x: [3, 5, 7, 9], parameters: []),
        KernelCase(label: "clip", op: .clip(min: 0, max: 0.5), x: [3, 5, 7, 9], parameters: []),
        KernelCase(label: "relu", op: .relu, x: [3, 5, 7, 9], parameters: []),
        KernelCase(label: "hardswish", op: .hardSwish, x: [3, 5, 7, 9], parameters: []),
        KernelCase(label: "hardsigmoid", op: .hardSigmoid(alpha: 1 / 6, beta: 0.5), x: [3, 5, 7, 9], parameters: []),
        KernelCase(label: "mul-channel", op: .mul, x: [3, 5, 7, 9], parameters: [("c", [5, 1, 1])]),
        KernelCase(label: "layernorm", op: .layerNormalization(axis: -1, epsilon: 1e-5), x: [3, 5, 7, 9],
                   parameters: [("s", [9]), ("b", [9])]),
        KernelCase(label: "layernorm-two-axes-no-bias", op: .layerNormalization(axis: 2, epsilon: 1e-6), x: [3, 5, 7, 9],
                   parameters: [("s", [7, 9])]),
        KernelCase(label: "erf", op: .erf, x: [3, 5, 7, 9], parameters: []),
        KernelCase(label: "gelu", op: .gelu(tanhApproximation: false), x: [3, 5, 7, 9], parameters: []),
        KernelCase(label: "gelu-tanh", op: .gelu(tanhApproximation: true), x: [3, 5, 7, 9], parameters: []),
        KernelCase(label: "transpose", op: .transpose(perm: [0, 2, 3, 1]), x: [2, 3, 4, 5], parameters: []),
        KernelCase(label: "slice-channels", op: .slice(starts: [2], ends: [Int.max], axes: [1], steps: [1]), x: [3, 5, 7, 9], parameters: []),
        KernelCase(label: "slice-strided", op: .slice(starts: [-2, 1, 8], ends: [0, 100, -10], axes: [1, 2, 3], steps: [-1, 3, -2]),
                   x: [3, 5, 7, 9], parameters: []),
    ]
}

@Suite struct KernelTests {
    @Test(arguments: kernelCases())
    func fastKernelMatchesReference(_ c: KernelCase) throws {
        var r = TrainTestRNG(seed: UInt64(c.label.count) * 31 + 7)
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: c.x.map { Optional($0) })]
        g.outputs = [ValueInfo(name: "y", shape: [])]
        for (name, shape) in c.parameters {
            g.initializers[name] = name == "v" ? r.tensor(shape, 0.5, 2) : r.tensor(shape)
        }
        g.nodes = [Node(name: c.label, op: c.op, inputs: ["x"] + c.parameters.map(\.0), outputs: ["y"])]
        let x = r.tensor(c.x)
        let expected = try #require(try ReferenceExecutor(graph: g).run(["x": x])["y"])
        let got = try #require(try TrainingExecutor(graph: g).forward(["x": x], mode: .inference, differentiable: false).value("y"))
        #expect(got.shape == expected.shape)
        var worst: Float = 0
        for (a, b) in zip(got.data, expected.data) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
        #expect(worst <= 2e-5, "\(c.label): worst relative error \(worst)")
    }
}
