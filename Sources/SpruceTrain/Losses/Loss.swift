// Training losses on logits, averaged over the batch, each returning the loss and its gradient
// w.r.t. the logits: binary cross-entropy (the study's) and softmax cross-entropy (multi-class).
// Sums run in Double so the loss of a large batch is not rounded away. Not metrics (Metrics/).

import SpruceCore

import _SpruceSupport

/// Which loss a training session minimizes.
public enum LossKind: String, Sendable, Equatable, CaseIterable {
    /// Sigmoid + binary cross-entropy, computed on the logit.
    case binaryCrossEntropy
    /// Softmax + categorical cross-entropy over the last axis, labels as class indices.
    case softmaxCrossEntropy
}

/// Loss functions on logits.
public enum Loss {
    /// Mean binary cross-entropy of sigmoid(z) against labels y in [0, 1], per element
    /// max(z, 0) − z·y + log(1 + exp(−|z|)), which never overflows; gradient (σ(z) − y)/count.
    public static func binaryCrossEntropy(logits: [Float], labels: [Float]) -> (loss: Float, gradient: [Float]) {
        let n = logits.count
        guard n > 0, labels.count == n else { return (0, [Float](repeating: 0, count: n)) }
        var total = 0.0
        var gradient = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let z = Double(logits[i]), y = Double(labels[i])
            total += max(z, 0) - z * y + log1p(exp(-abs(z)))
            let p = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z))
            gradient[i] = Float((p - y) / Double(n))
        }
        return (Float(total / Double(n)), gradient)
    }

    /// Mean softmax cross-entropy of rows of `classes` logits against class indices;
    /// gradient (softmax − one-hot)/rows. Labels out of range give a nil result.
    public static func softmaxCrossEntropy(logits: [Float], classes: Int, labels: [Int]) -> (loss: Float, gradient: [Float])? {
        guard classes > 0, logits.count == labels.count * classes else { return nil }
        let rows = labels.count
        var total = 0.0
        var gradient = [Float](repeating: 0, count: logits.count)
        for r in 0..<rows {
            guard labels[r] >= 0 && labels[r] < classes else { return nil }
            let base = r * classes
            var peak = -Double.infinity
            for c in 0..<classes { peak = max(peak, Double(logits[base + c])) }
            var sum = 0.0
            for c in 0..<classes { sum += exp(Double(logits[base + c]) - peak) }
            let logSum = log(sum) + peak
            total += logSum - Double(logits[base + labels[r]])
            for c in 0..<classes {
                let p = exp(Double(logits[base + c]) - logSum)
                gradient[base + c] = Float((p - (c == labels[r] ? 1 : 0)) / Double(rows))
            }
        }
        return (Float(total / Double(max(rows, 1))), gradient)
    }
}
