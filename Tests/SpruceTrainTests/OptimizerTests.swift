// Optimizer formulas against values computed by hand (in Double) for two steps, schedules at
// chosen steps, masks (pruned weights and moments exactly zero), and state export/import.
// Hand computations follow Keras' published update rules, written out independently here.

import Testing
@testable import SpruceCore
@testable import SpruceTrain
import _SpruceSupport

@Suite struct OptimizerTests {
    /// Runs two updates of one 3-element parameter with gradients g1 then g2.
    func twoSteps(_ config: OptimizerConfiguration, w0: [Float], g1: [Float], g2: [Float], rank: Int = 2) -> [Float] {
        let optimizer = Optimizer(config)
        let w = FloatBuffer(w0)
        for g in [g1, g2] {
            g.withUnsafeBufferPointer { gp in
                optimizer.update(name: "w", weight: w.pointer, gradient: gp.baseAddress!, count: w0.count, rank: rank, mask: nil)
            }
            optimizer.finishStep()
        }
        return w.array
    }

    let w0: [Float] = [0.5, -1.0, 2.0]
    let g1: [Float] = [0.1, -0.2, 0.3]
    let g2: [Float] = [-0.05, 0.4, 0.3]

    func close(_ a: [Float], _ b: [Double], tolerance: Double = 1e-6) -> Bool {
        zip(a, b).allSatisfy { abs(Double($0) - $1) <= tolerance * max(1, abs($1)) }
    }

    @Test func adamMatchesHandComputation() {
        let lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-7
        var expected: [Double] = []
        for i in 0..<3 {
            var w = Double(w0[i]), m = 0.0, v = 0.0
            for (t, g) in [(1.0, Double(g1[i])), (2.0, Double(g2[i]))] {
                m += (g - m) * (1 - b1)
                v += (g * g - v) * (1 - b2)
                let alpha = lr * (1 - pow(b2, t)).squareRoot() / (1 - pow(b1, t))
                w -= alpha * m / (v.squareRoot() + eps)
            }
            expected.append(w)
        }
        let got = twoSteps(.adam(learningRate: 0.01), w0: w0, g1: g1, g2: g2)
        #expect(close(got, expected), "\(got) vs \(expected)")
        // Step 1 of Adam moves every weight by about lr against its gradient's sign.
        #expect(got[0] < w0[0] && got[1] > w0[1])
    }

