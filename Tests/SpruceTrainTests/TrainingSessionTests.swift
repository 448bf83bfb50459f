// End-to-end tests of the training executor and TrainingSession: inference-mode forward equals
// the reference executor on a MobileNet-shaped graph, BatchNorm running averages follow the
// Keras formula, a small network learns a tiny separable dataset, pruning masks keep weights
// exactly zero, freezing keeps parameters unchanged, and a resumed run equals a straight one.

import Testing
@testable import SpruceCore
@testable import SpruceTrain

/// Small graphs for the session tests.
enum TestNetworks {
    /// conv-BN-ReLU6 stem, an inverted-residual block (expand, depthwise stride 2 with
    /// asymmetric pads, project), a residual block, MaxPool, concat, GAP, Gemm(1), Sigmoid.
    /// With `smooth`, ReLU/Clip become Sigmoid and MaxPool AveragePool (for finite differences
    /// that never cross a kink).
    static func mobileLike(seed: UInt64, channels: Int = 3, randomStatistics: Bool = true, smooth: Bool = false) -> Graph {
        var r = TrainTestRNG(seed: seed)
        var g = Graph()
        g.inputs = [ValueInfo(name: "input", shape: [nil, channels, 12, 12])]
        g.outputs = [ValueInfo(name: "prob", shape: [nil, 1])]
        func bn(_ name: String, _ c: Int, scale: Bool = true) -> [String] {
            if scale { g.initializers[name + ".gamma"] = r.tensor([c], 0.5, 1.5) }
            g.initializers[name + ".beta"] = r.tensor([c], -0.2, 0.2)
            g.initializers[name + ".mean"] = randomStatistics ? r.tensor([c], -0.3, 0.3) : Tensor(shape: [c], repeating: 0)
            g.initializers[name + ".var"] = randomStatistics ? r.tensor([c], 0.5, 2) : Tensor(shape: [c], repeating: 1)
            return [scale ? name + ".gamma" : "", name + ".beta", name + ".mean", name + ".var"]
        }
        func w(_ name: String, _ shape: [Int]) -> String {
            let fan = Float(shape.dropFirst().reduce(1, *))
            g.initializers[name] = r.tensor(shape, -(3 / fan).squareRoot(), (3 / fan).squareRoot())
            return name
        }
        let c = channels
        var nodes: [Node] = []
        func add(_ name: String, _ op: Op, _ inputs: [String]) { nodes.append(Node(name: name, op: op, inputs: inputs, outputs: [name])) }
        add("stem", .conv(ConvAttributes(kernelShape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1])), ["input", w("stem.w", [8, c, 3, 3])])
        add("stem.bn", .batchNormalization(epsilon: 1e-3), ["stem"] + bn("stem.bn", 8))
        add("stem.act", smooth ? .sigmoid : .clip(min: 0, max: 6), ["stem.bn"])
        add("expand", .conv(ConvAttributes(kernelShape: [1, 1])), ["stem.act", w("expand.w", [16, 8, 1, 1])])
        add("expand.bn", .batchNormalization(epsilon: 1e-3), ["expand"] + bn("expand.bn", 16))
        add("expand.act", smooth ? .sigmoid : .clip(min: 0, max: 6), ["expand.bn"])
        add("dw", .conv(ConvAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1], groups: 16)),
            ["expand.act", w("dw.w", [16, 1, 3, 3])])
        add("dw.bn", .batchNormalization(epsilon: 1e-3), ["dw"] + bn("dw.bn", 16, scale: false))
        add("dw.act", smooth ? .sigmoid : .relu, ["dw.bn"])
        add("project", .conv(ConvAttributes(kernelShape: [1, 1])), ["dw.act", w("project.w", [8, 16, 1, 1])])
        add("project.bn", .batchNormalization(epsilon: 1e-3), ["project"] + bn("project.bn", 8))
        add("res.conv", .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1])), ["project.bn", w("res.w", [8, 8, 3, 3]), w("res.b", [8])])
        add("res.add", .add, ["project.bn", "res.conv"])
        let window = PoolAttributes(kernelShape: [2, 2], strides: [2, 2])
        add("pool", smooth ? .averagePool(window) : .maxPool(window), ["res.add"])
        add("avg", .averagePool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])), ["res.add"])
        add("cat", .concat(axis: 1), ["pool", "avg"])
        add("gap", .globalAveragePool, ["cat"])
        add("flat", .flatten(axis: 1), ["gap"])
        add("logit", .gemm(GemmAttributes(transB: true)), ["flat", w("fc.w", [1, 16]), w("fc.b", [1])])
        add("prob", .sigmoid, ["logit"])
        g.nodes = nodes
        return g
    }

    /// A tiny dataset: 1-channel 6×6 images with a bright vertical (label 1) or horizontal
    /// (label 0) bar at a random position, plus noise.
    static func bars(count: Int, seed: UInt64) -> (Tensor, [Float]) {
        var r = TrainTestRNG(seed: seed)
        var data: [Float] = []
        var labels: [Float] = []
        for i in 0..<count {
            let vertical = i % 2 == 0
            let at = Int(r.next() % 6)
            for y in 0..<6 {
                for x in 0..<6 {
                    let on = vertical ? x == at : y == at
                    data.append((on ? 1 : 0) + r.uniform(-0.1, 0.1))
                }
            }
            labels.append(vertical ? 1 : 0)
        }
        return (Tensor(shape: [count, 1, 6, 6], data: data), labels)
    }

    static func barsNetwork(seed: UInt64) -> Graph {
        var r = TrainTestRNG(seed: seed)
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [nil, 1, 6, 6])]
        g.outputs = [ValueInfo(name: "p", shape: [nil, 1])]
        g.initializers = [
            "conv.w": r.tensor([4, 1, 3, 3], -0.5, 0.5), "conv.b": Tensor(shape: [4], repeating: 0),
            "bn.gamma": Tensor(shape: [4], repeating: 1), "bn.beta": Tensor(shape: [4], repeating: 0),
            "bn.mean": Tensor(shape: [4], repeating: 0), "bn.var": Tensor(shape: [4], repeating: 1),
            "fc.w": r.tensor([1, 4], -0.5, 0.5), "fc.b": Tensor(shape: [1], repeating: 0),
        ]
        g.nodes = [
            Node(name: "conv", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1])), inputs: ["x", "conv.w", "conv.b"], outputs: ["c"]),
            Node(name: "bn", op: .batchNormalization(epsilon: 1e-3), inputs: ["c", "bn.gamma", "bn.beta", "bn.mean", "bn.var"], outputs: ["n"]),
            Node(name: "relu", op: .relu, inputs: ["n"], outputs: ["a"]),
            Node(name: "pool", op: .maxPool(PoolAttributes(kernelShape: [2, 2], strides: [2, 2])), inputs: ["a"], outputs: ["m"]),
            Node(name: "gap", op: .globalAveragePool, inputs: ["m"], outputs: ["gp"]),
            Node(name: "flat", op: .flatten(axis: 1), inputs: ["gp"], outputs: ["f"]),
            Node(name: "fc", op: .gemm(GemmAttributes(transB: true)), inputs: ["f", "fc.w", "fc.b"], outputs: ["z"]),
            Node(name: "sig", op: .sigmoid, inputs: ["z"], outputs: ["p"]),
        ]
        return g
    }
}

