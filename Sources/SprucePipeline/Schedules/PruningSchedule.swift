// When sparsity rises during fine-tuning, with tfmot's semantics (pruning_schedule.py):
// pruning happens at step t when begin ≤ t, (t ≤ end or end < 0) and (t − begin) mod frequency = 0;
// ConstantSparsity always asks for its target, PolynomialDecay for
// final + (initial − final)·(1 − p)^power with p = clamp((t − begin)/(end − begin), 0, 1).
// Steps are 0-based optimizer steps. It does not prune; FineTuneStage asks it at every step.

import _SpruceSupport

/// Why a schedule's parameters are invalid (tfmot's validation rules).
public enum ScheduleError: Error, Sendable, Equatable, CustomStringConvertible {
    /// begin_step is negative.
    case negativeBegin(Int)
    /// end_step is -1 where the schedule needs an end (PolynomialDecay).
    case endRequired
    /// end_step is negative other than -1, or before begin_step.
    case badEnd(begin: Int, end: Int)
    /// frequency is not positive.
    case badFrequency(Int)
    /// A sparsity is outside [0, 1).
    case badSparsity(name: String, value: Double)

    public var description: String {
        switch self {
        case .negativeBegin(let b): "pruning schedule: begin_step \(b) must be >= 0"
        case .endRequired: "pruning schedule: polynomial decay needs an end_step (not -1)"
        case .badEnd(let b, let e): "pruning schedule: end_step \(e) must be -1 or >= begin_step \(b)"
        case .badFrequency(let f): "pruning schedule: frequency \(f) must be > 0"
        case .badSparsity(let name, let v): "pruning schedule: \(name) \(v) must be in [0, 1)"
        }
    }
}

/// Whether to prune at a step, and to what sparsity.
public protocol PruningSchedule: Sendable {
    /// The sparsity reached at the end of the schedule.
    var finalSparsity: Double { get }
    /// Whether the masks are recomputed at 0-based step `step`.
    func shouldPrune(at step: Int) -> Bool
    /// The sparsity the schedule asks for at `step` (meaningful where `shouldPrune` is true).
    func sparsity(at step: Int) -> Double
    /// Throws when the parameters break tfmot's rules.
    func validate() throws(ScheduleError)
}

extension PruningSchedule {
    /// `(shouldPrune, sparsity)` as tfmot's `schedule(step)` returns them.
    public func callAsFunction(_ step: Int) -> (Bool, Double) { (shouldPrune(at: step), sparsity(at: step)) }

    /// tfmot's `_should_prune_in_step`.
    static func inPruningTurn(_ step: Int, begin: Int, end: Int, frequency: Int) -> Bool {
        guard frequency > 0 else { return false }
        let inRange = step >= begin && (step <= end || end < 0)
        // Python's floormod: the result has the sign of the divisor.
        let m = ((step - begin) % frequency + frequency) % frequency
        return inRange && m == 0
    }

    static func validateSteps(begin: Int, end: Int, frequency: Int, allowNegativeOne: Bool) throws(ScheduleError) {
        if begin < 0 { throw .negativeBegin(begin) }
        if !allowNegativeOne && end == -1 { throw .endRequired }
        if end != -1 && (end < 0 || end < begin) { throw .badEnd(begin: begin, end: end) }
        if frequency <= 0 { throw .badFrequency(frequency) }
    }

    static func validateSparsity(_ value: Double, _ name: String) throws(ScheduleError) {
        if !(value >= 0 && value < 1) { throw .badSparsity(name: name, value: value) }
    }
}

/// tfmot `ConstantSparsity(target_sparsity, begin_step, end_step=-1, frequency=100)`.
public struct ConstantSparsitySchedule: PruningSchedule, Equatable, Codable {
    public var targetSparsity: Double
    public var beginStep: Int
    /// -1: prune until training ends.
    public var endStep: Int
    public var frequency: Int

    /// tfmot's defaults: no end, every 100 steps.
    public init(targetSparsity: Double, beginStep: Int = 0, endStep: Int = -1, frequency: Int = 100) {
        self.targetSparsity = targetSparsity
        self.beginStep = beginStep
        self.endStep = endStep
        self.frequency = frequency
    }

    public var finalSparsity: Double { targetSparsity }
    public func shouldPrune(at step: Int) -> Bool {
        Self.inPruningTurn(step, begin: beginStep, end: endStep, frequency: frequency)
    }
    public func sparsity(at step: Int) -> Double { targetSparsity }
    public func validate() throws(ScheduleError) {
        try Self.validateSteps(begin: beginStep, end: endStep, frequency: frequency, allowNegativeOne: true)
        try Self.validateSparsity(targetSparsity, "target_sparsity")
    }
}

/// tfmot `PolynomialDecay(initial_sparsity, final_sparsity, begin_step, end_step, power=3, frequency=100)`.
public struct PolynomialDecaySchedule: PruningSchedule, Equatable, Codable {
    public var initialSparsity: Double
    public var finalSparsity: Double
    public var beginStep: Int
    public var endStep: Int
    public var power: Double
    public var frequency: Int

    /// tfmot's defaults: cubic, every 100 steps.
    public init(initialSparsity: Double, finalSparsity: Double, beginStep: Int, endStep: Int,
                power: Double = 3, frequency: Int = 100) {
        self.initialSparsity = initialSparsity
        self.finalSparsity = finalSparsity
        self.beginStep = beginStep
        self.endStep = endStep
        self.power = power
        self.frequency = frequency
    }

    public func shouldPrune(at step: Int) -> Bool {
        Self.inPruningTurn(step, begin: beginStep, end: endStep, frequency: frequency)
    }

    public func sparsity(at step: Int) -> Double {
        // end == begin divides by zero in tfmot; we take the limit: the final sparsity from begin on.
        let span = Double(endStep - beginStep)
        let p: Double = span > 0 ? min(1, max(0, Double(step - beginStep) / span)) : (step >= beginStep ? 1 : 0)
        return (initialSparsity - finalSparsity) * pow1(1 - p, power) + finalSparsity
    }

    public func validate() throws(ScheduleError) {
        try Self.validateSteps(begin: beginStep, end: endStep, frequency: frequency, allowNegativeOne: false)
        try Self.validateSparsity(initialSparsity, "initial_sparsity")
        try Self.validateSparsity(finalSparsity, "final_sparsity")
    }

    /// x^y for x in [0, 1] (0^0 = 1, as tf.pow).
    private func pow1(_ x: Double, _ y: Double) -> Double {
        if y == 0 { return 1 }
        if x == 0 { return 0 }
        return exp(y * log(x))
    }
}
