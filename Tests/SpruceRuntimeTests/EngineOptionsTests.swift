// Engine options: threads (1 vs 2 vs 3 give bit-identical outputs: each output channel is
// computed by the same code whichever thread runs it) and the kernel choice for sparse
// convolutions (stored sparse, densified, or per-layer cost model: equal within float tolerance).
import SpruceCore
import SpruceFormat
@testable import SpruceRuntime
import Testing

/// Layers big enough that the engine splits them between threads, with channel counts that are
/// not multiples of the GEMM panel height: conv 3×3 → depthwise s2 → 1×1 + HardSwish (fused) →
/// grouped 3×3 → 3×3 on 4×4 + HardSwish → GAP → gemm → sigmoid.
func splitModel(sparsity: Double, seed: UInt64) -> Model {
    var rng = SplitMix64(seed: seed)
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 8, 32, 32])]
    func weight(_ name: String, _ shape: [Int], prune: Bool = true) {
        let t = randomTensor(shape, &rng, scale: 0.4)
        g.initializers[name] = prune ? pruned(t, sparsity) : t
    }
    weight("w1", [30, 8, 3, 3]); weight("b1", [30], prune: false)
    weight("wd", [30, 1, 3, 3], prune: false)
    weight("w2", [64, 30, 1, 1]); weight("b2", [64], prune: false)
    weight("w3", [40, 32, 3, 3])
    weight("w4", [52, 40, 3, 3]); weight("b4", [52], prune: false)
    weight("wf", [1, 52]); weight("bf", [1], prune: false)
    g.nodes = [
        Node(name: "conv1", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1], activation: .relu)),
             inputs: ["x", "w1", "b1"], outputs: ["c1"]),
        Node(name: "dw", op: .conv(ConvAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], groups: 30,
                                                  activation: .clip(min: 0, max: 6))),
             inputs: ["c1", "wd"], outputs: ["d1"]),
        Node(name: "pw", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["d1", "w2", "b2"], outputs: ["p0"]),
        Node(name: "pw_hardswish", op: .hardSwish, inputs: ["p0"], outputs: ["p1"]),
        Node(name: "grouped", op: .conv(ConvAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], groups: 2,
                                                       activation: .relu)),
             inputs: ["p1", "w3"], outputs: ["g1"]),
        Node(name: "tiny", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1])), inputs: ["g1", "w4", "b4"],
             outputs: ["t0"]),
        Node(name: "tiny_hardswish", op: .hardSwish, inputs: ["t0"], outputs: ["t1"]),
        Node(name: "gap", op: .globalAveragePool, inputs: ["t1"], outputs: ["a"]),
        Node(name: "flat", op: .flatten(axis: 1), inputs: ["a"], outputs: ["f"]),
        Node(name: "fc", op: .gemm(GemmAttributes(transB: true)), inputs: ["f", "wf", "bf"], outputs: ["logit"]),
        Node(name: "prob", op: .sigmoid, inputs: ["logit"], outputs: ["y"]),
    ]
    g.outputs = [ValueInfo(name: "logit", shape: [nil, 1]), ValueInfo(name: "y", shape: [nil, 1])]
    return Model(graph: g)
}

struct OptionsCase: Sendable, CustomTestStringConvertible {
    var sparsity: Double
    var int8: Bool
    var testDescription: String { "sparsity \(sparsity) \(int8 ? "int8" : "f32")" }
}

let optionsCases: [OptionsCase] = [0.0, 0.5, 0.75, 0.9].flatMap { s in [false, true].map { OptionsCase(sparsity: s, int8: $0) } }

/// Every intermediate value of the model as graph outputs, so comparisons see every layer.
func exposingIntermediates(_ model: Model) -> Model {
    var m = model
    for node in m.graph.nodes where !node.outputs.isEmpty && !m.graph.outputs.contains(where: { $0.name == node.outputs[0] }) {
        if case .flatten = node.op { continue }
        if case .gemm = node.op { continue }
        m.graph.outputs.append(ValueInfo(name: node.outputs[0], shape: []))
    }
    return m
}

