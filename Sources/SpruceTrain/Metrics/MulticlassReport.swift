// The evaluation of an N-class classifier from its class probabilities: top-1 and top-k accuracy,
// balanced accuracy (mean recall over the classes present), one-vs-rest ROC AUC per class and
// their mean (macro AUC), and the confusion matrix. Codable with snake_case JSON keys; undefined
// values (a class absent from the labels) are JSON null. It computes from scores; it runs no model.
import Foundation

/// One class's figures in a multi-class evaluation.
public struct ClassMetrics: Sendable, Equatable, Codable {
    /// Class name.
    public var name: String
    /// Images whose label is this class.
    public var images: Int
    /// Images of the class predicted as the class, over `images` (nil when there are none).
    public var recall: Double?
    /// Images predicted as the class that are of the class (nil when nothing was predicted as it).
    public var precision: Double?
    /// One-vs-rest ROC AUC of this class's probability (nil when the class is absent or alone).
    public var auc: Double?
}

/// An N-class classifier's evaluation (rows of class probabilities, one row per image).
///
/// ```swift
/// let report = try MulticlassReport(probabilities: rows, classes: 7, labels: labels, classNames: names)
/// print(report.top1, report.macroAUC ?? .nan, report.confusion)
/// ```
public struct MulticlassReport: Sendable, Equatable, Codable {
    /// Images evaluated.
    public var images: Int
    /// Share of images whose highest-scoring class is the label.
    public var top1: Double
    /// k of the top-k accuracy: 5, or the number of classes when there are fewer.
    public var topK: Int
    /// Share of images whose label is among the k highest-scoring classes.
    public var topKAccuracy: Double
    /// Mean recall over the classes that occur in the labels.
    public var balancedAccuracy: Double
    /// Mean of the per-class one-vs-rest AUCs that are defined; nil when none is.
    public var macroAUC: Double?
    /// Per class, in class-index order.
    public var perClass: [ClassMetrics]
    /// `confusion[label][predicted]`: images of class `label` whose top-1 class was `predicted`.
    public var confusion: [[Int]]

    enum CodingKeys: String, CodingKey {
        case images, top1 = "top1", topK = "top_k", topKAccuracy = "top_k_accuracy"
        case balancedAccuracy = "balanced_accuracy", macroAUC = "macro_auc", perClass = "per_class", confusion
    }

    /// Evaluates `probabilities` (row-major, `classes` per image; pass logits through
    /// `probabilityRows` first, since a class's AUC compares rows) against class indices
    /// `labels`. Ties in a row go to the lower class index.
    public init(probabilities: [Float], classes: Int, labels: [Int], classNames: [String]? = nil) throws {
        guard classes >= 2 else { throw MetricError.tooFewClasses(classes) }
        guard !labels.isEmpty else { throw MetricError.empty }
        guard probabilities.count == labels.count * classes else {
            throw MetricError.countMismatch(scores: probabilities.count / classes, labels: labels.count)
        }
        if let i = probabilities.firstIndex(where: { !$0.isFinite }) { throw MetricError.nonFiniteScore(index: i / classes) }
        if let i = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) {
            throw MetricError.labelOutOfRange(index: i, label: labels[i], classes: classes)
        }
        let names = classNames.map { $0.count == classes ? $0 : nil } ?? nil
        images = labels.count
        topK = min(5, classes)
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        var inTopK = 0
        for (i, label) in labels.enumerated() {
            let row = probabilities[(i * classes)..<((i + 1) * classes)]
            var best = row.startIndex
            for j in row.indices where row[j] > row[best] { best = j }
            confusion[label][best - row.startIndex] += 1
            // The label is in the top k when fewer than k classes outrank it (ties count for it).
            let score = row[row.startIndex + label]
            var ahead = 0
            for j in row.indices where row[j] > score || (row[j] == score && j - row.startIndex < label) { ahead += 1 }
            if ahead < topK { inTopK += 1 }
        }
        self.confusion = confusion
        top1 = Double((0..<classes).reduce(0) { $0 + confusion[$1][$1] }) / Double(images)
        topKAccuracy = Double(inTopK) / Double(images)

