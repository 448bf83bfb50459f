// Tests of the evaluation metrics against hand-computed values (AUC with ties, Youden ties,
// confusion counts and percentages, diagnosis breakdown), against values computed once with
// numpy (pairwise Mann–Whitney AUC, Youden by argmax over the ROC), the JSON keys, and errors.
import Foundation
import Testing
@testable import SpruceTrain

struct MetricTests {
    @Test("AUC on hand examples", arguments: [
        ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75),
        // Positives 0.5, 0.5, 0.9 against negatives 0.2, 0.5: 1.5 + 1.5 + 2 of 6 pairs.
        ([0.2, 0.5, 0.5, 0.5, 0.9], [0, 0, 1, 1, 1], 5.0 / 6),
        ([0.3, 0.3, 0.3, 0.3], [0, 1, 0, 1], 0.5),
        ([0.9, 0.8, 0.1, 0.2], [0, 0, 1, 1], 0.0),
        ([0.1, 0.2, 0.7, 0.9], [0, 0, 1, 1], 1.0),
    ] as [([Float], [Int], Double)])
    func aucByHand(scores: [Float], labels: [Int], expected: Double) throws {
        #expect(abs(try ROC.auc(scores: scores, labels: labels) - expected) < 1e-12)
        #expect(abs(try ROC.auc(scores: scores, labels: labels.map(Float.init)) - expected) < 1e-12)
    }

    @Test func aucEqualsTrapezoidAreaOfTheCurve() throws {
        let scores: [Float] = [0.2, 0.5, 0.5, 0.5, 0.9, 0.1, 0.5, 0.7]
        let labels = [0, 0, 1, 1, 1, 0, 0, 1]
        let curve = try ROC.curve(scores: scores, labels: labels)
        var area = 0.0
        for (a, b) in zip(curve, curve.dropFirst()) {
            area += (b.falsePositiveRate - a.falsePositiveRate) * (a.truePositiveRate + b.truePositiveRate) / 2
        }
        #expect(abs(area - (try ROC.auc(scores: scores, labels: labels))) < 1e-12)
    }

    @Test func rocCurvePoints() throws {
        let curve = try ROC.curve(scores: [0.1, 0.4, 0.35, 0.8], labels: [0, 0, 1, 1])
        #expect(curve.map(\.threshold) == [.infinity, 0.8, 0.4, 0.35, 0.1])
        #expect(curve.map(\.truePositiveRate) == [0, 0.5, 0.5, 1, 1])
        #expect(curve.map(\.falsePositiveRate) == [0, 0, 0.5, 0.5, 1])
        let tied = try ROC.curve(scores: [0.5, 0.5, 0.2], labels: [1, 0, 0])
        #expect(tied.map(\.threshold) == [.infinity, 0.5, 0.2])
        #expect(tied.map(\.truePositives) == [0, 1, 1] && tied.map(\.falsePositives) == [0, 1, 2])
    }

    @Test func youdenByHandWithTies() throws {
        // J = 0.5 at thresholds 0.7 (2/4, 0/4), 0.5 (3/4, 1/4) and 0.3 (4/4, 2/4): the highest wins.
        let scores: [Float] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
        let labels = [0, 0, 1, 0, 1, 0, 1, 1]
        let y = try ROC.youden(scores: scores, labels: labels)
        #expect(y.threshold == 0.7)
        #expect(y.index == 0.5)
        // Perfect separation: the lowest positive score, J = 1.
        #expect(try ROC.youden(scores: [0.1, 0.3, 0.6, 0.9], labels: [0, 0, 1, 1]) == YoudenPoint(threshold: 0.6, index: 1))
    }

    // Computed once with numpy: AUC by counting pairs (ties ½), Youden as thresholds[argmax(tpr − fpr)]
    // over the distinct scores descending, counts at 0.5 with score ≥ 0.5 positive.
    static let crossScores: [Float] = [0.8, 0.5, 0.3, 0.7, 0.2, 0.5, 0.5, 0.7, 0.3, 0.4, 0.8, 0.4, 0.6, 0.8, 0.2, 0.6, 0.8, 0.8, 0.7, 0.6, 0.7, 0.9, 0.7, 0.6, 0.4, 0.7, 0.6, 0.5, 0.7, 0.6, 0.3, 0.7, 0.9, 0.5, 0.6, 0.2, 0.9, 0.7, 0.6, 0.7]
    static let crossLabels = [0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 0]

    @Test func numpyCrossCheck() throws {
        let (s, l) = (Self.crossScores, Self.crossLabels)
        #expect(abs(try ROC.auc(scores: s, labels: l) - 0.8308080808080808) < 1e-12)
        let y = try ROC.youden(scores: s, labels: l)
        #expect(y.threshold == 0.6)
        #expect(abs(y.index - 0.5757575757575757) < 1e-12)
        let c = try ConfusionCounts(scores: s, labels: l, threshold: 0.5)
        #expect(c == ConfusionCounts(truePositives: 22, trueNegatives: 9, falsePositives: 9, falseNegatives: 0))
        #expect(c.accuracy == 0.775 && c.sensitivity == 1 && c.specificity == 0.5)
    }

    @Test func confusionCountsAndPercentages() throws {
        // Score ≥ threshold is positive: 0.5 counts as positive at 0.5.
        let c = try ConfusionCounts(scores: [0.9, 0.5, 0.2, 0.6, 0.1], labels: [1, 1, 1, 0, 0], threshold: 0.5)
        #expect(c == ConfusionCounts(truePositives: 2, trueNegatives: 1, falsePositives: 1, falseNegatives: 1))
        #expect(c.accuracy == 0.6)
        #expect(c.sensitivity == 2.0 / 3 && c.specificity == 0.5)
        #expect(c.percentTruePositive == 40 && c.percentTrueNegative == 20)
        #expect(c.percentFalsePositive == 20 && c.percentFalseNegative == 20)
        let onlyNegatives = try ConfusionCounts(scores: [0.1, 0.7], labels: [0, 0], threshold: 0.5)
        #expect(onlyNegatives.sensitivity == nil && onlyNegatives.specificity == 0.5)
    }

    @Test func reportAndDiagnosisBreakdown() throws {
        let scores: [Float] = [0.9, 0.3, 0.6, 0.2, 0.8, 0.4, 0.1]
        let labels = [1, 1, 0, 0, 1, 0, 0]
        let dx: [String?] = ["mel", "bcc", "nv", "nv", "mel", "bkl", nil]
        let r = try EvaluationReport(scores: scores, labels: labels, diagnoses: dx)
        #expect(r.images == 7 && r.positives == 3 && r.negatives == 4)
        // Pairs: 0.9 and 0.8 beat all 4 negatives; 0.3 beats 0.2 and 0.1: 10 of 12.
        #expect(abs(r.auc! - 10.0 / 12) < 1e-12)
        #expect((r.atThreshold.tp, r.atThreshold.tn, r.atThreshold.fp, r.atThreshold.fn) == (2, 3, 1, 1))
        #expect(r.byDiagnosis == [
            "mel": DiagnosisErrors(images: 2, errors: 0, falsePositives: 0, falseNegatives: 0),
            "bcc": DiagnosisErrors(images: 1, errors: 1, falsePositives: 0, falseNegatives: 1),
            "nv": DiagnosisErrors(images: 2, errors: 1, falsePositives: 1, falseNegatives: 0),
            "bkl": DiagnosisErrors(images: 1, errors: 0, falsePositives: 0, falseNegatives: 0),
            "unknown": DiagnosisErrors(images: 1, errors: 0, falsePositives: 0, falseNegatives: 0),
        ])
        // Youden: at 0.8 J = 2/3; at 0.3 (3/3, 2/4) J = 1/2; so 0.8.
        #expect(r.youdenThreshold == 0.8)
        #expect(r.atYouden?.tp == 2 && r.atYouden?.fp == 0)
        #expect(r.textSummary.contains("bcc: 1 of 1 wrong"))
    }

    @Test func reportJSONKeysAndRoundTrip() throws {
        let r = try EvaluationReport(scores: Self.crossScores, labels: Self.crossLabels,
                                     diagnoses: Self.crossLabels.map { $0 == 1 ? "mel" : "nv" })
        let data = try JSONEncoder().encode(r)
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let keys: Set<String> = ["images", "positives", "negatives", "auc", "accuracy", "sensitivity", "specificity",
                                 "threshold", "youden_threshold", "youden_index", "tp", "tn", "fp", "fn",
                                 "percent_tp", "percent_tn", "percent_fp", "percent_fn", "at_youden", "by_diagnosis"]
        #expect(Set(object.keys) == keys)
        #expect(object["tp"] as? Int == 22)
        #expect(object["percent_tp"] as? Double == 55)
        #expect((object["by_diagnosis"] as? [String: Any])?["nv"] != nil)
        #expect(try JSONDecoder().decode(EvaluationReport.self, from: data) == r)
    }

    @Test func singleClassReportHasNulls() throws {
        let r = try EvaluationReport(scores: [0.2, 0.7], labels: [0, 0] as [Int])
        #expect(r.auc == nil && r.youdenThreshold == nil && r.sensitivity == nil)
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(r)) as! [String: Any]
        #expect(object["auc"] is NSNull && object["sensitivity"] is NSNull)
        #expect(object["specificity"] as? Double == 0.5)
    }

    @Test func errors() throws {
        #expect(throws: MetricError.countMismatch(scores: 2, labels: 1)) { try ROC.auc(scores: [0.1, 0.2], labels: [1]) }
        #expect(throws: MetricError.empty) { try ROC.auc(scores: [], labels: [Int]()) }
        #expect(throws: MetricError.nonBinaryLabel(index: 1, value: 2)) { try ROC.auc(scores: [0.1, 0.2], labels: [1, 2]) }
        #expect(throws: MetricError.nonFiniteScore(index: 0)) { try ROC.auc(scores: [.nan, 0.2], labels: [1, 0]) }
        #expect(throws: MetricError.singleClass(positives: 2, negatives: 0)) { try ROC.auc(scores: [0.1, 0.2], labels: [1, 1]) }
        #expect(throws: MetricError.singleClass(positives: 0, negatives: 1)) { try ROC.youden(scores: [0.1], labels: [0]) }
        #expect(throws: MetricError.countMismatch(scores: 2, labels: 1)) {
            try EvaluationReport(scores: [0.1, 0.9], labels: [0, 1] as [Int], diagnoses: ["nv"])
        }
        #expect(MetricError.nonBinaryLabel(index: 3, value: 0.5).description == "metrics: label 0.5 at index 3 is not 0 or 1")
    }
}