@Test(arguments: optionsCases)
func threadsGiveIdenticalOutputs(_ t: OptionsCase) throws {
    let bytes = try ArtifactWriter(int8: t.int8).encode(splitModel(sparsity: t.sparsity, seed: 31))
    var rng = SplitMix64(seed: 8)
    let input = randomTensor([2, 8, 32, 32], &rng)
    for choice in KernelChoice.allCases {
        let one = try Engine(bytes: bytes, options: EngineOptions(threads: 1, kernelChoice: choice))
        let expected = try one.run(["x": input])
        for threads in [2, 3] {
            let engine = try Engine(bytes: bytes, options: EngineOptions(threads: threads, kernelChoice: choice))
            #expect(engine.pool != nil)
            // The split is real: some step is large enough to be dispatched to the pool.
            #expect(engine.plan.steps.contains { $0.parallelUnits > 1 && $0.workEstimate >= Engine.parallelWorkThreshold })
            #expect(try engine.run(["x": input]) == expected, "\(choice) threads \(threads)")
            #expect(try engine.run(["x": input]) == expected, "\(choice) threads \(threads), second run")
        }
    }
}

@Test(arguments: optionsCases)
func kernelChoicesAgree(_ t: OptionsCase) throws {
    let model = exposingIntermediates(residualModel(sparsity: t.sparsity, seed: 13))
    for m in [model, splitModel(sparsity: t.sparsity, seed: 32)] {
        let bytes = try ArtifactWriter(int8: t.int8).encode(m)
        let artifact = try ArtifactReader.decode(bytes)
        var rng = SplitMix64(seed: 6)
        let input = randomTensor([2] + Array(artifact.graph.inputs[0].shape.dropFirst().map { $0 ?? 1 }), &rng)
        let reference = try ReferenceExecutor(graph: artifact.denseModel().graph).run(["x": input])
        for choice in KernelChoice.allCases {
            let engine = try Engine(bytes: bytes, options: EngineOptions(kernelChoice: choice))
            let outputs = try engine.run(["x": input])
            for (name, e) in reference {
                expectClose(outputs[name]?.data ?? [], e.data, tolerance: 1e-4, "\(t.testDescription) \(choice) \(name)")
            }
        }
    }
}

@Test func kernelChoiceChangesThePlan() throws {
    // At 50 % sparsity every sparse-stored conv is computed sparsely under .stored and densely under .dense.
    let bytes = try ArtifactWriter().encode(splitModel(sparsity: 0.5, seed: 33))
    let stored = try Engine(bytes: bytes, options: EngineOptions(kernelChoice: .stored))
    let dense = try Engine(bytes: bytes, options: EngineOptions(kernelChoice: .dense))
    #expect(stored.plan.steps.filter { $0 is SparseConvStep }.count == 4)
    #expect(dense.plan.steps.filter { $0 is SparseConvStep }.isEmpty)
}

@Test func costModelPrefersSparseWhereSparseWins() {
    // 3×3 512→512 on 4×4: dense at 50 %, sparse at 90 % (gathered rows of 16); 3×3 64→64 on
    // 32×32 at 90 %: sparse. Pointwise 1×1 on a 16×16 map at 90 %: sparse.
    let tiny = ConvGeometry(inChannels: 512, inHeight: 4, inWidth: 4, outChannels: 512, kernelHeight: 3, kernelWidth: 3,
                            pads: [1, 1, 1, 1])
    #expect(ConvCostModel.densePays(tiny, nonZeros: 512 * 4608 / 2))
    #expect(!ConvCostModel.densePays(tiny, nonZeros: 512 * 4608 / 10))
    let large = ConvGeometry(inChannels: 64, inHeight: 32, inWidth: 32, outChannels: 64, kernelHeight: 3, kernelWidth: 3,
                             pads: [1, 1, 1, 1])
    #expect(!ConvCostModel.densePays(large, nonZeros: 64 * 576 / 10))
    let pointwise = ConvGeometry(inChannels: 256, inHeight: 16, inWidth: 16, outChannels: 256, kernelHeight: 1, kernelWidth: 1)
    #expect(!ConvCostModel.densePays(pointwise, nonZeros: 256 * 256 / 10))
}

