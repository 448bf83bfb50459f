// Confusion counts of binary predictions at a threshold (score ≥ threshold is positive) and the
// rates the study reports: accuracy, sensitivity, specificity, and % TP/TN/FP/FN of all images.
// Rates with an empty denominator are nil rather than NaN, so reports stay valid JSON.

/// True/false positive/negative counts at one threshold.
public struct ConfusionCounts: Sendable, Equatable, Codable {
    public var truePositives: Int
    public var trueNegatives: Int
    public var falsePositives: Int
    public var falseNegatives: Int

    /// Counts from explicit numbers.
    public init(truePositives: Int, trueNegatives: Int, falsePositives: Int, falseNegatives: Int) {
        self.truePositives = truePositives
        self.trueNegatives = trueNegatives
        self.falsePositives = falsePositives
        self.falseNegatives = falseNegatives
    }

    /// Counts of `scores` against 0/1 `labels`, predicting positive when score ≥ `threshold`.
    public init(scores: [Float], labels: [Int], threshold: Float) throws {
        self.init(try BinaryInputs(scores: scores, labels: labels), threshold: threshold)
    }

    init(_ input: BinaryInputs, threshold: Float) {
        var tp = 0, tn = 0, fp = 0, fn = 0
        for (score, positive) in zip(input.scores, input.positive) {
            switch (score >= threshold, positive) {
            case (true, true): tp += 1
            case (false, false): tn += 1
            case (true, false): fp += 1
            case (false, true): fn += 1
            }
        }
        self.init(truePositives: tp, trueNegatives: tn, falsePositives: fp, falseNegatives: fn)
    }

    /// All images counted.
    public var total: Int { truePositives + trueNegatives + falsePositives + falseNegatives }
    /// Correct predictions / all images.
    public var accuracy: Double? { ratio(truePositives + trueNegatives, total) }
    /// True positives / positives (recall of class 1).
    public var sensitivity: Double? { ratio(truePositives, truePositives + falseNegatives) }
    /// True negatives / negatives.
    public var specificity: Double? { ratio(trueNegatives, trueNegatives + falsePositives) }
    /// The study's columns: each count as a percentage of all images.
    public var percentTruePositive: Double? { percent(truePositives) }
    public var percentTrueNegative: Double? { percent(trueNegatives) }
    public var percentFalsePositive: Double? { percent(falsePositives) }
    public var percentFalseNegative: Double? { percent(falseNegatives) }

    private func percent(_ count: Int) -> Double? { ratio(100 * count, total) }
    private func ratio(_ a: Int, _ b: Int) -> Double? { b == 0 ? nil : Double(a) / Double(b) }
}
