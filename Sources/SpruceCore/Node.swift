// One operation in a graph: an operator, the names of the values it reads and writes.
// Values are named strings, as in ONNX; an empty input name is an omitted optional input.

/// A named operation reading and writing named values.
public struct Node: Sendable, Equatable, Hashable {
    /// Unique within the graph (the importer names unnamed ONNX nodes).
    public var name: String
    /// The operator and its attributes.
    public var op: Op
    /// Input value names in ONNX order; "" marks an omitted optional input.
    public var inputs: [String]
    /// Output value names (ONNX Dropout's optional mask output is dropped at import).
    public var outputs: [String]

    /// A node named `name` computing `op`.
    public init(name: String, op: Op, inputs: [String], outputs: [String]) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
    }
}