@Test(arguments: [0.0, 0.9])
func zeroPadBeforeConvIsFoldedAndExact(_ sparsity: Double) throws {
    // Keras' ZeroPadding2D → strided conv (as MobileNet v2 exports), a zero pad read by two convs,
    // and a non-zero pad that must stay a step.
    var rng = SplitMix64(seed: 41)
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 4, 9, 10])]
    g.initializers["w1"] = pruned(randomTensor([6, 4, 3, 3], &rng), sparsity)
    g.initializers["w2"] = pruned(randomTensor([5, 4, 3, 3], &rng), sparsity)
    g.initializers["w3"] = pruned(randomTensor([3, 4, 1, 1], &rng), sparsity)
    g.nodes = [
        Node(name: "pad", op: .pad(pads: [0, 0, 0, 1, 0, 0, 1, 2], value: 0), inputs: ["x"], outputs: ["xp"]),
        Node(name: "c1", op: .conv(ConvAttributes(kernelShape: [3, 3], strides: [2, 2])), inputs: ["xp", "w1"], outputs: ["y1"]),
        Node(name: "c2", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 0, 0, 1])), inputs: ["xp", "w2"],
             outputs: ["y2"]),
        Node(name: "pad2", op: .pad(pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 0.5), inputs: ["x"], outputs: ["xq"]),
        Node(name: "c3", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["xq", "w3"], outputs: ["y3"]),
    ]
    g.outputs = [ValueInfo(name: "y1", shape: []), ValueInfo(name: "y2", shape: []), ValueInfo(name: "y3", shape: [])]
    let model = Model(graph: g)
    let bytes = try ArtifactWriter().encode(model)
    let engine = try Engine(bytes: bytes)
    #expect(engine.plan.steps.filter { $0 is PadStep }.map(\.node) == ["pad2"])
    let input = randomTensor([2, 4, 9, 10], &rng)
    let expected = try ReferenceExecutor(graph: try ArtifactReader.decode(bytes).denseModel().graph).run(["x": input])
    let actual = try engine.run(["x": input])
    for (name, e) in expected { expectClose(actual[name]?.data ?? [], e.data, tolerance: 1e-4, "\(name)") }
}

/// Sparse convolutions of every split kind: pointwise on 32×32 (input copied, split by column
/// blocks, one and two L2 tiles), 3×3 s2 from phase planes and 3×3 on 8×8 from gathered im2col
/// (both built in channel parts before the row split), pointwise on 16×16 (in place, 4 blocks:
/// three threads get 2, 2 and 0) and a pointwise on 8×8 split by rows.
func sparseSplitModel(sparsity: Double, seed: UInt64) -> Model {
    var rng = SplitMix64(seed: seed)
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 16, 32, 32])]
    var nodes: [Node] = []
    var previous = "x"
    func conv(_ name: String, _ inC: Int, _ outC: Int, kernel: Int, stride: Int = 1) {
        g.initializers["w_" + name] = pruned(randomTensor([outC, inC, kernel, kernel], &rng, scale: 0.4), sparsity)
        g.initializers["b_" + name] = randomTensor([outC], &rng, scale: 0.1)
        let pad = kernel / 2
        nodes.append(Node(name: name, op: .conv(ConvAttributes(kernelShape: [kernel, kernel], strides: [stride, stride],
                                                               pads: [pad, pad, pad, pad], activation: .relu)),
                          inputs: [previous, "w_" + name, "b_" + name], outputs: [name + "_y"]))
        g.outputs.append(ValueInfo(name: name + "_y", shape: []))
        previous = name + "_y"
    }
    conv("pw1", 16, 128, kernel: 1)
    conv("pw2", 128, 40, kernel: 1)
    conv("c3", 40, 48, kernel: 3, stride: 2)
    conv("pw3", 48, 160, kernel: 1)
    conv("c4", 160, 64, kernel: 3, stride: 2)
    conv("pw4", 64, 400, kernel: 1)
    g.nodes = nodes
    return Model(graph: g)
}