        var perClass: [ClassMetrics] = []
        for c in 0..<classes {
            let count = confusion[c].reduce(0, +)
            let predicted = (0..<classes).reduce(0) { $0 + confusion[$1][c] }
            let scores = labels.indices.map { probabilities[$0 * classes + c] }
            let truth = labels.map { $0 == c ? 1 : 0 }
            let auc = count > 0 && count < images ? try ROC.auc(scores: scores, labels: truth) : nil
            perClass.append(ClassMetrics(
                name: names?[c] ?? String(c), images: count,
                recall: count > 0 ? Double(confusion[c][c]) / Double(count) : nil,
                precision: predicted > 0 ? Double(confusion[c][c]) / Double(predicted) : nil, auc: auc))
        }
        self.perClass = perClass
        let recalls = perClass.compactMap(\.recall)
        balancedAccuracy = recalls.reduce(0, +) / Double(max(recalls.count, 1))
        let aucs = perClass.compactMap(\.auc)
        macroAUC = aucs.isEmpty ? nil : aucs.reduce(0, +) / Double(aucs.count)
    }

    /// `rows` as probabilities: unchanged when every row already is one (entries in [0, 1]
    /// summing to 1 within 1e-3), else the softmax of each row (the rows are logits).
    public static func probabilityRows(_ rows: [Float], classes: Int) -> [Float] {
        guard classes > 0, rows.count % classes == 0 else { return rows }
        var isProbability = true
        for r in stride(from: 0, to: rows.count, by: classes) where isProbability {
            let row = rows[r..<(r + classes)]
            isProbability = row.allSatisfy { $0 >= 0 && $0 <= 1 } && abs(row.reduce(0, +) - 1) <= 1e-3
        }
        if isProbability { return rows }
        var out = rows
        for r in stride(from: 0, to: rows.count, by: classes) {
            let top = rows[r..<(r + classes)].max() ?? 0
            var sum: Float = 0
            for j in r..<(r + classes) { out[j] = expf(rows[j] - top); sum += out[j] }
            for j in r..<(r + classes) { out[j] /= sum }
        }
        return out
    }

    /// Macro one-vs-rest AUC of probability rows against float class indices (a batch loader's
    /// labels); nil when no class has both members and non-members, or the inputs are invalid.
    public static func macroAUC(probabilities: [Float], classes: Int, labels: [Float]) -> Double? {
        (try? MulticlassReport(probabilities: probabilities, classes: classes, labels: labels.map { Int($0) }))?.macroAUC
    }

    /// Mean cross-entropy −log p(label) of probability rows (clamped at 1e-7), NaN when empty.
    public static func crossEntropy(probabilities: [Float], classes: Int, labels: [Float]) -> Double {
        guard !labels.isEmpty, probabilities.count == labels.count * classes else { return .nan }
        var total = 0.0
        for (i, y) in labels.enumerated() {
            let j = Int(y)
            guard j >= 0, j < classes else { return .nan }
            total -= log(max(Double(probabilities[i * classes + j]), 1e-7))
        }
        return total / Double(labels.count)
    }

    /// A plain-text summary: the headline figures, one line per class, then the confusion matrix.
    public var textSummary: String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "n/a" }
        var lines = ["images \(images), \(perClass.count) classes: top-1 \(f(top1)), top-\(topK) \(f(topKAccuracy)), "
                     + "balanced accuracy \(f(balancedAccuracy)), macro AUC \(f(macroAUC))"]
        let width = max(5, perClass.map(\.name.count).max() ?? 0)
        func pad(_ s: String) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
        for c in perClass {
            lines.append("  \(pad(c.name)): \(c.images) image\(c.images == 1 ? "" : "s"), recall \(f(c.recall)), precision \(f(c.precision)), AUC \(f(c.auc))")
        }
        lines.append("confusion (rows: label, columns: predicted)")
        lines.append("  \(pad("")) " + perClass.map { pad($0.name) }.joined(separator: " "))
        for (c, row) in confusion.enumerated() {
            lines.append("  \(pad(perClass[c].name)) " + row.map { pad(String($0)) }.joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }
}
