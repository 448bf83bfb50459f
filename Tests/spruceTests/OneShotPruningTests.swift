// `spruce pack --sparsity`'s pruning (PruningAllocator with `PruningOptions.oneShot`) on hand-built
// graphs with seeded weights: exact overall sparsity, one global threshold, protected small layers
// (first conv, depthwise, classifier Gemm), the per-layer cap, --prune-all, ties, and every error.
// It does not pack or run models (ArtifactCommandTests does).
import Testing
import SpruceCore
import SprucePipeline

/// A MobileNet-like stack: a small first conv, a depthwise conv, two large pointwise convs, a small
/// classifier Gemm. Weights are seeded; `scales` multiplies each layer so magnitudes differ by layer.
func prunerTestGraph(seed: UInt64 = 7, scales: [Float] = [1, 1, 1, 1, 1]) -> Graph {
    var rng = SplitMix64(state: seed)
    func weights(_ shape: [Int], _ scale: Float) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in (rng.next() * 2 - 1) * scale })
    }
    let nodes = [
        Node(name: "stem", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1])), inputs: ["x", "w_stem"], outputs: ["a"]),
        Node(name: "dw", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1], groups: 8)), inputs: ["a", "w_dw"], outputs: ["b"]),
        Node(name: "pw1", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["b", "w_pw1"], outputs: ["c"]),
        Node(name: "pw2", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["c", "w_pw2"], outputs: ["d"]),
        Node(name: "gap", op: .globalAveragePool, inputs: ["d"], outputs: ["e"]),
        Node(name: "flat", op: .flatten(axis: 1), inputs: ["e"], outputs: ["f"]),
        Node(name: "fc", op: .gemm(GemmAttributes(transB: true)), inputs: ["f", "w_fc"], outputs: ["y"]),
    ]
    let initializers = [
        "w_stem": weights([8, 3, 3, 3], scales[0]),     // 216
        "w_dw": weights([8, 1, 3, 3], scales[1]),       // 72
        "w_pw1": weights([128, 8, 1, 1], scales[2]),    // 1024
        "w_pw2": weights([128, 128, 1, 1], scales[3]),  // 16384
        "w_fc": weights([2, 128], scales[4]),           // 256
    ]
    return Graph(nodes: nodes, initializers: initializers, inputs: [ValueInfo(name: "x", shape: [1, 3, 8, 8])],
                 outputs: [ValueInfo(name: "y", shape: [1, 2])])
}

/// 216 + 72 + 1024 + 16384 + 256 conv/Gemm weights; stem, dw and fc are each ≤ 2 % of them.
let prunerTestWeightCount = 17952

func zeros(_ t: Tensor?) -> Int { t?.data.filter { $0 == 0 }.count ?? -1 }

/// One-shot pruning as `spruce pack` does it.
func packPrune(_ graph: Graph, _ sparsity: Double, pruneAll: Bool = false, maxLayerSparsity: Double? = nil) throws -> (Graph, PruningReport) {
    var options = PruningOptions.oneShot(pruneAll: pruneAll)
    if let maxLayerSparsity { options.maxLayerSparsity = maxLayerSparsity }
    return try PruningAllocator(options: options).prune(graph, target: sparsity)
}

