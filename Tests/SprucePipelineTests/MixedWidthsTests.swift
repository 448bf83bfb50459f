// Mixed precision under a byte budget: the predicted output change of a width (monotone, extrapolated above
// the widths measured), the greedy allocation's order, the sensitivity measurement against the
// writer's per-row rounding, and `compress --target-size --bits mixed` end to end on the fixtures:
// the widths the search chose are the widths the artifact stores, and it fits.
import Foundation
import Testing
import SpruceCore
import SpruceFormat
@testable import SpruceTrain
@testable import SprucePipeline

@Suite struct MixedWidthsTests {
    let table = WidthSensitivity(widths: [2, 3, 4], changes: ["a": [0.10, 0.02, 0.03], "b": [0.05, -0.01, 0]])

    @Test("a width's predicted change is never below a wider one's nor below 0, and falls 4× per bit above 4")
    func predictedLoss() {
        #expect(table.predicted("a", bits: 2) == 0.10)
        #expect(table.predicted("a", bits: 3) == 0.03)  // measured 0.02, but 4 bits lost 0.03
        #expect(table.predicted("a", bits: 4) == 0.03)
        #expect(abs(table.predicted("a", bits: 5) - 0.0075) < 1e-15)
        #expect(abs(table.predicted("a", bits: 6) - 0.001875) < 1e-15)
        #expect(table.predicted("a", bits: 8) == 0)
        #expect(table.predicted("b", bits: 3) == 0)  // a gain measured is no gain predicted
        #expect(table.predicted("b", bits: 2) == 0.05)
        #expect(table.predicted("unmeasured", bits: 2) == 0)
        #expect(abs(table.predicted(of: ["a": 5, "b": 2]) - 0.0575) < 1e-15)
    }

    @Test("the allocation narrows where the predicted change per byte saved is least, until the saving is reached")
    func greedyOrder() {
        let values = ["a": 1000, "b": 1000]
        #expect(table.allocate(values: values, saving: 0) == ["a": 8, "b": 8])
        // b narrows to 3 bits at no predicted change (500 bytes), then a to 6 and 5 bits (250 more).
        #expect(table.allocate(values: values, saving: 700) == ["a": 5, "b": 3])
        #expect(table.allocate(values: values, saving: 100) == ["a": 8, "b": 6])
        // Everything at 2 bits saves 2 × 1000 × (7/8 − 2/8) = 1250 bytes; more cannot be had.
        #expect(table.allocate(values: values, saving: 1250) == ["a": 2, "b": 2])
        #expect(table.allocate(values: values, saving: 1251) == nil)
        // A smaller saving stops earlier in the same order: never a narrower width anywhere.
        let savings = stride(from: 0.0, through: 1250, by: 25).map { table.allocate(values: values, saving: $0)! }
        for (wider, narrower) in zip(savings, savings.dropFirst()) {
            #expect(wider.allSatisfy { $0.value >= narrower[$0.key]! })
        }
    }

    @Test("each layer's measured change is that of the outputs with it alone rounded per row as the writer stores it")
    func measurementMatchesWriterRounding() throws {
        let model = try ModelZoo.build(ZooModel(name: "mobilenetv2"), inputSize: 32, width: 0.35, seed: 3)
        var rng = SeededGenerator(seed: 5)
        let input = Tensor(shape: [2, 3, 32, 32], data: (0..<(2 * 32 * 32 * 3)).map { _ in Float.random(in: 0...1, using: &rng) })
        let outputs: (TrainingSession) throws -> [Float] = { try $0.predict(input) }
        let quantized = ArtifactWriter.quantizedWeights(in: model.graph)
        let layers = model.graph.prunableLayers().filter { quantized.contains($0.tensor) }.prefix(3).map { (node: $0.node, tensor: $0.tensor) }
        let session = try TrainingSession(model: model)
        let reference = try outputs(session)
        let measured = try WidthSensitivity.measure(session: session, reference: reference, layers: Array(layers),
                                                    widths: [2, 4], outputs: outputs)
        #expect(measured.widths == [2, 4] && measured.changes.count == 3)
        #expect(try outputs(session) == reference)  // the session is left unrounded
        for layer in layers {
            for (k, bits) in [2, 4].enumerated() {
                // The writer's rule, applied to the weights of a copy of the model.
                var copy = model
                let w = try #require(copy.graph.initializers[layer.tensor])
                let cols = w.count / w.shape[0]
                var data = w.data
                for r in 0..<w.shape[0] {
                    let row = r * cols..<(r + 1) * cols
                    let scale = Int8Rows.scale(maxAbs: data[row].map(abs).max() ?? 0, bits: bits)
                    guard scale > 0 else { continue }
                    for j in row { data[j] = Float(Int8Rows.quantize(data[j], scale: scale, bits: bits)) * scale }
                }
                copy.graph.initializers[layer.tensor] = Tensor(shape: w.shape, data: data)
                let rounded = try outputs(try TrainingSession(model: copy))
                let expected = zip(reference, rounded).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / Double(reference.count)
                let got = try #require(measured.changes[layer.node]?[k])
                #expect(abs(got - expected) <= 1e-6 * expected, "\(layer.node) at \(bits) bits: \(got) vs \(expected)")
                #expect(expected > 0, "rounding to \(bits) bits changes the output")
            }
        }
    }

