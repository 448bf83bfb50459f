// First-order optimizers with Keras' update formulas: Adam (the study's), AdamW (decoupled
// weight decay) and SGD with (Nesterov) momentum, a learning-rate schedule, and the pruning
// mask hook: a masked position gets no update, its weight is set to exactly 0 and its moments
// cleared, so pruned weights stay zero. State (step count and moments) exports for checkpoints.
// Which parameters to update (trainable, unfrozen) is decided by the caller.

import SpruceCore

import _SpruceSupport

/// An optimizer algorithm and its hyper-parameters (Keras defaults).
public enum OptimizerKind: Sendable, Equatable {
    /// Keras Adam: m += (g − m)(1 − β1); v += (g² − v)(1 − β2);
    /// w −= lr·√(1 − β2ᵗ)/(1 − β1ᵗ)·m/(√v + ε). `weightDecay` adds an L2 term wd·w to g.
    case adam(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7)
    /// Adam with decoupled weight decay: w −= lr·wd·w before the Adam update (Keras AdamW).
    case adamW(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7)
    /// Keras SGD: u = μ·u − lr·g; w += u (Nesterov: w += μ·u − lr·g). `weightDecay` is L2.
    case sgd(momentum: Float = 0, nesterov: Bool = false)
}

/// Everything that defines an optimizer run.
public struct OptimizerConfiguration: Sendable, Equatable {
    public var kind: OptimizerKind
    public var schedule: LearningRateSchedule
    /// Applied to parameters of rank ≥ 2 only (kernels and dense weights, not biases or
    /// BatchNorm scales): L2 for Adam and SGD, decoupled for AdamW.
    public var weightDecay: Float

    /// A configuration from its parts.
    public init(kind: OptimizerKind, schedule: LearningRateSchedule, weightDecay: Float = 0) {
        self.kind = kind
        self.schedule = schedule
        self.weightDecay = weightDecay
    }

    /// Keras Adam at a constant rate (the study used 1e-3).
    public static func adam(learningRate: Float = 1e-3) -> OptimizerConfiguration {
        OptimizerConfiguration(kind: .adam(), schedule: .constant(learningRate))
    }

    /// Keras AdamW (default decay 0.004) at a constant rate.
    public static func adamW(learningRate: Float = 1e-3, weightDecay: Float = 0.004) -> OptimizerConfiguration {
        OptimizerConfiguration(kind: .adamW(), schedule: .constant(learningRate), weightDecay: weightDecay)
    }

    /// SGD with momentum at a constant rate.
    public static func sgd(learningRate: Float = 0.01, momentum: Float = 0.9) -> OptimizerConfiguration {
        OptimizerConfiguration(kind: .sgd(momentum: momentum), schedule: .constant(learningRate))
    }

    /// Names of the per-parameter slots this kind keeps.
    var slotNames: [String] {
        switch kind {
        case .adam, .adamW: ["m", "v"]
        case .sgd(let momentum, _): momentum != 0 ? ["momentum"] : []
        }
    }
}

/// The optimizers the command line and recipes name, each with Keras' defaults.
public enum OptimizerName: String, Sendable, Equatable, Codable, CaseIterable {
    /// Adam (the study's).
    case adam
    /// AdamW, weight decay 0.004.
    case adamw
    /// SGD with momentum 0.9. Its update is linear in the gradient, so float noise in a gradient
    /// stays noise; Adam's first steps are lr·sign(g) and turn noise-level gradients into full steps.
    case sgd

    /// The configuration at a constant learning rate.
    public func configuration(learningRate: Float) -> OptimizerConfiguration {
        switch self {
        case .adam: .adam(learningRate: learningRate)
        case .adamw: .adamW(learningRate: learningRate)
        case .sgd: .sgd(learningRate: learningRate)
        }
    }

