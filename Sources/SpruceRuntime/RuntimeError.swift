// Typed errors of the runtime: loading, planning and running an artifact. One case per rule;
// each description is one line naming the node, tensor or input involved.
// Artifact reading errors are FormatError (wrapped), graph rule errors GraphError (wrapped).
import SpruceCore
import SpruceFormat

/// Why an artifact could not be loaded, planned or run.
public enum RuntimeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The artifact could not be read or failed validation.
    case format(FormatError)
    /// The graph broke a rule (shape inference, attributes).
    case graph(GraphError)
    /// An operator, or an operator configuration, the runtime does not implement.
    case unsupportedOperator(node: String, op: String, detail: String)
    /// A node needs a constant weight that the artifact does not hold.
    case missingWeight(node: String, tensor: String)
    /// A stored weight's matrix view disagrees with the node that reads it.
    case weightMismatch(node: String, tensor: String, detail: String)
    /// A graph input has a dynamic dimension other than the batch.
    case dynamicShape(input: String, shape: [Int?])
    /// A runtime input is missing, unknown, or has the wrong shape.
    case badInput(name: String, detail: String)
    /// A graph output cannot be split per batch sample.
    case unbatchedOutput(name: String, shape: [Int])

    public var description: String {
        switch self {
        case .format(let e): "artifact: \(e)"
        case .graph(let e): "graph: \(e)"
        case .unsupportedOperator(let node, let op, let detail): "node '\(node)' (\(op)): not supported by the runtime: \(detail)"
        case .missingWeight(let node, let tensor): "node '\(node)': weight '\(tensor)' is not a constant tensor of the artifact"
        case .weightMismatch(let node, let tensor, let detail): "node '\(node)': weight '\(tensor)': \(detail)"
        case .dynamicShape(let input, let shape):
            "input '\(input)' has dynamic dimensions \(shape.map { $0.map(String.init) ?? "?" }) beyond the batch"
        case .badInput(let name, let detail): "input '\(name)': \(detail)"
        case .unbatchedOutput(let name, let shape): "output '\(name)' with shape \(shape) has no batch axis to split"
        }
    }
}
