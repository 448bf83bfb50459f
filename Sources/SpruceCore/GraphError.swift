// Typed errors of SpruceCore: what the verifier, shape inference and the executor report.
// Every case names the node (or value) involved so the CLI can print one clear line.

/// A broken graph rule or a failed evaluation, naming the node or value involved.
public enum GraphError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A node reads a value that no graph input, initializer or earlier node provides.
    case undefinedValue(node: String, value: String)
    /// Two producers write the same value name.
    case duplicateValue(String)
    /// A node has the wrong number of inputs or outputs for its operator.
    case arity(node: String, op: String, detail: String)
    /// An attribute is out of range or inconsistent (e.g. groups not dividing channels).
    case invalidAttribute(node: String, op: String, detail: String)
    /// Input shapes do not fit the operator.
    case shapeMismatch(node: String, op: String, detail: String)
    /// Two nodes share a name.
    case duplicateNode(String)
    /// A graph output is never produced.
    case missingOutput(String)
    /// A runtime input was not supplied or has the wrong shape.
    case badInput(name: String, detail: String)
    /// An initializer's element count disagrees with its shape.
    case invalidInitializer(name: String, detail: String)

    public var description: String {
        switch self {
        case .undefinedValue(let node, let value): "node '\(node)' reads '\(value)', which nothing defines before it"
        case .duplicateValue(let v): "value '\(v)' is defined more than once"
        case .arity(let node, let op, let detail): "node '\(node)' (\(op)): \(detail)"
        case .invalidAttribute(let node, let op, let detail): "node '\(node)' (\(op)): invalid attribute: \(detail)"
        case .shapeMismatch(let node, let op, let detail): "node '\(node)' (\(op)): shape mismatch: \(detail)"
        case .duplicateNode(let n): "node name '\(n)' is used by more than one node"
        case .missingOutput(let v): "graph output '\(v)' is never produced"
        case .badInput(let name, let detail): "input '\(name)': \(detail)"
        case .invalidInitializer(let name, let detail): "initializer '\(name)': \(detail)"
        }
    }
}