    /// The configuration starting at `learningRate` and following `decay` over `steps` updates.
    public func configuration(learningRate: Float, decay: RateDecay, steps: Int) -> OptimizerConfiguration {
        var config = configuration(learningRate: learningRate)
        if decay == .cosine { config.schedule = .cosine(initial: learningRate, decaySteps: max(steps, 1)) }
        return config
    }
}

/// How a training stage's learning rate moves over its steps.
public enum RateDecay: String, Sendable, Equatable, Codable, CaseIterable {
    /// The same rate throughout.
    case constant
    /// Keras CosineDecay from the rate to 0 at the last step.
    case cosine
}

/// An optimizer's checkpointable state: the number of steps taken and every slot tensor,
/// keyed `"<slot>/<parameter>"` with slot `m`, `v` (Adam, AdamW) or `momentum` (SGD).
public struct OptimizerState: Sendable, Equatable {
    public var step: Int
    public var slots: [String: Tensor]

    public init(step: Int, slots: [String: Tensor]) {
        self.step = step
        self.slots = slots
    }
}

/// Applies one configuration's updates to parameters, keeping per-parameter slots.
public final class Optimizer {
    /// The algorithm, schedule and weight decay.
    public let configuration: OptimizerConfiguration
    /// Updates applied so far (Keras `iterations`); the next update uses rate(at: step).
    public private(set) var step: Int = 0
    private var slots: [String: [FloatBuffer]] = [:]

    /// An optimizer with no state yet.
    public init(_ configuration: OptimizerConfiguration) {
        self.configuration = configuration
    }

    /// The learning rate the next update will use.
    public var currentLearningRate: Float { configuration.schedule.rate(at: step) }

    /// Ends an optimizer step (all parameters updated): advances the step count.
    public func finishStep() { step += 1 }

    /// Updates `count` weights of parameter `name` in place with gradient `g`. Where `mask` is
    /// false the weight and its slots are set to 0 and the gradient ignored. Large parameters
    /// are split over `threads` cores; every element's arithmetic is the same in any split.
    func update(name: String, weight w: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count: Int,
                rank: Int, mask: UnsafePointer<Bool>?, threads: Int = 1) {
        let names = configuration.slotNames
        var buffers = slots[name] ?? []
        if buffers.count != names.count || buffers.contains(where: { $0.count != count }) {
            buffers = names.map { _ in FloatBuffer(count: count, repeating: 0) }
            slots[name] = buffers
        }
        let lr = currentLearningRate
        let decay = rank >= 2 ? configuration.weightDecay : 0
        switch configuration.kind {
        case .adam(let b1, let b2, let eps), .adamW(let b1, let b2, let eps):
            let decoupled: Bool
            if case .adamW = configuration.kind { decoupled = true } else { decoupled = false }
            let t = Double(step + 1)
            let alpha = Float(Double(lr) * (1 - pow(Double(b2), t)).squareRoot() / (1 - pow(Double(b1), t)))
            let m = buffers[0].pointer, v = buffers[1].pointer
            let rule = AdamRule(b1: b1, b2: b2, eps: eps, alpha: alpha, lr: lr, decay: decay, decoupled: decoupled)
            // Memory-bound: one pass reading w, g, m, v. Chunks of 64 Ki elements keep Dispatch
            // overhead negligible; small parameters (biases, BN) stay on the calling thread.
            parallelChunks(count, threads: threads, minimumPerChunk: 1 << 16) { range in
                rule.apply(w: w, g: g, m: m, v: v, range, mask: mask)
            }
        case .sgd(let momentum, let nesterov):
            let u = buffers.first?.pointer
            for i in 0..<count {
                if let mask, !mask[i] {
                    w[i] = 0
                    u?[i] = 0
                    continue
                }
                let gi = g[i] + decay * w[i]
                if let u {
                    u[i] = momentum * u[i] - lr * gi
                    w[i] += nesterov ? momentum * u[i] - lr * gi : u[i]
                } else {
                    w[i] -= lr * gi
                }
            }
        }
    }

