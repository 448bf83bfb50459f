// Loss values and gradients against hand-computed numbers, numerical stability at extreme
// logits, and the finite-difference gradient of each loss.

import Testing
@testable import SpruceTrain
import _SpruceSupport

@Suite struct LossTests {
    @Test func binaryCrossEntropyHandValues() {
        let (loss, grad) = Loss.binaryCrossEntropy(logits: [0, 2, -3], labels: [1, 0, 1])
        // log 2, 2 + log(1 + e^-2), 3 + log(1 + e^-3), averaged.
        let expected = (log(2.0) + 2 + log(1 + exp(-2.0)) + 3 + log(1 + exp(-3.0))) / 3
        #expect(abs(Double(loss) - expected) < 1e-6)
        let sig = { (z: Double) in 1 / (1 + exp(-z)) }
        let expectedGrad = [(sig(0) - 1) / 3, sig(2) / 3, (sig(-3) - 1) / 3]
        for (g, e) in zip(grad, expectedGrad) { #expect(abs(Double(g) - e) < 1e-7) }
    }

    @Test func binaryCrossEntropyIsStableAtExtremes() {
        let (loss, grad) = Loss.binaryCrossEntropy(logits: [100, -100, 100, -100], labels: [0, 1, 1, 0])
        #expect(loss.isFinite)
        #expect(abs(loss - 50) < 1e-4)   // two wrong by 100, two right by ~0
        #expect(grad.allSatisfy { $0.isFinite })
        #expect(abs(grad[0] - 0.25) < 1e-6 && abs(grad[1] + 0.25) < 1e-6)
        #expect(abs(grad[2]) < 1e-6 && abs(grad[3]) < 1e-6)
    }

    @Test func softmaxCrossEntropyHandValues() throws {
        let logits: [Float] = [1, 2, 3, 0, 0, 0]
        let result = try #require(Loss.softmaxCrossEntropy(logits: logits, classes: 3, labels: [2, 0]))
        let row1 = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3
        let row2 = log(3.0)
        #expect(abs(Double(result.loss) - (row1 + row2) / 2) < 1e-6)
        let z = exp(1.0) + exp(2.0) + exp(3.0)
        let expected = [exp(1.0) / z / 2, exp(2.0) / z / 2, (exp(3.0) / z - 1) / 2, (1.0 / 3 - 1) / 2, 1.0 / 6, 1.0 / 6]
        for (g, e) in zip(result.gradient, expected) { #expect(abs(Double(g) - e) < 1e-6) }
        // Stable at huge logits, and labels out of range are refused.
        #expect(Loss.softmaxCrossEntropy(logits: [1000, -1000], classes: 2, labels: [1])?.loss.isFinite == true)
        #expect(Loss.softmaxCrossEntropy(logits: [0, 0], classes: 2, labels: [2]) == nil)
    }

    @Test(arguments: [LossKind.binaryCrossEntropy, .softmaxCrossEntropy])
    func gradientMatchesFiniteDifferences(_ kind: LossKind) throws {
        var r = TrainTestRNG(seed: 3)
        let logits = (0..<6).map { _ in r.uniform(-3, 3) }
        func loss(_ z: [Float]) -> Double {
            switch kind {
            case .binaryCrossEntropy: Double(Loss.binaryCrossEntropy(logits: z, labels: [1, 0, 1, 1, 0, 0]).loss)
            case .softmaxCrossEntropy: Double(Loss.softmaxCrossEntropy(logits: z, classes: 3, labels: [2, 0])?.loss ?? .nan)
            }
        }
        let grad = kind == .binaryCrossEntropy
            ? Loss.binaryCrossEntropy(logits: logits, labels: [1, 0, 1, 1, 0, 0]).gradient
            : try #require(Loss.softmaxCrossEntropy(logits: logits, classes: 3, labels: [2, 0])).gradient
        for i in 0..<logits.count {
            var plus = logits, minus = logits
            plus[i] += 1e-2
            minus[i] -= 1e-2
            let numeric = (loss(plus) - loss(minus)) / 2e-2
            #expect(abs(numeric - Double(grad[i])) < 1e-3, "element \(i)")
        }
    }
}
