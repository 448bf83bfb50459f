// Export of BatchNormalization with an omitted scale ("" = fixed at 1): ONNX requires the
// input, so the exporter writes an all-ones initializer; importing gives the same outputs.
// A BN whose bias, mean and variance are all runtime values cannot be sized and is refused.
import SpruceCore
import SpruceONNX
import Testing

@Suite struct OptionalScaleExportTests {
    static func model() -> Model {
        var g = Graph()
        g.inputs = [ValueInfo(name: "image", shape: [nil, 3, 5, 5])]
        g.initializers = [
            "w": SampleModels.tensor([4, 3, 3, 3], seed: 21), "beta": SampleModels.tensor([4], seed: 22),
            "mean": SampleModels.tensor([4], seed: 23), "var": Tensor(shape: [4], data: [0.5, 1, 1.5, 2]),
        ]
        g.nodes = [
            Node(name: "conv", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1])),
                 inputs: ["image", "w"], outputs: ["c"]),
            Node(name: "bn", op: .batchNormalization(epsilon: 1e-3), inputs: ["c", "", "beta", "mean", "var"], outputs: ["y"]),
        ]
        g.outputs = [ValueInfo(name: "y", shape: [nil, 4, 5, 5])]
        return Model(graph: g)
    }

    @Test func omittedScaleIsWrittenAsOnes() throws {
        let original = Self.model()
        try original.graph.verify()
        let imported = try ONNXImporter.decode(try ONNXExporter.encode(original))
        let bn = try #require(imported.graph.nodes.first { $0.name == "bn" })
        #expect(bn.inputs.count == 5)
        let scale = try #require(imported.graph.initializers[bn.inputs[1]])
        #expect(scale == Tensor(shape: [4], repeating: 1))

        let x = SampleModels.tensor([2, 3, 5, 5], seed: 24)
        let before = try #require(try ReferenceExecutor(graph: original.graph).run(["image": x])["y"])
        let after = try #require(try ReferenceExecutor(graph: imported.graph).run(["image": x])["y"])
        #expect(before == after)
    }

    @Test func unsizableOmittedScaleIsRefused() throws {
        var m = Self.model()
        m.graph.initializers = ["w": SampleModels.tensor([4, 3, 3, 3], seed: 21)]
        m.graph.inputs += ["beta", "mean", "var"].map { ValueInfo(name: $0, shape: [4]) }
        #expect(throws: ONNXError.self) { try ONNXExporter.encode(m) }
    }
}