@Suite struct TrainingSessionTests {
    @Test(arguments: [1, 3])
    func inferenceForwardEqualsReferenceExecutor(batch: Int) throws {
        let graph = TestNetworks.mobileLike(seed: 1)
        var r = TrainTestRNG(seed: 2)
        let x = r.tensor([batch, 3, 12, 12])
        let expected = try #require(try ReferenceExecutor(graph: graph).run(["input": x])["prob"])
        let executor = try TrainingExecutor(graph: graph)
        let got = try #require(try executor.forward(["input": x], mode: .inference).value("prob"))
        #expect(got.shape == expected.shape)
        for (a, b) in zip(got.data, expected.data) { #expect(abs(a - b) <= 1e-5 * max(1, abs(b))) }
        // The session's prediction is the same probability.
        let session = try TrainingSession(model: Model(graph: graph))
        #expect(session.lossKind == .binaryCrossEntropy && session.logitName == "logit")
        let p = try session.predict(x)
        for (a, b) in zip(p, expected.data) { #expect(abs(a - b) <= 1e-5) }
    }

    /// The whole graph in training mode (batch statistics through every layer), smooth
    /// activations so no perturbation crosses a kink; kinks are checked per operator.
    @Test func mobileLikeGraphGradientsInTrainingMode() throws {
        let graph = TestNetworks.mobileLike(seed: 4, channels: 2, smooth: true)
        var r = TrainTestRNG(seed: 5)
        var g = graph
        g.outputs = [ValueInfo(name: "logit", shape: [nil, 1])]
        g.nodes.removeLast()
        let result = try finiteDifferenceCheck(graph: g, inputs: ["input": r.tensor([2, 2, 12, 12])], output: "logit",
                                               mode: .training, eps: 1e-2)
        #expect(result.checked > 1000)
        #expect(result.worst <= 1, "worst \(result.worst) at \(result.detail)")
    }

    @Test func batchNormRunningAveragesFollowKeras() throws {
        var r = TrainTestRNG(seed: 8)
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [nil, 2, 3, 3])]
        g.outputs = [ValueInfo(name: "y", shape: [nil, 2, 3, 3])]
        g.initializers = ["s": Tensor(shape: [2], repeating: 1), "b": Tensor(shape: [2], repeating: 0),
                          "m": Tensor(shape: [2], data: [0.5, -1]), "v": Tensor(shape: [2], data: [2, 0.5])]
        g.nodes = [Node(name: "bn", op: .batchNormalization(epsilon: 1e-3), inputs: ["x", "s", "b", "m", "v"], outputs: ["y"])]
        let executor = try TrainingExecutor(graph: g, options: TrainingOptions(batchNormMomentum: 0.9))
        let x = r.tensor([4, 2, 3, 3], -2, 3)
        let y = try #require(try executor.forward(["x": x], mode: .training).value("y"))
        for c in 0..<2 {
            var values: [Double] = []
            for b in 0..<4 { for i in 0..<9 { values.append(Double(x.data[(b * 2 + c) * 9 + i])) } }
            let mean = values.reduce(0, +) / 36
            let unbiased = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 35
            // The output is normalized with the biased batch variance.
            let biased = unbiased * 35 / 36
            for b in 0..<4 {
                for i in 0..<9 {
                    let j = (b * 2 + c) * 9 + i
                    #expect(abs(Double(y.data[j]) - (Double(x.data[j]) - mean) / (biased + 1e-3).squareRoot()) < 1e-5)
                }
            }
            let m0 = [0.5, -1.0][c], v0 = [2.0, 0.5][c]
            let m = try #require(executor.parameter("m")).data[c], v = try #require(executor.parameter("v")).data[c]
            #expect(abs(Double(m) - (m0 * 0.9 + mean * 0.1)) < 1e-5)
            #expect(abs(Double(v) - (v0 * 0.9 + unbiased * 0.1)) < 1e-5)
        }
        // Inference mode leaves the statistics alone.
        let before = executor.parameter("m")
        _ = try executor.forward(["x": x], mode: .inference)
        #expect(executor.parameter("m") == before)
        #expect(executor.trainable[executor.parameterIndex["m"]!] == false)
        #expect(executor.trainable[executor.parameterIndex["s"]!] == true)
    }