@Test(arguments: [(0.5, false), (0.9, false), (0.9, true)])
func sparseSplitsGiveIdenticalOutputs(_ sparsity: Double, _ int8: Bool) throws {
    let bytes = try ArtifactWriter(int8: int8).encode(sparseSplitModel(sparsity: sparsity, seed: 51))
    var rng = SplitMix64(seed: 9)
    let input = randomTensor([2, 16, 32, 32], &rng)
    let reference = try ReferenceExecutor(graph: try ArtifactReader.decode(bytes).denseModel().graph).run(["x": input])
    let one = try Engine(bytes: bytes, options: EngineOptions(threads: 1, kernelChoice: .stored))
    let expected = try one.run(["x": input])
    for (name, e) in reference { expectClose(expected[name]?.data ?? [], e.data, tolerance: 1e-3, "\(name)") }
    // Every split kind is planned and large enough to be dispatched to the pool.
    let split = one.plan.steps.compactMap { $0 as? SparseConvStep }
        .filter { $0.workEstimate >= Engine.parallelWorkThreshold }
    #expect(split.contains { $0.splitsColumns && $0.sharedWorkspaceBytes > 0 })
    #expect(split.contains { $0.splitsColumns && $0.sharedWorkspaceBytes == 0 })
    #expect(split.contains { $0.prepareUnits > 0 && sparseGathers($0.geometry) })
    #expect(split.contains { $0.prepareUnits > 0 && !sparseGathers($0.geometry) })
    #expect(split.contains { !$0.splitsColumns && $0.prepareUnits == 0 })
    for threads in [2, 3] {
        let engine = try Engine(bytes: bytes, options: EngineOptions(threads: threads, kernelChoice: .stored))
        #expect(try engine.run(["x": input]) == expected, "threads \(threads)")
        #expect(try engine.run(["x": input]) == expected, "threads \(threads), second run")
    }
}

/// Two residual joins: 1×1 → 1×1 on 32×32 (split by column blocks) + its input, then a ReLU, and a 1×1 s2 on
/// 16×16 (split by rows) + a 1×1/s2 max-pool shortcut (ResNet v2's downsampling block).
func fusedResidualModel(sparsity: Double, seed: UInt64) -> Model {
    var rng = SplitMix64(seed: seed)
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 16, 32, 32])]
    func weight(_ name: String, _ shape: [Int], prune: Bool = true) {
        let t = randomTensor(shape, &rng, scale: 0.3)
        g.initializers[name] = prune ? pruned(t, sparsity) : t
    }
    weight("w1", [64, 16, 1, 1]); weight("b1", [64], prune: false)
    weight("w2", [64, 64, 1, 1]); weight("b2", [64], prune: false)
    weight("w3", [64, 64, 1, 1])
    weight("wf", [1, 64], prune: false)
    g.nodes = [
        Node(name: "pw1", op: .conv(ConvAttributes(kernelShape: [1, 1], activation: .relu)), inputs: ["x", "w1", "b1"],
             outputs: ["a"]),
        Node(name: "pw2", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["a", "w2", "b2"], outputs: ["b"]),
        Node(name: "join1", op: .add, inputs: ["b", "a"], outputs: ["r0"]),
        Node(name: "relu1", op: .relu, inputs: ["r0"], outputs: ["r"]),
        Node(name: "pool", op: .maxPool(PoolAttributes(kernelShape: [1, 1], strides: [2, 2])), inputs: ["r"],
             outputs: ["s"]),
        Node(name: "pw3", op: .conv(ConvAttributes(kernelShape: [1, 1], strides: [2, 2])), inputs: ["r", "w3"],
             outputs: ["c"]),
        Node(name: "join2", op: .add, inputs: ["s", "c"], outputs: ["t"]),
        Node(name: "gap", op: .globalAveragePool, inputs: ["t"], outputs: ["g"]),
        Node(name: "flat", op: .flatten(axis: 1), inputs: ["g"], outputs: ["f"]),
        Node(name: "fc", op: .gemm(GemmAttributes(transB: true)), inputs: ["f", "wf"], outputs: ["y"]),
    ]
    g.outputs = [ValueInfo(name: "y", shape: [nil, 1])]
    return Model(graph: g)
}

