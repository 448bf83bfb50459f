// Inference lowering: structure after folding/fusing/removing, and unchanged outputs (reference
// executor before vs after on random inputs) for conv→bn→relu, conv→bn→clip, depthwise, shared
// weights, multi-consumer convs (must not fuse) and pass-through nodes at the graph output.

import SpruceCore
import Testing

/// Builds graphs of conv / bn / activation chains with seeded random weights.
struct GraphBuilder {
    var rng: SplitMix64
    var nodes: [Node] = []
    var initializers: [String: Tensor] = [:]

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    @discardableResult
    mutating func conv(_ name: String, _ x: String, cIn: Int, cOut: Int, kernel: Int = 3, groups: Int = 1,
                       bias: Bool = true, weight: String? = nil, sparsity: Bool = false) -> String {
        let w = weight ?? name + "_w"
        if initializers[w] == nil {
            var t = rng.tensor([cOut, cIn / groups, kernel, kernel])
            if sparsity { for i in t.data.indices where i % 3 != 0 { t.data[i] = 0 } }
            initializers[w] = t
        }
        var inputs = [x, w]
        if bias { initializers[name + "_b"] = rng.tensor([cOut]); inputs.append(name + "_b") }
        let a = ConvAttributes(kernelShape: [kernel, kernel], pads: [kernel / 2, kernel / 2, kernel / 2, kernel / 2],
                               groups: groups)
        nodes.append(Node(name: name, op: .conv(a), inputs: inputs, outputs: [name + "_out"]))
        return name + "_out"
    }

    @discardableResult
    mutating func batchNorm(_ name: String, _ x: String, channels c: Int) -> String {
        initializers[name + "_scale"] = rng.tensor([c], 0.5, 2)
        initializers[name + "_bias"] = rng.tensor([c])
        initializers[name + "_mean"] = rng.tensor([c])
        initializers[name + "_var"] = rng.tensor([c], 0.1, 3)
        nodes.append(Node(name: name, op: .batchNormalization(epsilon: 1e-3),
                          inputs: [x] + ["_scale", "_bias", "_mean", "_var"].map { name + $0 }, outputs: [name + "_out"]))
        return name + "_out"
    }

    @discardableResult
    mutating func add(_ name: String, _ op: Op, _ inputs: [String], output: String? = nil) -> String {
        let out = output ?? name + "_out"
        nodes.append(Node(name: name, op: op, inputs: inputs, outputs: [out]))
        return out
    }

    func graph(channels: Int, outputs: [String]) -> Graph {
        Graph(nodes: nodes, initializers: initializers, inputs: [ValueInfo(name: "x", shape: [nil, channels, 6, 5])],
              outputs: outputs.map { ValueInfo(name: $0, shape: []) })
    }
}

/// Lowers `graph`, checks it verifies, and compares outputs on a random batch of 2.
@discardableResult
func expectLoweringPreservesOutputs(_ graph: Graph, channels: Int,
                                    sourceLocation: SourceLocation = #_sourceLocation) throws -> Graph {
    let lowered = try graph.lowered()
    try lowered.verify()
    var rng = SplitMix64(seed: 99)
    let x = rng.tensor([2, channels, 6, 5], -2, 2)
    let before = try ReferenceExecutor(graph: graph).run(["x": x])
    let after = try ReferenceExecutor(graph: lowered).run(["x": x])
    #expect(Set(before.keys) == Set(after.keys), sourceLocation: sourceLocation)
    for (name, expected) in before {
        let got = try #require(after[name])
        #expect(got.shape == expected.shape, sourceLocation: sourceLocation)
        let scale = max(1, expected.data.map(abs).max() ?? 0)
        #expect(maxAbsDiff(got.data, expected.data) <= 1e-4 * scale, "output \(name)", sourceLocation: sourceLocation)
    }
    return lowered
}

func ops(_ g: Graph) -> [String] { g.nodes.map(\.op.onnxName) }

func convActivation(_ g: Graph, _ name: String) -> FusedActivation? {
    guard let node = g.nodes.first(where: { $0.name == name }), case .conv(let a) = node.op else { return nil }
    return a.activation
}