    @Test func smallNetworkLearnsBars() throws {
        let (x, y) = TestNetworks.bars(count: 16, seed: 3)
        let session = try TrainingSession(model: Model(graph: TestNetworks.barsNetwork(seed: 9)),
                                          optimizer: .adam(learningRate: 0.03), seed: 1)
        let initial = try session.loss(inputs: x, labels: y)
        var last: Float = 0
        for _ in 0..<150 { last = try session.step(inputs: x, labels: y) }
        let final = try session.loss(inputs: x, labels: y)
        #expect(last.isFinite)
        #expect(final < initial / 10, "loss \(initial) → \(final)")
        let p = try session.predict(x)
        let correct = zip(p, y).filter { ($0 > 0.5) == ($1 > 0.5) }.count
        #expect(correct == y.count)
        #expect(session.stepCount == 150)
        // The trained model still runs in the reference executor with the same predictions.
        let ref = try #require(try ReferenceExecutor(graph: session.model.graph).run(["x": x])["p"])
        for (a, b) in zip(p, ref.data) { #expect(abs(a - b) < 1e-4) }
    }

    @Test func softmaxHeadLearnsThreeClasses() throws {
        var r = TrainTestRNG(seed: 12)
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [nil, 2])]
        g.outputs = [ValueInfo(name: "p", shape: [nil, 3])]
        g.initializers = ["w": r.tensor([2, 3], -0.1, 0.1), "b": Tensor(shape: [3], repeating: 0)]
        g.nodes = [Node(name: "fc", op: .gemm(GemmAttributes()), inputs: ["x", "w", "b"], outputs: ["z"]),
                   Node(name: "sm", op: .softmax(axis: 1), inputs: ["z"], outputs: ["p"])]
        let centers: [(Float, Float)] = [(2, 0), (-1, 2), (-1, -2)]
        var data: [Float] = [], labels: [Float] = []
        for i in 0..<30 {
            let c = i % 3
            data += [centers[c].0 + r.uniform(-0.3, 0.3), centers[c].1 + r.uniform(-0.3, 0.3)]
            labels.append(Float(c))
        }
        let x = Tensor(shape: [30, 2], data: data)
        let session = try TrainingSession(model: Model(graph: g), optimizer: .sgd(learningRate: 0.5, momentum: 0.9))
        #expect(session.lossKind == .softmaxCrossEntropy)
        let first = try session.step(inputs: x, labels: labels)
        for _ in 0..<60 { try session.step(inputs: x, labels: labels) }
        #expect(try session.loss(inputs: x, labels: labels) < first / 10)
        let p = try session.predict(x)
        for i in 0..<30 {
            let row = Array(p[(i * 3)..<(i * 3 + 3)])
            #expect(row.firstIndex(of: row.max()!) == Int(labels[i]))
        }
        #expect(throws: TrainingError.self) { try session.step(inputs: x, labels: [Float](repeating: 5, count: 30)) }
    }

    @Test func masksKeepPrunedWeightsExactlyZero() throws {
        let graph = TestNetworks.mobileLike(seed: 21)
        var r = TrainTestRNG(seed: 22)
        let session = try TrainingSession(model: Model(graph: graph), optimizer: .adam(learningRate: 0.01), seed: 3)
        var masks: [String: [Bool]] = [:]
        for name in ["expand.w", "project.w", "res.w", "fc.w", "dw.w"] {
            let count = try #require(graph.initializers[name]).count
            masks[name] = (0..<count).map { _ in r.next() % 4 != 0 }   // ~25 % pruned
        }
        try session.setMasks(masks)
        let x = r.tensor([4, 3, 12, 12])
        let labels: [Float] = [1, 0, 1, 0]
        for _ in 0..<5 { try session.step(inputs: x, labels: labels) }
        let trained = session.model.graph
        let state = session.optimizerState()
        for (name, mask) in masks {
            let w = try #require(trained.initializers[name])
            let original = try #require(graph.initializers[name])
            var changed = 0
            for i in 0..<mask.count {
                if mask[i] {
                    if w.data[i] != original.data[i] { changed += 1 }
                } else {
                    #expect(w.data[i] == 0, "\(name)[\(i)] = \(w.data[i])")
                    #expect(state.slots["m/\(name)"]?.data[i] == 0 && state.slots["v/\(name)"]?.data[i] == 0)
                }
            }
            #expect(changed > 0, "\(name): kept weights must train")
        }
        #expect(session.masks.count == masks.count)
        #expect(throws: TrainingError.self) { try session.setMasks(["nope": [true]]) }
        #expect(throws: TrainingError.self) { try session.setMasks(["fc.w": [true]]) }
    }

    /// Quantization-aware training: forward passes see each weight rounded per row as the
    /// artifact stores it, and the update applies the gradient at the rounded weights to the float
    /// ones (straight-through), so one step moves the float weights exactly as a session started
    /// from the rounded weights moves those.
    @Test func roundedWeightsTrainStraightThrough() throws {
        let graph = TestNetworks.mobileLike(seed: 31)
        var r = TrainTestRNG(seed: 32)
        let names = ["expand.w", "project.w", "res.w", "fc.w", "dw.w"]
        var roundedGraph = graph
        for name in names {
            let w = try #require(graph.initializers[name])
            let q = Int8Rows(quantizingDense: w.data, rows: w.shape[0], cols: w.count / w.shape[0], bits: 3)
            roundedGraph.initializers[name] = Tensor(shape: w.shape, data: q.dequantized())
        }
        let widths = Dictionary(uniqueKeysWithValues: names.map { ($0, 3) })
        let aware = try TrainingSession(model: Model(graph: graph), optimizer: .adam(learningRate: 0.01), seed: 3)
        try aware.setRoundedWeights(widths)
        #expect(aware.roundedWeights == widths)
        let plain = try TrainingSession(model: Model(graph: roundedGraph), optimizer: .adam(learningRate: 0.01), seed: 3)
        let x = r.tensor([4, 3, 12, 12])
        #expect(try aware.predict(x) == plain.predict(x))
        try aware.step(inputs: x, labels: [1, 0, 1, 0])
        try plain.step(inputs: x, labels: [1, 0, 1, 0])
        for name in names {
            let before = try #require(graph.initializers[name]).data, rounded = try #require(roundedGraph.initializers[name]).data
            let after = try #require(aware.model.graph.initializers[name]).data
            let reference = try #require(plain.model.graph.initializers[name]).data
            var offGrid = 0
            for i in before.indices {
                #expect(abs((after[i] - before[i]) - (reference[i] - rounded[i])) <= 1e-6, "\(name)[\(i)]")
                if after[i] != reference[i] { offGrid += 1 }
            }
            #expect(offGrid > 0, "\(name): the float weights, not the rounded ones, are kept")
        }
        #expect(throws: TrainingError.self) { try aware.setRoundedWeights(["nope": 4]) }
        #expect(throws: TrainingError.self) { try aware.setRoundedWeights(["fc.w": 9]) }
        try aware.setRoundedWeights([:])
        #expect(try aware.predict(x) != plain.predict(x))
    }

    /// Linear layers exported as MatMul with a constant [K, N] weight (here on [N, tokens, K]) are
    /// prunable layers like Gemm: their weights train, and their masks hold pruned weights at zero.
    @Test func matMulLinearWeightsTrainUnderMasks() throws {
        var r = TrainTestRNG(seed: 41)
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [nil, 5, 6])]
        g.outputs = [ValueInfo(name: "prob", shape: [nil, 1])]
        g.initializers = ["w1": r.tensor([6, 8], -0.6, 0.6), "b1": r.tensor([8], -0.1, 0.1),
                          "w2": r.tensor([8, 1], -0.6, 0.6), "b2": r.tensor([1], -0.1, 0.1)]
        g.nodes = [
            Node(name: "mlp", op: .matMul, inputs: ["x", "w1"], outputs: ["h"]),
            Node(name: "mlp.bias", op: .add, inputs: ["h", "b1"], outputs: ["hb"]),
            Node(name: "act", op: .sigmoid, inputs: ["hb"], outputs: ["s"]),
            Node(name: "pool", op: .reduceMean(axes: [1], keepDims: false), inputs: ["s"], outputs: ["p"]),
            Node(name: "head", op: .matMul, inputs: ["p", "w2"], outputs: ["o"]),
            Node(name: "head.bias", op: .add, inputs: ["o", "b2"], outputs: ["logit"]),
            Node(name: "prob", op: .sigmoid, inputs: ["logit"], outputs: ["prob"]),
        ]
        #expect(g.prunableLayers().map(\.tensor) == ["w1", "w2"])
        let session = try TrainingSession(model: Model(graph: g), optimizer: .adam(learningRate: 0.01), seed: 3)
        var masks: [String: [Bool]] = [:]
        for name in ["w1", "w2"] {
            let count = try #require(g.initializers[name]).count
            masks[name] = (0..<count).map { $0 % 4 != 1 }   // every fourth pruned
        }
        try session.setMasks(masks)
        let x = r.tensor([4, 5, 6], -1, 1)
        for _ in 0..<5 { try session.step(inputs: x, labels: [1, 0, 1, 0]) }
        let trained = session.model.graph
        for (name, mask) in masks {
            let w = try #require(trained.initializers[name]), original = try #require(g.initializers[name])
            var changed = 0
            for i in 0..<mask.count {
                if !mask[i] { #expect(w.data[i] == 0, "\(name)[\(i)] = \(w.data[i])") } else if w.data[i] != original.data[i] { changed += 1 }
            }
            #expect(changed > 0, "\(name): kept weights must train")
        }
    }

    @Test func frozenLayersDoNotChange() throws {
        let graph = TestNetworks.mobileLike(seed: 31)
        var r = TrainTestRNG(seed: 32)
        let session = try TrainingSession(model: Model(graph: graph), optimizer: .adam(learningRate: 0.01))
        session.freeze(.firstLayers(2))             // stem conv and stem BN
        session.freeze(.namePattern("fc.*"))
        #expect(session.frozenParameters == ["stem.w", "stem.bn.gamma", "stem.bn.beta", "fc.w", "fc.b"])
        let x = r.tensor([4, 3, 12, 12])
        for _ in 0..<3 { try session.step(inputs: x, labels: [1, 0, 0, 1]) }
        let trained = session.model.graph
        for name in session.frozenParameters.sorted() + ["stem.bn.mean", "stem.bn.var"] {
            #expect(trained.initializers[name] == graph.initializers[name], "\(name) changed")
        }
        for name in ["expand.w", "dw.w", "res.b", "expand.bn.mean"] {
            #expect(trained.initializers[name] != graph.initializers[name], "\(name) did not train")
        }
    }

    @Test func resumedRunEqualsStraightRun() throws {
        let graph = TestNetworks.mobileLike(seed: 41)
        var r = TrainTestRNG(seed: 42)
        let batches = (0..<4).map { _ in r.tensor([2, 3, 12, 12]) }
        let labels: [[Float]] = [[1, 0], [0, 1], [1, 1], [0, 0]]
        let straight = try TrainingSession(model: Model(graph: graph), optimizer: .adam(learningRate: 0.01))
        for i in 0..<4 { try straight.step(inputs: batches[i], labels: labels[i]) }

        let first = try TrainingSession(model: Model(graph: graph), optimizer: .adam(learningRate: 0.01))
        for i in 0..<2 { try first.step(inputs: batches[i], labels: labels[i]) }
        let resumed = try TrainingSession(model: first.model, optimizer: .adam(learningRate: 0.01))
        try resumed.restoreOptimizerState(first.optimizerState())
        for i in 2..<4 { try resumed.step(inputs: batches[i], labels: labels[i]) }
        #expect(resumed.model.graph.initializers == straight.model.graph.initializers)
        #expect(resumed.stepCount == 4)
    }

    @Test func badInputsAreReportedNotCrashed() throws {
        let session = try TrainingSession(model: Model(graph: TestNetworks.barsNetwork(seed: 1)))
        let (x, y) = TestNetworks.bars(count: 4, seed: 1)
        #expect(throws: TrainingError.self) { try session.step(inputs: x, labels: [1]) }
        #expect(throws: TrainingError.self) { try session.step(inputs: Tensor(shape: [4, 2, 6, 6], repeating: 0), labels: y) }
        #expect(throws: TrainingError.self) { try session.predict(Tensor(shape: [4, 1, 6], repeating: 0)) }
        let executor = session.executor
        let pass = try executor.forward(["x": x], mode: .training)
        #expect(throws: TrainingError.self) { try executor.backward(pass, seeds: ["nope": x]) }
        #expect(throws: TrainingError.self) { try executor.backward(pass, seeds: ["z": x]) }
    }
}
