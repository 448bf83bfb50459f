// An end-to-end check on a MobileNet v2-shaped graph (width 1.0, 64×64 input, BN + ReLU6,
// residual adds, GAP, Gemm): verifies, runs, and lowers with unchanged outputs. No timing here.

import SpruceCore
import Testing

/// MobileNet v2's layer plan with random weights (t: expansion, c: channels, n: repeats, s: stride).
func mobileNetV2Like(seed: UInt64, classes: Int = 1000) -> Graph {
    var rng = SplitMix64(seed: seed)
    var nodes: [Node] = []
    var inits: [String: Tensor] = [:]
    var counter = 0
    func fresh(_ p: String) -> String { counter += 1; return "\(p)\(counter)" }
    func convBN(_ x: String, cIn: Int, cOut: Int, k: Int, s: Int, groups: Int, relu6: Bool) -> String {
        let name = fresh("conv")
        // He-like scale keeps activations in a sane range through 50 layers.
        let fan = Float(cIn / groups * k * k)
        inits[name + "_w"] = rng.tensor([cOut, cIn / groups, k, k], -1, 1)
        inits[name + "_w"]!.data = inits[name + "_w"]!.data.map { $0 * (3 / fan).squareRoot() }
        let a = ConvAttributes(kernelShape: [k, k], strides: [s, s], pads: [k / 2, k / 2, k / 2, k / 2], groups: groups)
        nodes.append(Node(name: name, op: .conv(a), inputs: [x, name + "_w"], outputs: [name + "_y"]))
        let bn = fresh("bn")
        inits[bn + "_s"] = rng.tensor([cOut], 0.8, 1.2)
        inits[bn + "_b"] = rng.tensor([cOut], -0.1, 0.1)
        inits[bn + "_m"] = rng.tensor([cOut], -0.1, 0.1)
        inits[bn + "_v"] = rng.tensor([cOut], 0.5, 1.5)
        nodes.append(Node(name: bn, op: .batchNormalization(epsilon: 1e-3),
                          inputs: [name + "_y", bn + "_s", bn + "_b", bn + "_m", bn + "_v"], outputs: [bn + "_y"]))
        guard relu6 else { return bn + "_y" }
        let act = fresh("relu6")
        nodes.append(Node(name: act, op: .clip(min: 0, max: 6), inputs: [bn + "_y"], outputs: [act + "_y"]))
        return act + "_y"
    }
    var x = convBN("image", cIn: 3, cOut: 32, k: 3, s: 2, groups: 1, relu6: true)
    var c = 32
    for (t, cOut, n, s) in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)] {
        for i in 0..<n {
            let stride = i == 0 ? s : 1
            var h = x
            if t != 1 { h = convBN(h, cIn: c, cOut: c * t, k: 1, s: 1, groups: 1, relu6: true) }
            h = convBN(h, cIn: c * t, cOut: c * t, k: 3, s: stride, groups: c * t, relu6: true)
            h = convBN(h, cIn: c * t, cOut: cOut, k: 1, s: 1, groups: 1, relu6: false)
            if stride == 1 && c == cOut {
                let add = fresh("add")
                nodes.append(Node(name: add, op: .add, inputs: [x, h], outputs: [add + "_y"]))
                h = add + "_y"
            }
            x = h
            c = cOut
        }
    }
    x = convBN(x, cIn: c, cOut: 1280, k: 1, s: 1, groups: 1, relu6: true)
    nodes.append(Node(name: "gap", op: .globalAveragePool, inputs: [x], outputs: ["pooled"]))
    nodes.append(Node(name: "flatten", op: .flatten(axis: 1), inputs: ["pooled"], outputs: ["features"]))
    inits["fc_w"] = rng.tensor([classes, 1280], -0.05, 0.05)
    inits["fc_b"] = rng.tensor([classes], -0.05, 0.05)
    nodes.append(Node(name: "fc", op: .gemm(GemmAttributes(transB: true)), inputs: ["features", "fc_w", "fc_b"], outputs: ["logits"]))
    nodes.append(Node(name: "dropout", op: .dropout, inputs: ["logits"], outputs: ["dropped"]))
    nodes.append(Node(name: "softmax", op: .softmax(axis: -1), inputs: ["dropped"], outputs: ["probabilities"]))
    return Graph(nodes: nodes, initializers: inits, inputs: [ValueInfo(name: "image", shape: [nil, 3, 64, 64])],
                 outputs: [ValueInfo(name: "probabilities", shape: [nil, classes])])
}

@Suite struct MobileNetLikeTests {
    @Test func runsAndLowersWithUnchangedOutputs() throws {
        let graph = mobileNetV2Like(seed: 2024)
        try graph.verify()
        var rng = SplitMix64(seed: 7)
        let image = rng.tensor([1, 3, 64, 64], 0, 1)
        let before = try #require(try ReferenceExecutor(graph: graph).run(["image": image])["probabilities"])
        #expect(before.shape == [1, 1000])
        #expect(before.data.allSatisfy { $0.isFinite })
        #expect(abs(before.data.reduce(0, +) - 1) < 1e-4)

        let lowered = try graph.lowered()
        let remaining = Set(lowered.nodes.map(\.op.onnxName))
        #expect(remaining == ["Conv", "Add", "GlobalAveragePool", "Flatten", "Gemm", "Softmax"])
        let after = try #require(try ReferenceExecutor(graph: lowered).run(["image": image])["probabilities"])
        #expect(maxAbsDiff(before.data, after.data) < 1e-5)
    }
}