@Suite struct LoweringTests {
    @Test(arguments: [(true, Op.relu, FusedActivation.relu), (false, .clip(min: 0, max: 6), .clip(min: 0, max: 6))])
    func convBatchNormActivationBecomesOneConv(bias: Bool, act: Op, fused: FusedActivation) throws {
        var b = GraphBuilder(seed: 1)
        let c = b.conv("conv", "x", cIn: 3, cOut: 4, bias: bias)
        let n = b.batchNorm("bn", c, channels: 4)
        b.add("act", act, [n], output: "y")
        let lowered = try expectLoweringPreservesOutputs(b.graph(channels: 3, outputs: ["y"]), channels: 3)
        #expect(ops(lowered) == ["Conv"])
        #expect(convActivation(lowered, "conv") == fused)
        #expect(lowered.nodes[0].outputs == ["y"])
        // Only the folded weight and bias remain.
        #expect(lowered.initializers.count == 2)
        #expect(lowered.initializers.keys.contains("conv_w"))
    }

    @Test(arguments: [8, 3])
    func depthwiseConvBatchNormRelu6(channels: Int) throws {
        var b = GraphBuilder(seed: 2)
        let c = b.conv("dw", "x", cIn: channels, cOut: channels, groups: channels, bias: false)
        let n = b.batchNorm("bn", c, channels: channels)
        let r = b.add("relu6", .clip(min: 0, max: 6), [n])
        let p = b.conv("pw", r, cIn: channels, cOut: 5, kernel: 1)
        let n2 = b.batchNorm("bn2", p, channels: 5)
        b.add("gap", .globalAveragePool, [n2], output: "y")
        let lowered = try expectLoweringPreservesOutputs(b.graph(channels: channels, outputs: ["y"]), channels: channels)
        #expect(ops(lowered) == ["Conv", "Conv", "GlobalAveragePool"])
        #expect(convActivation(lowered, "dw") == .clip(min: 0, max: 6))
        #expect(convActivation(lowered, "pw") == FusedActivation.none)
    }

