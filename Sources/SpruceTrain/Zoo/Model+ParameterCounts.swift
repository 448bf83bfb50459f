// Keras-style parameter counts of any IR model (not only zoo models): non-trainable parameters are
// BatchNormalization's running mean and variance (inputs 3 and 4), trainable ones are every other
// float initializer; each initializer counts once however many nodes read it. An omitted BN scale
// ("" = Keras scale=False) counts nothing. Lowered graphs (BN folded) count what is left.
// It does not know about freezing: frozen layers are a training option, not a property of the model.

import SpruceCore

/// Parameter counts as Keras's `model.summary()` reports them.
public struct ParameterCounts: Sendable, Equatable, Hashable {
    /// Every float parameter.
    public var total: Int { trainable + nonTrainable }
    /// Parameters an optimizer updates: conv and dense weights and biases, BN gamma and beta.
    public var trainable: Int
    /// Running statistics: BatchNormalization moving mean and moving variance.
    public var nonTrainable: Int

    /// Counts from their two parts.
    public init(trainable: Int, nonTrainable: Int) {
        self.trainable = trainable
        self.nonTrainable = nonTrainable
    }
}

extension Graph {
    /// Names of the initializers that hold BatchNormalization running statistics (mean, variance).
    public var runningStatisticNames: Set<String> {
        var names = Set<String>()
        for node in nodes {
            guard case .batchNormalization = node.op, node.inputs.count == 5 else { continue }
            for name in node.inputs[3...4] where initializers[name] != nil { names.insert(name) }
        }
        return names
    }

    /// Keras-style counts: BN running statistics are non-trainable, every other initializer trainable.
    public var parameterCounts: ParameterCounts {
        let statistics = runningStatisticNames
        var counts = ParameterCounts(trainable: 0, nonTrainable: 0)
        for (name, tensor) in initializers {
            if statistics.contains(name) { counts.nonTrainable += tensor.count } else { counts.trainable += tensor.count }
        }
        return counts
    }

    /// Parameters each node introduces, in node order: the initializers it reads that no earlier
    /// node read (so shared weights count once, at their first reader), as Keras lists per layer.
    public var parametersPerNode: [Int] {
        var seen = Set<String>()
        return nodes.map { node in
            var count = 0
            for name in node.inputs where !name.isEmpty {
                guard let t = initializers[name], seen.insert(name).inserted else { continue }
                count += t.count
            }
            return count
        }
    }
}

extension Model {
    /// Keras-style counts of the model's graph; see `Graph.parameterCounts`.
    public var parameterCounts: ParameterCounts { graph.parameterCounts }
}
