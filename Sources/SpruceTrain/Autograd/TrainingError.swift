// Typed errors of the trainer (executor, session, optimizers): one case per rule, each naming
// the node, value or parameter involved so the CLI can print one clear line.
// Graph-structure errors from shape inference surface unchanged as SpruceCore's GraphError.

import SpruceCore

/// A failure to build, run or differentiate a training graph, naming what is involved.
public enum TrainingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The node uses an operator form the trainer cannot differentiate.
    case unsupported(node: String, op: String, detail: String)
    /// A required input or label was missing or had the wrong shape.
    case badInput(name: String, detail: String)
    /// A gradient seed names no value of the graph or has the wrong shape.
    case badGradient(name: String, detail: String)
    /// The graph has no usable output to train on.
    case noTrainableOutput(detail: String)
    /// A mask, freeze rule or optimizer state does not match the parameters.
    case badParameterState(name: String, detail: String)
    /// The loss became NaN or infinite.
    case nonFiniteLoss(step: Int)
    /// The classifier head cannot be found or replaced.
    case badHead(detail: String)

    public var description: String {
        switch self {
        case .unsupported(let node, let op, let detail): "node '\(node)' (\(op)): cannot train: \(detail)"
        case .badInput(let name, let detail): "input '\(name)': \(detail)"
        case .badGradient(let name, let detail): "gradient for '\(name)': \(detail)"
        case .noTrainableOutput(let detail): "no trainable output: \(detail)"
        case .badParameterState(let name, let detail): "parameter '\(name)': \(detail)"
        case .nonFiniteLoss(let step): "loss is not finite at step \(step)"
        case .badHead(let detail): "classifier head: \(detail)"
        }
    }
}