    @Test func foldingKeepsPrunedWeightsExactlyZero() throws {
        var b = GraphBuilder(seed: 3)
        let c = b.conv("conv", "x", cIn: 3, cOut: 4, sparsity: true)
        b.batchNorm("bn", c, channels: 4)
        let graph = b.graph(channels: 3, outputs: ["bn_out"])
        let lowered = try expectLoweringPreservesOutputs(graph, channels: 3)
        let before = try #require(graph.initializers["conv_w"]), after = try #require(lowered.initializers["conv_w"])
        for (x, y) in zip(before.data, after.data) { #expect((x == 0) == (y == 0)) }
        #expect(before.data.contains(0))
    }

    @Test func convWithTwoConsumersIsNeitherFoldedNorFused() throws {
        var b = GraphBuilder(seed: 4)
        let c = b.conv("conv", "x", cIn: 3, cOut: 3)
        let r = b.add("relu", .relu, [c])
        b.add("sum", .add, [c, r], output: "y")
        let c2 = b.conv("conv2", "x", cIn: 3, cOut: 3)
        let n = b.batchNorm("bn", c2, channels: 3)
        b.add("sum2", .add, [c2, n], output: "z")
        let lowered = try expectLoweringPreservesOutputs(b.graph(channels: 3, outputs: ["y", "z"]), channels: 3)
        #expect(ops(lowered) == ["Conv", "Relu", "Add", "Conv", "BatchNormalization", "Add"])
        #expect(convActivation(lowered, "conv") == FusedActivation.none)
    }

    @Test func convWhoseOutputIsAGraphOutputIsNotFused() throws {
        var b = GraphBuilder(seed: 5)
        let c = b.conv("conv", "x", cIn: 3, cOut: 2)
        b.add("relu", .relu, [c], output: "y")
        let lowered = try expectLoweringPreservesOutputs(b.graph(channels: 3, outputs: ["y", c]), channels: 3)
        #expect(ops(lowered) == ["Conv", "Relu"])
    }

    @Test func passThroughNodesAtTheOutputKeepItsName() throws {
        var b = GraphBuilder(seed: 6)
        let c = b.conv("conv", "x", cIn: 3, cOut: 4)
        let n = b.batchNorm("bn", c, channels: 4)
        let r = b.add("relu", .relu, [n])
        let d = b.add("dropout", .dropout, [r])
        b.add("identity", .identity, [d], output: "y")
        let lowered = try expectLoweringPreservesOutputs(b.graph(channels: 3, outputs: ["y"]), channels: 3)
        #expect(ops(lowered) == ["Conv"])
        #expect(lowered.outputs.map(\.name) == ["y"])
        #expect(lowered.nodes[0].outputs == ["y"])
    }

    @Test func passThroughInTheMiddleIsRewired() throws {
        var b = GraphBuilder(seed: 7)
        let c = b.conv("conv", "x", cIn: 3, cOut: 4)
        let i = b.add("identity", .identity, [c])
        let d = b.add("dropout", .dropout, [i])
        let g = b.add("gap", .globalAveragePool, [d])
        b.add("sig", .sigmoid, [g], output: "y")
        b.add("sig2", .sigmoid, [i], output: "z")
        let lowered = try expectLoweringPreservesOutputs(b.graph(channels: 3, outputs: ["y", "z"]), channels: 3)
        #expect(ops(lowered) == ["Conv", "GlobalAveragePool", "Sigmoid", "Sigmoid"])
    }

    @Test func identityFromAGraphInputToAnOutputStays() throws {
        var b = GraphBuilder(seed: 8)
        b.add("identity", .identity, ["x"], output: "y")
        let lowered = try expectLoweringPreservesOutputs(b.graph(channels: 2, outputs: ["y"]), channels: 2)
        #expect(ops(lowered) == ["Identity"])
    }

    @Test func sharedWeightsAreNotOverwritten() throws {
        var b = GraphBuilder(seed: 9)
        let c1 = b.conv("conv1", "x", cIn: 3, cOut: 3, weight: "shared")
        let n1 = b.batchNorm("bn1", c1, channels: 3)
        let c2 = b.conv("conv2", n1, cIn: 3, cOut: 3, weight: "shared")
        b.batchNorm("bn2", c2, channels: 3)
        let graph = b.graph(channels: 3, outputs: ["bn2_out"])
        let lowered = try expectLoweringPreservesOutputs(graph, channels: 3)
        #expect(ops(lowered) == ["Conv", "Conv"])
        #expect(lowered.nodes[0].inputs[1] != lowered.nodes[1].inputs[1])
        // The first fold copies the shared weight; the second may then reuse the name in place.
        #expect(lowered.initializers.count == 4)
    }

    @Test func invalidGraphIsRejected() {
        var g = smallValidGraph()
        g.nodes[1].inputs = ["nowhere"]
        #expect(throws: GraphError.self) { try g.lowered() }
    }
}

/// tf2onnx's layout when its transpose optimizer fails (Keras MobileNet v3): every conv wrapped in
/// Transposes to NHWC and back around HardSwish as Add/Clip/Mul/Mul, squeeze-and-excitation
/// (keep-dims ReduceMean, gate conv, Mul), a per-channel constant and a Pad. Lowering cancels
/// every Transpose and computes the same outputs; a Transpose read by a graph output stays.
@Suite struct TransposeCancellationTests {
    static let toNHWC = Op.transpose(perm: [0, 2, 3, 1]), toNCHW = Op.transpose(perm: [0, 3, 1, 2])

