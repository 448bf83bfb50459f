// Verifier and executor error paths: one test per GraphError case (and per attribute rule),
// each checking the case and that the description names the node or value involved.

import SpruceCore
import Testing

/// A valid conv → relu → gap graph to break in one place per test.
func smallValidGraph() -> Graph {
    Graph(
        nodes: [
            Node(name: "conv1", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1])),
                 inputs: ["x", "w", "b"], outputs: ["c"]),
            Node(name: "relu1", op: .relu, inputs: ["c"], outputs: ["r"]),
            Node(name: "gap", op: .globalAveragePool, inputs: ["r"], outputs: ["y"]),
        ],
        initializers: ["w": Tensor(shape: [4, 2, 3, 3], repeating: 0.1), "b": Tensor(shape: [4], repeating: 0)],
        inputs: [ValueInfo(name: "x", shape: [nil, 2, 6, 6])],
        outputs: [ValueInfo(name: "y", shape: [nil, 4, 1, 1])])
}

/// Expects `body` to throw a GraphError accepted by `match` whose description mentions `name`.
func expectGraphError(mentioning name: String, _ body: () throws -> Void,
                      sourceLocation: SourceLocation = #_sourceLocation,
                      _ match: (GraphError) -> Bool) {
    do {
        try body()
        Issue.record("expected a GraphError mentioning '\(name)'", sourceLocation: sourceLocation)
    } catch let error as GraphError {
        #expect(match(error), "unexpected case: \(error)", sourceLocation: sourceLocation)
        #expect(error.description.contains("'\(name)'"), "\(error.description)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct VerifierTests {
    @Test func validGraphPasses() throws {
        try smallValidGraph().verify()
    }

    @Test func undefinedValue() {
        var g = smallValidGraph()
        g.nodes[1].inputs = ["nowhere"]
        expectGraphError(mentioning: "relu1", { try g.verify() }) {
            if case .undefinedValue(node: "relu1", value: "nowhere") = $0 { return true } else { return false }
        }
    }

    @Test func valueReadBeforeItIsDefined() {
        var g = smallValidGraph()
        g.nodes.swapAt(0, 1)
        expectGraphError(mentioning: "relu1", { try g.verify() }) {
            if case .undefinedValue(node: "relu1", value: "c") = $0 { return true } else { return false }
        }
    }

    @Test func duplicateValue() {
        var g = smallValidGraph()
        g.nodes[1].outputs = ["c"]
        expectGraphError(mentioning: "c", { try g.verify() }) {
            if case .duplicateValue("c") = $0 { return true } else { return false }
        }
    }

    @Test func duplicateNode() {
        var g = smallValidGraph()
        g.nodes[2].name = "relu1"
        expectGraphError(mentioning: "relu1", { try g.verify() }) {
            if case .duplicateNode("relu1") = $0 { return true } else { return false }
        }
    }

    @Test(arguments: [["c", "c"], []])
    func arity(inputs: [String]) {
        var g = smallValidGraph()
        g.nodes[1].inputs = inputs
        expectGraphError(mentioning: "relu1", { try g.verify() }) {
            if case .arity(node: "relu1", op: "Relu", _) = $0 { return true } else { return false }
        }
    }

    @Test func omittedRequiredInputIsAnArityError() {
        var g = smallValidGraph()
        g.nodes[0].inputs = ["x", "", "b"]
        expectGraphError(mentioning: "conv1", { try g.verify() }) {
            if case .arity(node: "conv1", op: "Conv", _) = $0 { return true } else { return false }
        }
    }

    @Test func omittedOptionalBiasIsFine() throws {
        var g = smallValidGraph()
        g.nodes[0].inputs = ["x", "w", ""]
        try g.verify()
    }

    static let badConvAttributes: [ConvAttributes] = [
        ConvAttributes(kernelShape: [3, 3, 3]),
        ConvAttributes(kernelShape: [3, 3], strides: [0, 1]),
        ConvAttributes(kernelShape: [3, 3], dilations: [1, -1]),
        ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1]),
        ConvAttributes(kernelShape: [3, 3], pads: [-1, 0, 0, 0]),
        ConvAttributes(kernelShape: [3, 3], groups: 0),
        ConvAttributes(kernelShape: [3, 3], groups: 3),
        ConvAttributes(kernelShape: [3, 3], activation: .clip(min: 6, max: 0)),
    ]

    @Test(arguments: badConvAttributes)
    func invalidConvAttribute(_ a: ConvAttributes) {
        var g = smallValidGraph()
        g.nodes[0].op = .conv(a)
        expectGraphError(mentioning: "conv1", { try g.verify() }) {
            if case .invalidAttribute(node: "conv1", op: "Conv", _) = $0 { return true } else { return false }
        }
    }

    @Test(arguments: [
        Op.transpose(perm: [0, 0, 1, 2]), .clip(min: 1, max: 0), .reshape(shape: [-1, -1], allowZero: false),
        .reshape(shape: [-2, 4], allowZero: false), .softmax(axis: 4), .concat(axis: -5), .squeeze(axes: [7]),
        .unsqueeze(axes: []), .unsqueeze(axes: [1, 1]), .flatten(axis: 5), .pad(pads: [1, 1, 1], value: 0),
        .pad(pads: [0, 0], value: 0), .reduceMean(axes: [1, -3], keepDims: true),
        .maxPool(PoolAttributes(kernelShape: [2, 2], strides: [1, 0])),
        .averagePool(PoolAttributes(kernelShape: [0, 2])),
    ])
    func invalidAttribute(_ op: Op) {
        var g = smallValidGraph()
        g.nodes[1] = Node(name: "bad", op: op, inputs: ["c"], outputs: ["r"])
        g.outputs = [ValueInfo(name: "r", shape: [])]
        g.nodes.removeLast()
        expectGraphError(mentioning: "bad", { try g.verify() }) {
            if case .invalidAttribute(node: "bad", _, _) = $0 { return true } else { return false }
        }
    }

    @Test func weightShapeMustMatchKernelShape() {
        var g = smallValidGraph()
        g.nodes[0].op = .conv(ConvAttributes(kernelShape: [5, 5], pads: [1, 1, 1, 1]))
        expectGraphError(mentioning: "conv1", { try g.verify() }) {
            if case .shapeMismatch(node: "conv1", op: "Conv", _) = $0 { return true } else { return false }
        }
    }

    @Test(arguments: [
        (Op.add, [[2, 3], [4]]), (.matMul, [[2, 3], [2, 3]]), (.concat(axis: 0), [[2, 3], [2, 4]]),
        (.reshape(shape: [5, -1], allowZero: false), [[2, 3]]), (.squeeze(axes: [0]), [[2, 3]]),
        (.gemm(GemmAttributes()), [[2, 3], [4, 5]]), (.pad(pads: [0, -3, 0, 0], value: 0), [[2, 2]]),
        (.pad(pads: [0, 3], value: 0, mode: .reflect), [[3]]), (.pad(pads: [-1, 1], value: 0, mode: .reflect), [[2]]),
        (.pad(pads: [1, 0], value: 0, mode: .edge), [[0]]), (.pad(pads: [-3, 1], value: 0, mode: .edge), [[2]]),
        (.maxPool(PoolAttributes(kernelShape: [3, 3])), [[1, 1, 2, 2]]), (.globalAveragePool, [[4, 4]]),
        (.batchNormalization(epsilon: 1e-5), [[1, 3, 2, 2], [3], [3], [2], [3]]),
    ] as [(Op, [[Int]])])
    func shapeMismatch(op: Op, inputs: [[Int]]) {
        let g = singleNodeGraph(op, inputs: inputs)
        expectGraphError(mentioning: "n", { try g.verify() }) {
            if case .shapeMismatch(node: "n", _, _) = $0 { return true } else { return false }
        }
    }

    @Test func reflectPadLongerThanItsAxisSaysSo() {
        let g = singleNodeGraph(.pad(pads: [0, 0, 0, 4, 0, 0, 0, 1], value: 0, mode: .reflect), inputs: [[1, 3, 5, 4]])
        #expect(throws: GraphError.shapeMismatch(
            node: "n", op: "Pad",
            detail: "reflect pads [0, 0, 0, 4, 0, 0, 0, 1] must each be smaller than the axis they mirror: "
                + "axis 3 of [1, 3, 5, 4] has 4 elements, its pad is 4")) {
            try g.verify()
        }
    }

    @Test(arguments: [
        (Op.reshape(shape: [Int.max, 2], allowZero: false), [[2, 3]]),
        (.reshape(shape: [Int.max, Int.max, -1], allowZero: false), [[2, 3]]),
        (.add, [[1 << 40, 1], [1, 1 << 40]]),
        (.conv(ConvAttributes(kernelShape: [1, 1], strides: [Int.max, 1])), [[1, 1, 2, 2], [1, 1, 1, 1]]),
        (.maxPool(PoolAttributes(kernelShape: [1, 1], pads: [Int.max, 0, Int.max, 0])), [[1, 1, 2, 2]]),
        (.pad(pads: [Int.min, 0], value: 0), [[2]]),
        (.reduceMean(axes: [Int.min], keepDims: true), [[2]]),
    ] as [(Op, [[Int]])])
    func hostileValuesAreErrorsNotCrashes(op: Op, inputs: [[Int]]) {
        let g = singleNodeGraph(op, inputs: inputs)
        expectGraphError(mentioning: "n", { try g.verify() }) {
            switch $0 {
            case .shapeMismatch(node: "n", _, _), .invalidAttribute(node: "n", _, _): true
            default: false
            }
        }
    }

    @Test func hugeInputShapeIsABadInput() {
        let g = singleNodeGraph(.relu, inputs: [[1 << 40, 1 << 40]])
        expectGraphError(mentioning: "x0", { try g.verify() }) {
            if case .badInput(name: "x0", _) = $0 { return true } else { return false }
        }
    }

    @Test func declaredOutputShapeMustAgree() {
        var g = smallValidGraph()
        g.outputs = [ValueInfo(name: "y", shape: [nil, 5, 1, 1])]
        expectGraphError(mentioning: "gap", { try g.verify() }) {
            if case .shapeMismatch(node: "gap", _, _) = $0 { return true } else { return false }
        }
    }

    @Test func missingOutput() {
        var g = smallValidGraph()
        g.outputs.append(ValueInfo(name: "probabilities", shape: [nil, 4]))
        expectGraphError(mentioning: "probabilities", { try g.verify() }) {
            if case .missingOutput("probabilities") = $0 { return true } else { return false }
        }
    }

    @Test func invalidInitializer() {
        var g = smallValidGraph()
        g.initializers["b"]?.data.append(1)
        expectGraphError(mentioning: "b", { try g.verify() }) {
            if case .invalidInitializer(name: "b", _) = $0 { return true } else { return false }
        }
    }

    @Test func graphInputShadowingAnInitializerIsADuplicate() {
        var g = smallValidGraph()
        g.inputs.append(ValueInfo(name: "w", shape: [4, 2, 3, 3]))
        expectGraphError(mentioning: "w", { try g.verify() }) {
            if case .duplicateValue("w") = $0 { return true } else { return false }
        }
    }

    static let badFeeds: [[String: Tensor]] = [
        [:],
        ["x": Tensor(shape: [1, 3, 6, 6], repeating: 0)],
        ["x": Tensor(shape: [2, 6, 6], repeating: 0)],
        ["x": Tensor(shape: [1, 2, 6, 6], repeating: 0), "extra": Tensor(scalar: 1)],
    ]

    @Test(arguments: badFeeds)
    func executorRejectsBadInputs(feed: [String: Tensor]) {
        let name = feed["extra"] == nil ? "x" : "extra"
        expectGraphError(mentioning: name, { _ = try ReferenceExecutor(graph: smallValidGraph()).run(feed) }) {
            if case .badInput = $0 { return true } else { return false }
        }
    }

    @Test func executorRejectsTensorWithInconsistentData() {
        var x = Tensor(shape: [1, 2, 6, 6], repeating: 0)
        x.data.removeLast()
        expectGraphError(mentioning: "x", { _ = try ReferenceExecutor(graph: smallValidGraph()).run(["x": x]) }) {
            if case .badInput(name: "x", _) = $0 { return true } else { return false }
        }
    }

    @Test(arguments: [1, 3])
    func executorRunsAnyBatch(batch: Int) throws {
        var rng = SplitMix64(seed: 1)
        let out = try ReferenceExecutor(graph: smallValidGraph()).run(["x": rng.tensor([batch, 2, 6, 6])])
        #expect(out["y"]?.shape == [batch, 4, 1, 1])
    }
}
