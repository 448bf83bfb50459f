// Typed errors of the evaluation metrics: bad inputs are reported, never computed with.
// Each case says which input is wrong and where.

/// Invalid input to a metric.
public enum MetricError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Scores and labels (or diagnoses) differ in length.
    case countMismatch(scores: Int, labels: Int)
    /// No scores at all.
    case empty
    /// A label is neither 0 nor 1.
    case nonBinaryLabel(index: Int, value: Float)
    /// A score is NaN or infinite.
    case nonFiniteScore(index: Int)
    /// Only one class is present, so a rate or the AUC is undefined.
    case singleClass(positives: Int, negatives: Int)
    /// A multi-class metric was given fewer than two classes.
    case tooFewClasses(Int)
    /// A class label is outside 0..<classes.
    case labelOutOfRange(index: Int, label: Int, classes: Int)

    public var description: String {
        switch self {
        case .countMismatch(let s, let l): "metrics: \(s) scores but \(l) labels"
        case .empty: "metrics: no scores"
        case .nonBinaryLabel(let i, let v): "metrics: label \(v) at index \(i) is not 0 or 1"
        case .nonFiniteScore(let i): "metrics: score at index \(i) is not finite"
        case .singleClass(let p, let n): "metrics: \(p) positives and \(n) negatives; both classes are needed"
        case .tooFewClasses(let n): "metrics: \(n) class\(n == 1 ? "" : "es"); a multi-class report needs at least 2"
        case .labelOutOfRange(let i, let l, let n): "metrics: label \(l) at index \(i) is not a class of 0..<\(n)"
        }
    }
}

/// Checked binary inputs shared by every metric: finite scores and 0/1 labels of equal count.
struct BinaryInputs {
    let scores: [Float]
    let positive: [Bool]
    let positives: Int
    var negatives: Int { scores.count - positives }

    init(scores: [Float], labels: [Int]) throws {
        try self.init(scores: scores, labels: labels.map(Float.init))
    }

    init(scores: [Float], labels: [Float]) throws {
        guard scores.count == labels.count else { throw MetricError.countMismatch(scores: scores.count, labels: labels.count) }
        guard !scores.isEmpty else { throw MetricError.empty }
        if let i = scores.firstIndex(where: { !$0.isFinite }) { throw MetricError.nonFiniteScore(index: i) }
        if let i = labels.firstIndex(where: { $0 != 0 && $0 != 1 }) { throw MetricError.nonBinaryLabel(index: i, value: labels[i]) }
        self.scores = scores
        positive = labels.map { $0 == 1 }
        positives = positive.lazy.filter { $0 }.count
    }

    func requireBothClasses() throws {
        guard positives > 0, negatives > 0 else { throw MetricError.singleClass(positives: positives, negatives: negatives) }
    }
}