@Suite struct OneShotPruningTests {
    @Test("the overall sparsity is exact and small sensitive layers stay dense", arguments: [0.1, 0.5, 0.75, 0.9, 0.95])
    func exactSparsity(sparsity: Double) throws {
        let graph = prunerTestGraph()
        let (pruned, report) = try packPrune(graph, sparsity)
        let target = Int((sparsity * Double(prunerTestWeightCount)).rounded())
        let total = ["w_stem", "w_dw", "w_pw1", "w_pw2", "w_fc"].reduce(0) { $0 + zeros(pruned.initializers[$1]) }
        #expect(total == target)
        #expect(report.weightCount == prunerTestWeightCount)
        #expect(abs(report.achieved - Double(target) / Double(prunerTestWeightCount)) < 1e-12)
        for name in ["w_stem", "w_dw", "w_fc"] { #expect(pruned.initializers[name] == graph.initializers[name], "\(name) changed") }
        #expect(Set(report.protectedLayers.map(\.protectedReason)) == ["first conv", "depthwise conv", "classifier gemm"])
        #expect(pruned.nodes == graph.nodes)
    }

    @Test("one global threshold: every zeroed weight is no larger than every kept one")
    func globalThreshold() throws {
        // pw1 weights are about 3x smaller than pw2's: one global threshold prunes pw1 much harder
        // (expected ≈ 60 % against ≈ 18 %), and no layer reaches the cap.
        let graph = prunerTestGraph(scales: [1, 1, 0.3, 1, 1])
        let (pruned, report) = try packPrune(graph, 0.2)
        var largestZeroed: Float = 0, smallestKept = Float.infinity
        for name in ["w_pw1", "w_pw2"] {
            let before = try #require(graph.initializers[name]), after = try #require(pruned.initializers[name])
            for (b, a) in zip(before.data, after.data) {
                if a == 0 { largestZeroed = max(largestZeroed, abs(b)) } else { smallestKept = min(smallestKept, abs(b)); #expect(a == b) }
            }
        }
        #expect(largestZeroed <= smallestKept)
        let pw1 = try #require(report.layers.first { $0.tensor == "w_pw1" })
        let pw2 = try #require(report.layers.first { $0.tensor == "w_pw2" })
        let (f1, f2) = (Double(pw1.zerosAfter) / Double(pw1.elements), Double(pw2.zerosAfter) / Double(pw2.elements))
        #expect(f1 > 2 * f2 && f1 < 0.98, "pw1 \(f1), pw2 \(f2)")
    }

    @Test("no layer loses more than the per-layer cap")
    func perLayerCap() throws {
        let graph = prunerTestGraph(scales: [1, 1, 0.001, 1, 1])
        let (pruned, _) = try packPrune(graph, 0.5)
        #expect(zeros(pruned.initializers["w_pw1"]) == Int((0.98 * 1024).rounded(.down)))
        let (strict, _) = try packPrune(graph, 0.5, maxLayerSparsity: 0.6)
        #expect(zeros(strict.initializers["w_pw1"]) == Int((0.6 * 1024).rounded(.down)))
        let total = ["w_stem", "w_dw", "w_pw1", "w_pw2", "w_fc"].reduce(0) { $0 + zeros(strict.initializers[$1]) }
        #expect(total == Int((0.5 * Double(prunerTestWeightCount)).rounded()))
    }

    @Test("--prune-all prunes the protected layers too")
    func pruneAll() throws {
        let (pruned, report) = try packPrune(prunerTestGraph(), 0.9, pruneAll: true)
        #expect(report.protectedLayers.isEmpty)
        for name in ["w_stem", "w_dw", "w_fc"] { #expect(zeros(pruned.initializers[name]) > 0, "\(name) untouched") }
    }

    @Test("a layer holding more than 2 % of the weights is not protected")
    func largeLayersAreNotProtected() throws {
        var graph = prunerTestGraph()
        graph.initializers["w_pw2"] = Tensor(shape: [128, 8, 1, 1], repeating: 0.5)  // stem is now 216/2752 ≈ 7.8 %
        graph.nodes[3].op = .conv(ConvAttributes(kernelShape: [1, 1]))
        graph.nodes[3].inputs = ["b", "w_pw2"]
        let (_, report) = try packPrune(graph, 0.5)
        #expect(!report.protectedLayers.contains { $0.tensor == "w_stem" })
    }

    @Test("equal magnitudes still give the exact count")
    func ties() throws {
        var graph = prunerTestGraph()
        for name in ["w_pw1", "w_pw2"] {
            let t = try #require(graph.initializers[name])
            graph.initializers[name] = Tensor(shape: t.shape, repeating: -0.25)
        }
        let (pruned, report) = try packPrune(graph, 0.4)
        let total = ["w_pw1", "w_pw2"].reduce(0) { $0 + zeros(pruned.initializers[$1]) }
        #expect(total == Int((0.4 * Double(prunerTestWeightCount)).rounded()))
        #expect(abs(report.achieved - 0.4) <= PruningReport.tolerance)
    }

    @Test("existing zeros count towards the target and are never filled back in")
    func existingZeros() throws {
        var graph = prunerTestGraph()
        var w = try #require(graph.initializers["w_pw2"])
        for i in stride(from: 0, to: w.count, by: 4) { w.data[i] = 0 }  // 4096 zeros, ≈ 22.8 %
        graph.initializers["w_pw2"] = w
        let (pruned, _) = try packPrune(graph, 0.5)
        let after = try #require(pruned.initializers["w_pw2"])
        for i in stride(from: 0, to: w.count, by: 4) { #expect(after.data[i] == 0) }
        #expect(throws: PruningError.alreadySparser(requested: 0.1, current: 4096.0 / Double(prunerTestWeightCount))) {
            try packPrune(graph, 0.1)
        }
    }

    @Test("Linear layers exported as MatMul with a constant [K, N] weight are pruned like Gemm; the last is the classifier")
    func matMulLinearLayers() throws {
        var rng = SplitMix64(state: 11)
        func weights(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in rng.next() * 2 - 1 })
        }
        // x [1, 4 tokens, 64] → MLP (MatMul [64, 256] + Add, Relu, MatMul [256, 64]) → a batched MatMul with a
        // constant [4, 64, 64] (not a Linear layer) → mean over tokens → head MatMul [64, 2].
        let nodes = [
            Node(name: "fc1", op: .matMul, inputs: ["x", "w1"], outputs: ["a"]),
            Node(name: "fc1.bias", op: .add, inputs: ["a", "b1"], outputs: ["ab"]),
            Node(name: "act", op: .relu, inputs: ["ab"], outputs: ["r"]),
            Node(name: "fc2", op: .matMul, inputs: ["r", "w2"], outputs: ["c"]),
            Node(name: "mix", op: .matMul, inputs: ["c", "w3d"], outputs: ["d"]),
            Node(name: "pool", op: .reduceMean(axes: [1], keepDims: false), inputs: ["d"], outputs: ["p"]),
            Node(name: "head", op: .matMul, inputs: ["p", "w_head"], outputs: ["y"]),
        ]
        let initializers = ["w1": weights([64, 256]), "b1": weights([256]), "w2": weights([256, 64]),
                            "w3d": weights([1, 64, 64]), "w_head": weights([64, 2])]
        let graph = Graph(nodes: nodes, initializers: initializers, inputs: [ValueInfo(name: "x", shape: [1, 4, 64])],
                          outputs: [ValueInfo(name: "y", shape: [1, 2])])
        #expect(graph.prunableLayers().map(\.node) == ["fc1", "fc2", "head"])
        #expect(graph.prunableLayers().last?.roles == [.classifier])
        let (pruned, report) = try packPrune(graph, 0.75)
        #expect(report.layers.map(\.tensor) == ["w1", "w2", "w_head"])
        #expect(report.protectedLayers.map(\.tensor) == ["w_head"])  // 128 of 32896 weights
        #expect(abs(report.achieved - 0.75) <= PruningReport.allowedGap(weightCount: report.weightCount))
        #expect(zeros(pruned.initializers["w1"]) > 0 && zeros(pruned.initializers["w2"]) > 0)
        #expect(pruned.initializers["w_head"] == graph.initializers["w_head"])
        #expect(pruned.initializers["w3d"] == graph.initializers["w3d"])
    }

    @Test("errors: invalid sparsity, nothing to prune, unreachable targets")
    func errors() throws {
        #expect(throws: PruningError.invalidSparsity(1)) { try packPrune(prunerTestGraph(), 1) }
        #expect(throws: PruningError.invalidSparsity(-0.1)) { try packPrune(prunerTestGraph(), -0.1) }
        let empty = Graph(nodes: [Node(name: "r", op: .relu, inputs: ["x"], outputs: ["y"])],
                          inputs: [ValueInfo(name: "x", shape: [1])], outputs: [ValueInfo(name: "y", shape: [1])])
        #expect(throws: PruningError.noPrunableWeights) { try packPrune(empty, 0.5) }
        // Protected layers hold 544 of 17952 weights, so at most 0.98 · 17408 / 17952 ≈ 95.0 % is reachable.
        let result = Result { try packPrune(prunerTestGraph(), 0.97) }
        guard case .failure(let error) = result, let pruningError = error as? PruningError,
              case .unreachable(_, let reachable, let hint) = pruningError else {
            Issue.record("0.97 should be unreachable with protected layers: \(result)")
            return
        }
        #expect(abs(reachable - Double(Int(0.98 * 1024) + Int(0.98 * 16384)) / Double(prunerTestWeightCount)) < 1e-12)
        #expect(hint.contains("--prune-all"))
        #expect(pruningError.description.hasPrefix("sparsity 97.00% cannot be reached: at most 95."))
        #expect(throws: PruningError.self) { try packPrune(prunerTestGraph(), 0.99, pruneAll: true) }
        let (_, report) = try packPrune(prunerTestGraph(), 0.97, pruneAll: true)
        #expect(abs(report.achieved - 0.97) <= PruningReport.tolerance)
    }
}
