// Training-mode BatchNormalization fused with the ReLU / Clip that alone reads it: gradients
// checked by finite differences, and whole training runs bit-for-bit equal to the unfused
// executor (the fusion must change speed only). Not a test of the unfused kernels.

import Testing
@testable import SpruceCore
@testable import SpruceTrain

@Suite struct FusionTests {
    /// conv → BN → Clip(0, 6) → conv → BN → ReLU → GAP → Gemm, plus a BN whose output two
    /// nodes read (never fused) and a BN feeding a Sigmoid (not an activation it folds).
    static func network(seed: UInt64) -> Graph {
        var r = TrainTestRNG(seed: seed)
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [nil, 2, 6, 6])]
        g.outputs = [ValueInfo(name: "y", shape: [nil, 1])]
        func bn(_ p: String, _ c: Int) -> [String: Tensor] {
            [p + "g": r.tensor([c], 0.5, 1.5), p + "b": r.tensor([c], -0.2, 0.2),
             p + "m": Tensor(shape: [c], repeating: 0), p + "v": Tensor(shape: [c], repeating: 1)]
        }
        g.initializers = ["w1": r.tensor([4, 2, 3, 3]), "w2": r.tensor([4, 4, 3, 3]), "w3": r.tensor([4, 4, 1, 1]),
                          "fc": r.tensor([1, 4]), "fcb": r.tensor([1])]
        for (p, c) in [("n1", 4), ("n2", 4), ("n3", 4), ("n4", 4)] { g.initializers.merge(bn(p, c)) { a, _ in a } }
        func bnNode(_ p: String, _ input: String, _ output: String) -> Node {
            Node(name: p, op: .batchNormalization(epsilon: 1e-3), inputs: [input, p + "g", p + "b", p + "m", p + "v"], outputs: [output])
        }
        let conv3 = ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1])
        g.nodes = [
            Node(name: "c1", op: .conv(conv3), inputs: ["x", "w1"], outputs: ["c1"]),
            bnNode("n1", "c1", "b1"),
            Node(name: "a1", op: .clip(min: 0, max: 6), inputs: ["b1"], outputs: ["a1"]),
            Node(name: "c2", op: .conv(conv3), inputs: ["a1", "w2"], outputs: ["c2"]),
            bnNode("n2", "c2", "b2"),
            Node(name: "a2", op: .relu, inputs: ["b2"], outputs: ["a2"]),
            Node(name: "c3", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["a2", "w3"], outputs: ["c3"]),
            bnNode("n3", "c3", "b3"),
            Node(name: "a3", op: .relu, inputs: ["b3"], outputs: ["a3"]),
            Node(name: "s3", op: .add, inputs: ["a3", "b3"], outputs: ["s3"]),   // b3 read twice: not fused
            bnNode("n4", "s3", "b4"),
            Node(name: "a4", op: .sigmoid, inputs: ["b4"], outputs: ["a4"]),
            Node(name: "gap", op: .globalAveragePool, inputs: ["a4"], outputs: ["gp"]),
            Node(name: "flat", op: .flatten(axis: 1), inputs: ["gp"], outputs: ["f"]),
            Node(name: "fc", op: .gemm(GemmAttributes(transB: true)), inputs: ["f", "fc", "fcb"], outputs: ["y"]),
        ]
        return g
    }

    @Test func fusesOnlySingleReaderActivations() throws {
        let executor = try TrainingExecutor(graph: Self.network(seed: 1))
        let fused = executor.steps.indices.filter { executor.activationAfter[$0] >= 0 }.map { executor.steps[$0].node.name }
        #expect(fused == ["n1", "n2"])
    }

    /// A small step keeps the ReLU / Clip kinks from being crossed (the forward is float32, the
    /// loss summed in Double, so 1e-3 still resolves the tolerance).
    @Test func fusedGradientsMatchFiniteDifferences() throws {
        var r = TrainTestRNG(seed: 3)
        let result = try finiteDifferenceCheck(graph: Self.network(seed: 2), inputs: ["x": r.tensor([3, 2, 6, 6], -2, 2)],
                                               mode: .training, eps: 1e-3)
        #expect(result.checked > 100)
        #expect(result.worst <= 1, "worst \(result.worst) at \(result.detail)")
    }

    /// Five Adam steps with and without fusion: identical losses, weights and running statistics.
    @Test(arguments: [1, 2])
    func fusedTrainingEqualsUnfused(threads: Int) throws {
        let model = Model(graph: Self.network(seed: 4))
        func run(fuse: Bool) throws -> ([Float], Graph) {
            let session = try TrainingSession(model: model, optimizer: .adam(learningRate: 0.01),
                                              options: TrainingOptions(threads: threads), seed: 5)
            session.executor.fusesActivations = fuse
            var r = TrainTestRNG(seed: 6)
            var losses: [Float] = []
            for _ in 0..<5 {
                losses.append(try session.step(inputs: r.tensor([4, 2, 6, 6], -2, 2), labels: [0, 1, 1, 0]))
            }
            return (losses, session.model.graph)
        }
        let fused = try run(fuse: true), plain = try run(fuse: false)
        #expect(fused.0 == plain.0)
        #expect(fused.1.initializers == plain.1.initializers)
        #expect(fused.1.initializers != model.graph.initializers)
    }
}
