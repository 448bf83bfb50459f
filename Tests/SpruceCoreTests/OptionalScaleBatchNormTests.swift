// BatchNormalization with an omitted scale ("" = scale fixed at 1, Keras `scale=False`):
// shape inference and the verifier accept it, the executor computes it as an all-ones scale,
// and lowering folds it into the preceding conv. Other required inputs still may not be omitted.

import SpruceCore
import Testing

@Suite struct OptionalScaleBatchNormTests {
    /// conv → bn(scale "" or an explicit all-ones scale) → relu, on a [N, 3, 6, 5] input.
    func graph(omitScale: Bool) -> Graph {
        var b = GraphBuilder(seed: 11)
        let c = b.conv("conv", "x", cIn: 3, cOut: 4, bias: false)
        b.batchNorm("bn", c, channels: 4)
        if omitScale {
            b.initializers["bn_scale"] = nil
            b.nodes[1].inputs[1] = ""
        } else {
            b.initializers["bn_scale"] = Tensor(shape: [4], repeating: 1)
        }
        b.add("relu", .relu, ["bn_out"], output: "y")
        return b.graph(channels: 3, outputs: ["y"])
    }

    @Test func shapeInferenceAndVerifierAcceptOmittedScale() throws {
        let g = graph(omitScale: true)
        try g.verify()
        let shapes = try g.inferShapes(inputShapes: ["x": [2, 3, 6, 5]])
        #expect(shapes["bn_out"] == [2, 4, 6, 5])
    }

    @Test(arguments: [2, 3, 4])
    func otherParametersStayRequired(omitted: Int) throws {
        var g = graph(omitScale: true)
        g.nodes[1].inputs[omitted] = ""
        #expect(throws: GraphError.arity(node: "bn", op: "BatchNormalization", detail: "required input \(omitted) is omitted")) {
            try g.verify()
        }
    }

    @Test func executorTreatsOmittedScaleAsOne() throws {
        var rng = SplitMix64(seed: 5)
        let x = rng.tensor([2, 3, 6, 5], -2, 2)
        let omitted = try #require(try ReferenceExecutor(graph: graph(omitScale: true)).run(["x": x])["y"])
        let ones = try #require(try ReferenceExecutor(graph: graph(omitScale: false)).run(["x": x])["y"])
        #expect(omitted == ones)
        // And it is not a no-op: the mean/variance/bias still apply.
        var noBN = graph(omitScale: true)
        noBN.nodes[1] = Node(name: "bn", op: .identity, inputs: ["conv_out"], outputs: ["bn_out"])
        let plain = try #require(try ReferenceExecutor(graph: noBN).run(["x": x])["y"])
        #expect(maxAbsDiff(plain.data, omitted.data) > 1e-3)
    }

    @Test func loweringFoldsOmittedScale() throws {
        let lowered = try expectLoweringPreservesOutputs(graph(omitScale: true), channels: 3)
        #expect(ops(lowered) == ["Conv"])
        #expect(convActivation(lowered, "conv") == .relu)
    }

    @Test func omittedScaleWithoutConvStaysAndRuns() throws {
        // Pre-activation BN (ResNet v2) reads a graph input, not a conv: lowering keeps it.
        var b = GraphBuilder(seed: 12)
        b.batchNorm("bn", "x", channels: 3)
        b.initializers["bn_scale"] = nil
        b.nodes[0].inputs[1] = ""
        let lowered = try expectLoweringPreservesOutputs(b.graph(channels: 3, outputs: ["bn_out"]), channels: 3)
        #expect(ops(lowered) == ["BatchNormalization"])
        #expect(lowered.nodes[0].inputs[1] == "")
    }
}
