// The evaluation of a binary classifier on a test set, as the study reports it: AUC, accuracy,
// sensitivity, specificity and % TP/TN/FP/FN at a threshold (0.5 by default) and at Youden's
// threshold, plus errors per diagnosis (`dx`). Codable with snake_case JSON keys; undefined
// values (one class only) are JSON null. It computes from scores; it does not run a model.
import Foundation

/// Metrics at one threshold.
public struct ThresholdMetrics: Sendable, Equatable, Codable {
    public var threshold: Float
    public var accuracy: Double?
    public var sensitivity: Double?
    public var specificity: Double?
    public var tp: Int, tn: Int, fp: Int, fn: Int
    public var percentTP: Double?, percentTN: Double?, percentFP: Double?, percentFN: Double?

    /// The metrics of `counts` at `threshold`.
    public init(threshold: Float, counts: ConfusionCounts) {
        self.threshold = threshold
        accuracy = counts.accuracy
        sensitivity = counts.sensitivity
        specificity = counts.specificity
        (tp, tn, fp, fn) = (counts.truePositives, counts.trueNegatives, counts.falsePositives, counts.falseNegatives)
        percentTP = counts.percentTruePositive
        percentTN = counts.percentTrueNegative
        percentFP = counts.percentFalsePositive
        percentFN = counts.percentFalseNegative
    }

    enum CodingKeys: String, CodingKey {
        case threshold, accuracy, sensitivity, specificity, tp, tn, fp, fn
        case percentTP = "percent_tp", percentTN = "percent_tn", percentFP = "percent_fp", percentFN = "percent_fn"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(threshold, forKey: .threshold)
        try c.encode(accuracy, forKey: .accuracy)
        try c.encode(sensitivity, forKey: .sensitivity)
        try c.encode(specificity, forKey: .specificity)
        try c.encode(tp, forKey: .tp)
        try c.encode(tn, forKey: .tn)
        try c.encode(fp, forKey: .fp)
        try c.encode(fn, forKey: .fn)
        try c.encode(percentTP, forKey: .percentTP)
        try c.encode(percentTN, forKey: .percentTN)
        try c.encode(percentFP, forKey: .percentFP)
        try c.encode(percentFN, forKey: .percentFN)
    }
}

/// Errors among the images of one diagnosis, at the report's main threshold.
public struct DiagnosisErrors: Sendable, Equatable, Codable {
    /// Images with this diagnosis.
    public var images: Int
    /// Misclassified images (false positives + false negatives).
    public var errors: Int
    /// Benign images called malignant.
    public var falsePositives: Int
    /// Malignant images called benign.
    public var falseNegatives: Int

    enum CodingKeys: String, CodingKey {
        case images, errors, falsePositives = "false_positives", falseNegatives = "false_negatives"
    }
}

/// A binary classifier's evaluation (label 1 = positive, e.g. malignant).
///
/// ```swift
/// let report = try EvaluationReport(scores: probs, labels: labels, diagnoses: dx)
/// let json = try JSONEncoder().encode(report)   // {"auc":0.91,"accuracy":...,"by_diagnosis":{...}}
/// ```
public struct EvaluationReport: Sendable, Equatable, Codable {
    /// Images evaluated.
    public var images: Int
    public var positives: Int
    public var negatives: Int
    /// ROC AUC (ties count one half); nil when only one class is present.
    public var auc: Double?
    /// Metrics at the main threshold (`threshold`, 0.5 by default); flattened into the JSON.
    public var atThreshold: ThresholdMetrics
    /// Youden's optimal threshold (ties: the highest); nil when only one class is present.
    public var youdenThreshold: Float?
    /// Youden's J at that threshold.
    public var youdenIndex: Double?
    /// Metrics at Youden's threshold.
    public var atYouden: ThresholdMetrics?
    /// Images and errors per diagnosis at the main threshold (images without one count as "unknown").
    public var byDiagnosis: [String: DiagnosisErrors]