    @Test("compress --target-size with mixed widths: the widths chosen are the widths stored, and the artifact fits")
    func endToEnd() throws {
        let source = ModelSource.zoo(name: "mobilenetv2", size: 32, width: 0.35, seed: 1)
        let data = DataOptions(directory: fixtureImages, batchSize: 4)
        // A budget between all-2-bit and all-int8 at half sparsity: the search has to mix.
        let model = try ModelZoo.build(ZooModel(name: "mobilenetv2"), inputSize: 32, width: 0.35, seed: 1)
        let search = TargetSizeSearch(budget: 1, options: PruningOptions(allocation: .global(minimumDensity: 0.05)), int8: .always)
        let sizer = try TargetSizeSearch.Sizer(search: search, model: model, sourceName: "m", sensitivity: nil, describe: { _ in "x" })
        let quantized = ArtifactWriter.quantizedWeights(in: model.graph)
        let all3 = Dictionary(uniqueKeysWithValues: model.graph.prunableLayers().filter { quantized.contains($0.tensor) }.map { ($0.node, 3) })
        let budget = try sizer.bytes(sparsity: 0.5, int8: true, widths: all3)
        #expect(budget < (try sizer.bytes(sparsity: 0.5, int8: true)))

        var options = CompressOptions(model: source, data: data, targetBytes: budget, finetuneEpochs: 2, learningRate: 1e-3, int8: true)
        options.mixedWidths = true
        options.quantizationAware = true
        let recipe = Recipe.compress(options)
        #expect(try Recipe.decode(try recipe.jsonBytes(), path: "r") == recipe)  // "mixedWidths" round-trips
        let (state, reports) = try Pipeline(recipe: recipe).run(context: StageContext(seed: 2))
        let prune = try #require(reports.first { $0.stage == "prune" })
        #expect(prune.summary.contains("with values of") && prune.summary.contains("sparsities tried"), "\(prune.summary)")
        let chosen = prune.details.filter { $0.key.hasPrefix("width.") }
        let candidates = prune.details.filter { $0.key.hasPrefix("candidate.") }
        // The chosen candidate is the one whose pruned and rounded model changed the outputs least.
        let measured = candidates.values.compactMap { Double($0) }
        #expect((1...6).contains(candidates.count) && !measured.isEmpty)
        #expect(Double(prune.details["output_change"] ?? "") == measured.min())
        #expect(chosen.count == all3.count)
        #expect(reports.first { $0.stage == "finetune" }?.summary.contains("rounding from step") == true)

        let bytes = try #require(state.artifact)
        #expect(bytes.count <= budget)
        let artifact = try ArtifactReader.decode(bytes)
        for layer in artifact.graph.prunableLayers() where chosen["width." + layer.node] != nil {
            let stored = try #require(artifact.tensors.first { $0.name == layer.tensor })
            #expect("\(stored.valueBits)" == chosen["width." + layer.node], "\(layer.node)")
        }
        #expect(artifact.metadata["values"]?.hasPrefix(EncodingPlan.describe(widths: chosen.values.compactMap { Int($0) })) == true)

        // Mixed widths need a target size, int8 and data.
        var bad = PipelineState(model: model)
        #expect(throws: StageError.self) { try PruneStage(sparsity: 0.5, mixedWidths: true).run(&bad, context: StageContext()) }
        #expect(throws: StageError.self) { try PruneStage(targetBytes: budget, mixedWidths: true).run(&bad, context: StageContext()) }
    }
}
