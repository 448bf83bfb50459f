// The training executor on the model zoo's real graphs: inference-mode logits equal the
// reference executor's, and training steps run (finite loss, running statistics and weights
// move). Small input sizes keep the debug-build reference run short.

import Testing
@testable import SpruceCore
@testable import SpruceTrain

@Suite struct TrainingZooTests {
    @Test(arguments: [(ZooModel.mobileNetV2, 32, Float(0.35)), (.resNet50V2, 32, 1.0)])
    func inferenceLogitsEqualReference(model: ZooModel, size: Int, width: Float) throws {
        let built = try ModelZoo.build(model, inputSize: size, width: width, seed: 3)
        let session = try TrainingSession(model: built, seed: 1)
        #expect(session.lossKind == .binaryCrossEntropy)
        var g = built.graph
        g.outputs.append(ValueInfo(name: session.logitName, shape: [nil, 1]))
        var r = TrainTestRNG(seed: 4)
        let x = r.tensor([2, 3, size, size], 0, 1)
        let expected = try #require(try ReferenceExecutor(graph: g).run(["input": x])[session.logitName])
        let pass = try session.executor.forward(["input": x], mode: .inference, keep: [session.logitName], differentiable: false)
        let got = try #require(pass.value(session.logitName))
        for (a, b) in zip(got.data, expected.data) { #expect(abs(a - b) <= 1e-4 * max(1, abs(b)), "\(a) vs \(b)") }
    }

    // Fitting one batch at Adam 1e-3: the loss falls to under a tenth of its start within these
    // steps under every summation order tried (trainer threads 1–3; OpenBLAS Haswell, Zen,
    // SandyBridge, Prescott kernels), so the bound of 0.35× holds with room. Smaller rates or
    // batches are chaotic here (MobileNet v2 at 32×32 normalises 1×1 maps): at 1e-4 and batch 4
    // the sixth loss was 0.48 with one thread and 0.91 with two, from the same start of 0.56.
    @Test(arguments: [(ZooModel.mobileNetV2, 32, Float(0.35), 8, 10), (.inceptionV3, 75, 1.0, 4, 6)])
    func trainingStepsRun(model: ZooModel, size: Int, width: Float, batch: Int, steps: Int) throws {
        let built = try ModelZoo.build(model, inputSize: size, width: width, seed: 3)
        let session = try TrainingSession(model: built, optimizer: .adam(learningRate: 1e-3), seed: 1)
        var r = TrainTestRNG(seed: 6)
        let x = r.tensor([batch, 3, size, size], 0, 1)
        let labels: [Float] = (0..<batch).map { [1, 0, 0, 1][$0 % 4] }
        var losses: [Float] = []
        for _ in 0..<steps { losses.append(try session.step(inputs: x, labels: labels)) }
        #expect(losses.allSatisfy { $0.isFinite })
        let lastThree = losses.suffix(3).reduce(0, +) / 3
        #expect(lastThree < 0.35 * losses[0], "\(losses)")
        let trained = session.model.graph
        var movedStatistics = 0, movedWeights = 0
        for (name, t) in built.graph.initializers where trained.initializers[name] != t {
            if name.contains("moving") || name.hasSuffix("mean") || name.hasSuffix("var") || name.contains("variance") {
                movedStatistics += 1
            } else {
                movedWeights += 1
            }
        }
        #expect(movedWeights > 10 && movedStatistics > 0)
    }
}
