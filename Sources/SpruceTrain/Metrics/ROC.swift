// ROC analysis of binary scores: AUC by average ranks (Mann–Whitney U, ties count one half, equal
// to the trapezoid area under the tied-step curve), the curve's points, and Youden's threshold.
// A score counts as positive when it is ≥ the threshold, as in scikit-learn's roc_curve.

/// One point of a ROC curve: predicting positive for scores ≥ `threshold`.
public struct ROCPoint: Sendable, Equatable, Codable {
    /// Decision threshold (`+infinity` for the starting point where nothing is positive).
    public var threshold: Float
    /// False positives / negatives.
    public var falsePositiveRate: Double
    /// True positives / positives (sensitivity).
    public var truePositiveRate: Double
    /// True positives at this threshold.
    public var truePositives: Int
    /// False positives at this threshold.
    public var falsePositives: Int
}

/// The threshold maximising Youden's J = sensitivity + specificity − 1.
public struct YoudenPoint: Sendable, Equatable {
    /// The threshold (one of the scores).
    public var threshold: Float
    /// J at that threshold, in [−1, 1].
    public var index: Double
}

/// Receiver operating characteristic metrics for binary labels (1 = positive).
public enum ROC {
    /// Area under the ROC curve; ties between a positive and a negative count one half.
    public static func auc(scores: [Float], labels: [Int]) throws -> Double {
        try auc(try BinaryInputs(scores: scores, labels: labels))
    }

    /// Area under the ROC curve for Float 0/1 labels (as `Batch.labels`).
    public static func auc(scores: [Float], labels: [Float]) throws -> Double {
        try auc(try BinaryInputs(scores: scores, labels: labels))
    }

    /// The ROC curve: the (0, 0) start, then one point per distinct score, highest first.
    public static func curve(scores: [Float], labels: [Int]) throws -> [ROCPoint] {
        try curve(try BinaryInputs(scores: scores, labels: labels))
    }

    /// Youden's optimal threshold over the distinct scores. Ties in J go to the highest threshold
    /// (the first met walking down from the strictest), which equals `thresholds[argmax(tpr - fpr)]`
    /// over scikit-learn's roc_curve without its leading infinite threshold.
    public static func youden(scores: [Float], labels: [Int]) throws -> YoudenPoint {
        try youden(try BinaryInputs(scores: scores, labels: labels))
    }

    static func auc(_ input: BinaryInputs) throws -> Double {
        try input.requireBothClasses()
        let order = input.scores.indices.sorted { input.scores[$0] < input.scores[$1] }
        // Sum of the positives' 1-based ranks, tied scores sharing their average rank.
        var rankSum = 0.0
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count, input.scores[order[end + 1]] == input.scores[order[start]] { end += 1 }
            let averageRank = Double(start + end + 2) / 2
            for k in start...end where input.positive[order[k]] { rankSum += averageRank }
            start = end + 1
        }
        let p = Double(input.positives), n = Double(input.negatives)
        return (rankSum - p * (p + 1) / 2) / (p * n)
    }

    static func curve(_ input: BinaryInputs) throws -> [ROCPoint] {
        try input.requireBothClasses()
        let order = input.scores.indices.sorted { input.scores[$0] > input.scores[$1] }
        let p = Double(input.positives), n = Double(input.negatives)
        var points = [ROCPoint(threshold: .infinity, falsePositiveRate: 0, truePositiveRate: 0, truePositives: 0, falsePositives: 0)]
        var tp = 0, fp = 0, k = 0
        while k < order.count {
            let threshold = input.scores[order[k]]
            while k < order.count, input.scores[order[k]] == threshold {
                if input.positive[order[k]] { tp += 1 } else { fp += 1 }
                k += 1
            }
            points.append(ROCPoint(threshold: threshold, falsePositiveRate: Double(fp) / n,
                                   truePositiveRate: Double(tp) / p, truePositives: tp, falsePositives: fp))
        }
        return points
    }

    static func youden(_ input: BinaryInputs) throws -> YoudenPoint {
        let points = try curve(input)
        let p = input.positives, n = input.negatives
        // J·P·N = TP·N − FP·P in integers, so equal J values compare equal exactly.
        var best = points[1]
        var bestScaled = best.truePositives * n - best.falsePositives * p
        for point in points.dropFirst(2) {
            let scaled = point.truePositives * n - point.falsePositives * p
            if scaled > bestScaled { best = point; bestScaled = scaled }
        }
        return YoudenPoint(threshold: best.threshold, index: Double(bestScaled) / Double(p * n))
    }
}