    /// Evaluates `scores` (probabilities or logits; the threshold must match) against 0/1 `labels`.
    /// `diagnoses`, when given, has one entry per score (nil entries count as "unknown").
    public init(scores: [Float], labels: [Float], diagnoses: [String?]? = nil, threshold: Float = 0.5) throws {
        let input = try BinaryInputs(scores: scores, labels: labels)
        if let diagnoses, diagnoses.count != scores.count {
            throw MetricError.countMismatch(scores: scores.count, labels: diagnoses.count)
        }
        images = scores.count
        positives = input.positives
        negatives = input.negatives
        let bothClasses = input.positives > 0 && input.negatives > 0
        auc = bothClasses ? try ROC.auc(input) : nil
        atThreshold = ThresholdMetrics(threshold: threshold, counts: ConfusionCounts(input, threshold: threshold))
        if bothClasses {
            let youden = try ROC.youden(input)
            youdenThreshold = youden.threshold
            youdenIndex = youden.index
            atYouden = ThresholdMetrics(threshold: youden.threshold, counts: ConfusionCounts(input, threshold: youden.threshold))
        }
        byDiagnosis = [:]
        if let diagnoses {
            for (i, dx) in diagnoses.enumerated() {
                let predicted = scores[i] >= threshold
                var entry = byDiagnosis[dx ?? "unknown"] ?? DiagnosisErrors(images: 0, errors: 0, falsePositives: 0, falseNegatives: 0)
                entry.images += 1
                if predicted != input.positive[i] {
                    entry.errors += 1
                    if predicted { entry.falsePositives += 1 } else { entry.falseNegatives += 1 }
                }
                byDiagnosis[dx ?? "unknown"] = entry
            }
        }
    }

    /// Same as the Float-label initialiser, for Int 0/1 labels.
    public init(scores: [Float], labels: [Int], diagnoses: [String?]? = nil, threshold: Float = 0.5) throws {
        try self.init(scores: scores, labels: labels.map(Float.init), diagnoses: diagnoses, threshold: threshold)
    }

    /// Main-threshold metrics, for convenience.
    public var threshold: Float { atThreshold.threshold }
    public var accuracy: Double? { atThreshold.accuracy }
    public var sensitivity: Double? { atThreshold.sensitivity }
    public var specificity: Double? { atThreshold.specificity }

    enum CodingKeys: String, CodingKey {
        case images, positives, negatives, auc
        case youdenThreshold = "youden_threshold", youdenIndex = "youden_index", atYouden = "at_youden"
        case byDiagnosis = "by_diagnosis"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        images = try c.decode(Int.self, forKey: .images)
        positives = try c.decode(Int.self, forKey: .positives)
        negatives = try c.decode(Int.self, forKey: .negatives)
        auc = try c.decodeIfPresent(Double.self, forKey: .auc)
        atThreshold = try ThresholdMetrics(from: decoder)
        youdenThreshold = try c.decodeIfPresent(Float.self, forKey: .youdenThreshold)
        youdenIndex = try c.decodeIfPresent(Double.self, forKey: .youdenIndex)
        atYouden = try c.decodeIfPresent(ThresholdMetrics.self, forKey: .atYouden)
        byDiagnosis = try c.decode([String: DiagnosisErrors].self, forKey: .byDiagnosis)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(images, forKey: .images)
        try c.encode(positives, forKey: .positives)
        try c.encode(negatives, forKey: .negatives)
        try c.encode(auc, forKey: .auc)
        try atThreshold.encode(to: encoder)  // flattened: threshold, accuracy, ..., percent_fn at top level
        try c.encode(youdenThreshold, forKey: .youdenThreshold)
        try c.encode(youdenIndex, forKey: .youdenIndex)
        try c.encode(atYouden, forKey: .atYouden)
        try c.encode(byDiagnosis, forKey: .byDiagnosis)
    }

    /// A plain-text table of the report (one threshold per line, then the diagnoses).
    public var textSummary: String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "n/a" }
        func p(_ v: Double?) -> String { v.map { String(format: "%.1f%%", $0) } ?? "n/a" }
        var lines = ["images \(images) (\(positives) positive, \(negatives) negative), AUC \(f(auc))"]
        var rows = [("threshold", atThreshold)]
        if let atYouden { rows.append(("Youden", atYouden)) }
        for (name, m) in rows {
            lines.append("\(name) \(m.threshold): accuracy \(f(m.accuracy)), sensitivity \(f(m.sensitivity)), "
                + "specificity \(f(m.specificity)); TP \(p(m.percentTP)), TN \(p(m.percentTN)), "
                + "FP \(p(m.percentFP)), FN \(p(m.percentFN))")
        }
        for dx in byDiagnosis.keys.sorted() {
            let e = byDiagnosis[dx]!
            lines.append("  \(dx): \(e.errors) of \(e.images) wrong")
        }
        return lines.joined(separator: "\n")
    }
}