    @Test func adamWDecaysDecoupled() {
        let lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-7, wd = 0.1
        var expected: [Double] = []
        for i in 0..<3 {
            var w = Double(w0[i]), m = 0.0, v = 0.0
            for (t, g) in [(1.0, Double(g1[i])), (2.0, Double(g2[i]))] {
                w -= lr * wd * w
                m += (g - m) * (1 - b1)
                v += (g * g - v) * (1 - b2)
                w -= lr * (1 - pow(b2, t)).squareRoot() / (1 - pow(b1, t)) * m / (v.squareRoot() + eps)
            }
            expected.append(w)
        }
        #expect(close(twoSteps(.adamW(learningRate: 0.01, weightDecay: 0.1), w0: w0, g1: g1, g2: g2), expected))
        // Rank-1 parameters (biases, BN) are not decayed: AdamW then equals Adam.
        #expect(twoSteps(.adamW(learningRate: 0.01, weightDecay: 0.1), w0: w0, g1: g1, g2: g2, rank: 1)
                == twoSteps(.adam(learningRate: 0.01), w0: w0, g1: g1, g2: g2, rank: 1))
    }

    @Test(arguments: [false, true])
    func sgdMomentumMatchesHandComputation(nesterov: Bool) {
        let lr = 0.1, mu = 0.9, wd = 0.01
        var expected: [Double] = []
        for i in 0..<3 {
            var w = Double(w0[i]), u = 0.0
            for g0 in [Double(g1[i]), Double(g2[i])] {
                let g = g0 + wd * w
                u = mu * u - lr * g
                w += nesterov ? mu * u - lr * g : u
            }
            expected.append(w)
        }
        let config = OptimizerConfiguration(kind: .sgd(momentum: 0.9, nesterov: nesterov), schedule: .constant(0.1), weightDecay: 0.01)
        #expect(close(twoSteps(config, w0: w0, g1: g1, g2: g2), expected))
    }

    @Test func plainSGD() {
        let config = OptimizerConfiguration(kind: .sgd(), schedule: .constant(0.5))
        let got = twoSteps(config, w0: w0, g1: g1, g2: g2)
        let expected = (0..<3).map { Double(w0[$0]) - 0.5 * Double(g1[$0]) - 0.5 * Double(g2[$0]) }
        #expect(close(got, expected))
    }

    @Test func schedules() {
        #expect(LearningRateSchedule.constant(0.1).rate(at: 1000) == 0.1)
        let cosine = LearningRateSchedule.cosine(initial: 1, decaySteps: 100, alpha: 0.1)
        #expect(cosine.rate(at: 0) == 1)
        #expect(abs(cosine.rate(at: 50) - 0.55) < 1e-6)        // (1 − 0.1)·½ + 0.1
        #expect(abs(cosine.rate(at: 100) - 0.1) < 1e-6)
        #expect(abs(cosine.rate(at: 500) - 0.1) < 1e-6)
        // A training stage's decay: cosine from the rate to 0 over its steps, or constant.
        #expect(OptimizerName.adam.configuration(learningRate: 2, decay: .cosine, steps: 10).schedule
                == .cosine(initial: 2, decaySteps: 10))
        #expect(abs(OptimizerName.sgd.configuration(learningRate: 2, decay: .cosine, steps: 10).schedule.rate(at: 5) - 1) < 1e-6)
        #expect(OptimizerName.adamw.configuration(learningRate: 2, decay: .constant, steps: 10).schedule == .constant(2))
        let step = LearningRateSchedule.step(initial: 0.1, factor: 0.5, every: 10)
        #expect(step.rate(at: 9) == 0.1)
        #expect(step.rate(at: 10) == 0.05)
        #expect(step.rate(at: 25) == 0.025)
    }

    @Test func scheduleDrivesTheUpdate() {
        // SGD with a step schedule: first update at rate(0) = 1, second at rate(1) = 0.5.
        let config = OptimizerConfiguration(kind: .sgd(), schedule: .step(initial: 1, factor: 0.5, every: 1))
        let got = twoSteps(config, w0: [0], g1: [1], g2: [1])
        #expect(got == [-1.5])
    }

    @Test func maskedPositionsStayZeroWithClearedMoments() {
        let optimizer = Optimizer(.adam(learningRate: 0.1))
        let w = FloatBuffer([1, 2, 3, 4])
        let mask = [true, false, true, false]
        for _ in 0..<3 {
            let g: [Float] = [0.5, 0.5, -0.5, -0.5]
            g.withUnsafeBufferPointer { gp in
                mask.withUnsafeBufferPointer { mp in
                    optimizer.update(name: "w", weight: w.pointer, gradient: gp.baseAddress!, count: 4, rank: 2, mask: mp.baseAddress)
                }
            }
            optimizer.finishStep()
        }
        #expect(w.array[1] == 0 && w.array[3] == 0)
        #expect(w.array[0] != 1 && w.array[2] != 3)
        let state = optimizer.exportState(shapes: ["w": [2, 2]])
        #expect(state.slots["m/w"]?.data[1] == 0 && state.slots["v/w"]?.data[3] == 0)
        #expect(state.slots["m/w"]?.data[0] != 0)
        #expect(state.slots["m/w"]?.shape == [2, 2])
    }

    @Test func stateRoundTripResumesIdentically() throws {
        let gradients: [[Float]] = [[0.1, -0.3], [0.2, 0.2], [-0.4, 0.1], [0.3, 0.3]]
        func run(_ optimizer: Optimizer, _ w: FloatBuffer, _ gs: ArraySlice<[Float]>) {
            for g in gs {
                g.withUnsafeBufferPointer { optimizer.update(name: "p", weight: w.pointer, gradient: $0.baseAddress!, count: 2, rank: 1, mask: nil) }
                optimizer.finishStep()
            }
        }
        let straight = Optimizer(.adam(learningRate: 0.05)), w1 = FloatBuffer([1, -1])
        run(straight, w1, gradients[...])
        let first = Optimizer(.adam(learningRate: 0.05)), w2 = FloatBuffer([1, -1])
        run(first, w2, gradients[0..<2])
        let state = first.exportState(shapes: ["p": [2]])
        let resumed = Optimizer(.adam(learningRate: 0.05))
        try resumed.importState(state, counts: ["p": 2])
        #expect(resumed.step == 2)
        run(resumed, w2, gradients[2..<4])
        #expect(w1.array == w2.array)
    }

    @Test func importRejectsForeignState() {
        let optimizer = Optimizer(.adam())
        let bad = OptimizerState(step: 1, slots: ["m/nope": Tensor(shape: [2], repeating: 0)])
        #expect(throws: TrainingError.self) { try optimizer.importState(bad, counts: ["p": 2]) }
        let wrongSlot = OptimizerState(step: 1, slots: ["momentum/p": Tensor(shape: [2], repeating: 0)])
        #expect(throws: TrainingError.self) { try optimizer.importState(wrongSlot, counts: ["p": 2]) }
    }

    @Test func freezeRules() {
        let names = ["conv1.w", "conv1.b", "bn1.gamma", "fc.w"]
        let layers = [[0, 1], [2], [3]]
        #expect(FreezeRule.firstLayers(2).select(names: names, layers: layers) == [0, 1, 2])
        #expect(FreezeRule.namePattern("conv1*").select(names: names, layers: layers) == [0, 1])
        #expect(FreezeRule.namePattern("*.w").select(names: names, layers: layers) == [0, 3])
        #expect(FreezeRule.namePattern("bn?.gamma").select(names: names, layers: layers) == [2])
        #expect(FreezeRule.names(["fc.w"]).select(names: names, layers: layers) == [3])
    }

    /// The SIMD8 Adam / AdamW path (no mask), split over two threads, gives bit-for-bit the
    /// scalar path's weights and moments (an all-true mask takes the scalar loop).
    @Test(arguments: [false, true])
    func vectorizedAdamEqualsScalar(decoupled: Bool) {
        var r = TrainTestRNG(seed: 5)
        let count = (1 << 17) + 13   // two 64 Ki chunks and a scalar tail
        let w0 = (0..<count).map { _ in r.uniform() }
        let grads = (0..<3).map { _ in (0..<count).map { _ in r.uniform(-0.1, 0.1) } }
        let config: OptimizerConfiguration = decoupled ? .adamW(learningRate: 0.01, weightDecay: 0.1)
            : OptimizerConfiguration(kind: .adam(), schedule: .constant(0.01), weightDecay: 0.05)
        func run(masked: Bool, threads: Int) -> ([Float], OptimizerState) {
            let optimizer = Optimizer(config)
            let w = FloatBuffer(w0)
            let mask = [Bool](repeating: true, count: count)
            for g in grads {
                g.withUnsafeBufferPointer { gp in
                    mask.withUnsafeBufferPointer { mp in
                        optimizer.update(name: "w", weight: w.pointer, gradient: gp.baseAddress!, count: count, rank: 2,
                                         mask: masked ? mp.baseAddress : nil, threads: threads)
                    }
                }
                optimizer.finishStep()
            }
            return (w.array, optimizer.exportState(shapes: ["w": [count]]))
        }
        let scalar = run(masked: true, threads: 1)
        let simd = run(masked: false, threads: 1)
        let split = run(masked: false, threads: 2)
        #expect(scalar.0 != w0)
        #expect(simd.0 == scalar.0 && simd.1 == scalar.1)
        #expect(split.0 == scalar.0 && split.1 == scalar.1)
    }
}