@Test(arguments: [OptionsCase(sparsity: 0, int8: false), OptionsCase(sparsity: 0.5, int8: true)])
func residualAddsFuseIntoConvolutions(_ t: OptionsCase) throws {
    let bytes = try ArtifactWriter(int8: t.int8).encode(fusedResidualModel(sparsity: t.sparsity, seed: 41))
    let artifact = try ArtifactReader.decode(bytes)
    var rng = SplitMix64(seed: 9)
    let input = randomTensor([2, 16, 32, 32], &rng)
    let reference = try ReferenceExecutor(graph: artifact.denseModel().graph).run(["x": input])
    for choice in KernelChoice.allCases {
        let one = try Engine(bytes: bytes, options: EngineOptions(threads: 1, kernelChoice: choice))
        // Both joins are folded into the convolutions before them, the ReLU after the first too:
        // no Add or Clip step is left.
        let steps = one.plan.steps
        #expect(!steps.contains { $0.node.hasPrefix("join") || $0.node == "relu1" }, "\(choice): \(steps.map(\.node))")
        #expect(steps.filter { $0.detail.contains("+residual") }.map(\.node) == ["pw2", "pw3"], "\(choice)")
        #expect(steps.filter { $0.detail.hasSuffix("+residual+clip") }.map(\.node) == ["pw2"], "\(choice)")
        let expected = try one.run(["x": input])
        expectClose(expected["y"]?.data ?? [], reference["y"]?.data ?? [1], tolerance: 1e-4, "\(t.testDescription) \(choice)")
        for threads in [2, 3] {
            // With a pool, both convolutions are large enough to be split, so their Adds stay steps.
            let engine = try Engine(bytes: bytes, options: EngineOptions(threads: threads, kernelChoice: choice))
            #expect(engine.plan.steps.filter { $0.node.hasPrefix("join") }.count == 2, "\(choice)")
            #expect(!engine.plan.steps.contains { $0.detail.contains("+residual") }, "\(choice)")
            #expect(try engine.run(["x": input]) == expected, "\(choice) threads \(threads)")
        }
        // A fused step honours any split of its units, as the PlanStep contract asks (the pool never
        // splits one): run in three parts, it writes the bits it writes whole.
        let buffers = Buffers(arena: one.arena, offsets: UnsafePointer(one.offsets), workspace: one.workspace,
                              shared: one.sharedWorkspace)
        for step in steps where step.detail.contains("+residual") {
            let (slot, count): (Int, Int) = if let s = step as? SparseConvStep { (s.output, s.geometry.outChannels * s.geometry.outPlane) }
                else if let s = step as? ConvDenseStep { (s.output, s.geometry.outChannels * s.geometry.outPlane) } else { (0, 0) }
            #expect(count > 0 && step.parallelUnits >= 3, "\(step.node)")
            step.run(buffers)
            let whole = Array(UnsafeBufferPointer(start: buffers[slot], count: count))
            step.prepare(buffers, units: 0..<step.prepareUnits)
            for part in 0..<3 { step.run(buffers, units: step.units(part: part, of: 3)) }
            #expect(Array(UnsafeBufferPointer(start: buffers[slot], count: count)) == whole, "\(choice) \(step.node)")
        }
    }
}