    /// Clears the slots of parameter `name` at positions where `mask` is false.
    func clearSlots(name: String, mask: [Bool]) {
        for buffer in slots[name] ?? [] where buffer.count == mask.count {
            for i in 0..<mask.count where !mask[i] { buffer.pointer[i] = 0 }
        }
    }

    /// The step count and every slot, for a checkpoint.
    public func exportState(shapes: [String: [Int]]) -> OptimizerState {
        var out: [String: Tensor] = [:]
        for (name, buffers) in slots {
            for (slot, buffer) in zip(configuration.slotNames, buffers) {
                let shape = shapes[name] ?? [buffer.count]
                out["\(slot)/\(name)"] = Tensor(shape: shape, data: buffer.array)
            }
        }
        return OptimizerState(step: step, slots: out)
    }

    /// Restores a state from `exportState`; every slot must belong to a known parameter with
    /// the right element count.
    public func importState(_ state: OptimizerState, counts: [String: Int]) throws {
        guard state.step >= 0 else { throw TrainingError.badParameterState(name: "step", detail: "negative step \(state.step)") }
        var restored: [String: [FloatBuffer]] = [:]
        let names = configuration.slotNames
        for (key, tensor) in state.slots {
            guard let slash = key.firstIndex(of: "/"), let slot = names.firstIndex(of: String(key[..<slash])) else {
                throw TrainingError.badParameterState(name: key, detail: "not a slot of this optimizer (\(names))")
            }
            let name = String(key[key.index(after: slash)...])
            guard let count = counts[name], count == tensor.count else {
                throw TrainingError.badParameterState(name: name, detail: "optimizer slot does not match any parameter")
            }
            var buffers = restored[name] ?? names.map { _ in FloatBuffer(count: count, repeating: 0) }
            buffers[slot] = FloatBuffer(tensor.data)
            restored[name] = buffers
        }
        step = state.step
        slots = restored
    }
}

/// One Adam / AdamW step's constants and its per-element update, in SIMD8 blocks with a scalar
/// tail. Both forms do the same IEEE operations in the same order (Swift does not contract
/// them into FMAs), so an element's result does not depend on which form or chunk handled it.
struct AdamRule {
    var b1: Float, b2: Float, eps: Float, alpha: Float, lr: Float, decay: Float, decoupled: Bool

    func apply(w: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
               v: UnsafeMutablePointer<Float>, _ range: Range<Int>, mask: UnsafePointer<Bool>?) {
        var i = range.lowerBound
        if mask == nil {
            let c1 = SIMD8<Float>(repeating: 1 - b1), c2 = SIMD8<Float>(repeating: 1 - b2)
            let e = SIMD8<Float>(repeating: eps), a = SIMD8<Float>(repeating: alpha)
            let wd = SIMD8<Float>(repeating: decay), lrd = SIMD8<Float>(repeating: lr * decay)
            while i + 8 <= range.upperBound {
                var wv = load8(w + i), gi = load8(g + i), mv = load8(m + i), vv = load8(v + i)
                if decoupled { wv -= lrd * wv } else { gi += wd * wv }
                mv += (gi - mv) * c1
                vv += (gi * gi - vv) * c2
                wv -= a * mv / (vv.squareRoot() + e)
                store8(wv, w + i); store8(mv, m + i); store8(vv, v + i)
                i += 8
            }
        }
        while i < range.upperBound {
            defer { i += 1 }
            if let mask, !mask[i] {
                w[i] = 0; m[i] = 0; v[i] = 0
                continue
            }
            var gi = g[i]
            if decoupled { w[i] -= lr * decay * w[i] } else { gi += decay * w[i] }
            m[i] += (gi - m[i]) * (1 - b1)
            v[i] += (gi * gi - v[i]) * (1 - b2)
            w[i] -= alpha * m[i] / (v[i].squareRoot() + eps)
        }
    }
}
