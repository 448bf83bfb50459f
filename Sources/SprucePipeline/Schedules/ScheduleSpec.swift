// A pruning schedule as a recipe states it: the kind and whichever tfmot parameters were given;
// the rest (end step, frequency) are derived from the fine-tuning length when it is known.
// It does not run the schedule; `resolve` turns it into a ConstantSparsity/PolynomialDecay value.

/// A recipe's pruning schedule; `nil` fields are derived from the number of fine-tuning steps.
public struct ScheduleSpec: Sendable, Equatable, Codable {
    /// The schedule family.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case polynomial, constant
    }

    public var kind: Kind
    /// PolynomialDecay's starting sparsity (default 0: from the dense model).
    public var initialSparsity: Double?
    public var beginStep: Int?
    /// nil: `endFraction` of the way into fine-tuning (polynomial), -1 (constant).
    public var endStep: Int?
    /// Where a polynomial schedule without `endStep` reaches its final sparsity, as a fraction of
    /// the fine-tuning steps (nil: `defaultEndFraction`); the rest recovers at the final masks.
    public var endFraction: Double?
    /// nil: about ten updates between begin and end, at most every 100 steps (constant: 100).
    public var frequency: Int?
    /// PolynomialDecay's exponent (default 3).
    public var power: Double?

    /// A spec with the given fields; nil ones are derived.
    /// Where the final sparsity is reached by default (polynomial, no `endStep`).
    public static let defaultEndFraction = 0.75

    public init(kind: Kind, initialSparsity: Double? = nil, beginStep: Int? = nil, endStep: Int? = nil,
                endFraction: Double? = nil, frequency: Int? = nil, power: Double? = nil) {
        self.kind = kind
        self.endFraction = endFraction
        self.initialSparsity = initialSparsity
        self.beginStep = beginStep
        self.endStep = endStep
        self.frequency = frequency
        self.power = power
    }

    /// The schedule reaching `finalSparsity` over `totalSteps` optimizer steps (validated).
    public func resolve(finalSparsity: Double, totalSteps: Int) throws(ScheduleError) -> any PruningSchedule {
        let begin = beginStep ?? 0
        switch kind {
        case .constant:
            let s = ConstantSparsitySchedule(targetSparsity: finalSparsity, beginStep: begin, endStep: endStep ?? -1,
                                             frequency: frequency ?? 100)
            try s.validate()
            return s
        case .polynomial:
            let available = max(0, totalSteps - 1 - begin)
            let freq = frequency ?? max(1, min(100, available / 10))
            let fraction = min(max(endFraction ?? Self.defaultEndFraction, 0), 1)
            var end = endStep ?? begin + Int(Double(available) * fraction)
            if endStep == nil {
                // Land the last update exactly on end_step so the final sparsity is applied.
                end = begin + ((end - begin) / freq) * freq
            }
            let s = PolynomialDecaySchedule(initialSparsity: initialSparsity ?? 0, finalSparsity: finalSparsity,
                                            beginStep: begin, endStep: end, power: power ?? 3, frequency: freq)
            try s.validate()
            return s
        }
    }
}