    func nhwcGraph(exposeTransposed: Bool) -> Graph {
        var b = GraphBuilder(seed: 21)
        b.initializers["three"] = Tensor(shape: [], data: [3])
        b.initializers["sixth"] = Tensor(shape: [1], data: [1.0 / 6])
        b.initializers["shift"] = b.rng.tensor([4])
        let c = b.conv("expand", "x", cIn: 3, cOut: 4, kernel: 1)
        let t = b.add("to_nhwc", Self.toNHWC, [c])
        let a = b.add("plus3", .add, ["three", t])
        let r6 = b.add("relu6", .clip(min: 0, max: 6), [a])
        let m = b.add("times", .mul, [t, r6])
        let h = b.add("hardswish", .mul, [m, "sixth"])
        let mean = b.add("squeeze", .reduceMean(axes: [1, 2], keepDims: true), [h])
        let back = b.add("to_nchw_se", Self.toNCHW, [mean])
        let gate = b.conv("gate", back, cIn: 4, cOut: 4, kernel: 1)
        let sig = b.add("gate_sigmoid", .sigmoid, [gate])
        let gateNHWC = b.add("gate_nhwc", Self.toNHWC, [sig])
        let scaled = b.add("scale", .mul, [h, gateNHWC])
        let shifted = b.add("shift_add", .add, [scaled, "shift"])
        let padded = b.add("pad", .pad(pads: [0, 1, 0, 0, 0, 0, 1, 0], value: 0), [shifted])
        let nchw = b.add("to_nchw", Self.toNCHW, [padded])
        let y = b.conv("project", nchw, cIn: 4, cOut: 2, kernel: 3)
        return b.graph(channels: 3, outputs: exposeTransposed ? [y, t] : [y])
    }

    @Test func everyTransposeCancels() throws {
        let lowered = try expectLoweringPreservesOutputs(nhwcGraph(exposeTransposed: false), channels: 3)
        let transposes = lowered.nodes.filter { if case .transpose = $0.op { true } else { false } }
        #expect(transposes.isEmpty, "\(transposes.map(\.name))")
        // The squeeze-and-excitation mean now reduces the NCHW spatial axes.
        #expect(lowered.nodes.contains { $0.op == .reduceMean(axes: [2, 3], keepDims: true) })
        // x · relu6(x + 3) · (1/6) is one HardSwish.
        #expect(lowered.nodes.filter { $0.op == .hardSwish }.map(\.name) == ["hardswish"])
    }

    /// Keras's other order, relu6(x + 3) · (1/6) then · x, is a HardSwish; without the last Mul it
    /// is a HardSigmoid(1/6, 1/2); a factor other than 1/6 or an intermediate read twice is left.
    @Test func kerasHardActivationsBecomeOneNode() throws {
        var b = GraphBuilder(seed: 22)
        b.initializers["three"] = Tensor(shape: [], data: [3])
        b.initializers["sixth"] = Tensor(shape: [], data: [1.0 / 6])
        b.initializers["fifth"] = Tensor(shape: [], data: [0.2])
        let c = b.conv("conv", "x", cIn: 3, cOut: 4, kernel: 1)
        let a = b.add("a", .add, [c, "three"])
        let r = b.add("r", .clip(min: 0, max: 6), [a])
        let s6 = b.add("s", .mul, [r, "sixth"])
        let swish = b.add("swish", .mul, [c, s6])
        let a2 = b.add("a2", .add, [swish, "three"])
        let r2 = b.add("r2", .clip(min: 0, max: 6), [a2])
        let gate = b.add("gate", .mul, ["sixth", r2])
        let a3 = b.add("a3", .add, [gate, "three"])
        let r3 = b.add("r3", .clip(min: 0, max: 6), [a3])
        let other = b.add("other", .mul, [r3, "fifth"])
        let lowered = try expectLoweringPreservesOutputs(b.graph(channels: 3, outputs: [other, r2]), channels: 3)
        #expect(lowered.nodes.filter { $0.op == .hardSwish }.map(\.name) == ["swish"])
        #expect(!lowered.nodes.contains { if case .hardSigmoid = $0.op { true } else { false } }, "r2 is an output")
        #expect(lowered.nodes.contains { $0.name == "other" && $0.op == .mul })
        b.nodes.removeAll { $0.name.hasPrefix("a3") || $0.name.hasPrefix("r3") || $0.name == "other" }
        let sigmoid = try expectLoweringPreservesOutputs(b.graph(channels: 3, outputs: [gate]), channels: 3)
        #expect(sigmoid.nodes.filter { $0.op == .hardSigmoid(alpha: 1.0 / 6, beta: 0.5) }.map(\.name) == ["gate"])
    }

    @Test func aTransposeReadByAGraphOutputStays() throws {
        let lowered = try expectLoweringPreservesOutputs(nhwcGraph(exposeTransposed: true), channels: 3)
        #expect(lowered.nodes.contains { $0.outputs == ["to_nhwc_out"] })
    }
}
