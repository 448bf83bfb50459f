// The IR's graph and model: nodes in topological order, float initializers, typed I/O.
// It holds no execution state; the reference executor and the runtime read it.

/// A graph input or output: a name and a shape whose `nil` entries are dynamic (e.g. batch).
public struct ValueInfo: Sendable, Equatable, Hashable {
    public var name: String
    /// Dimensions; `nil` marks a dynamic one (the batch dimension, usually).
    public var shape: [Int?]

    /// A value named `name` with `shape`.
    public init(name: String, shape: [Int?]) {
        self.name = name
        self.shape = shape
    }
}

/// A computation graph: nodes in topological order over named values.
public struct Graph: Sendable, Equatable {
    /// Nodes in topological order: every input is a graph input, an initializer or an earlier output.
    public var nodes: [Node]
    /// Constant float tensors (weights) by name.
    public var initializers: [String: Tensor]
    /// Runtime inputs (initializers are never listed here).
    public var inputs: [ValueInfo]
    /// Graph outputs.
    public var outputs: [ValueInfo]

    /// A graph from its parts.
    public init(nodes: [Node] = [], initializers: [String: Tensor] = [:],
                inputs: [ValueInfo] = [], outputs: [ValueInfo] = []) {
        self.nodes = nodes
        self.initializers = initializers
        self.inputs = inputs
        self.outputs = outputs
    }

    /// Number of float parameters held in initializers.
    public var parameterCount: Int {
        initializers.values.reduce(0) { $0 + $1.count }
    }
}

/// A model: a graph plus descriptive metadata (producer, source, metrics).
public struct Model: Sendable, Equatable {
    public var graph: Graph
    /// Free-form key/value metadata, carried through import, export and packing.
    public var metadata: [String: String]
    /// Name of the tool that produced the source model (ONNX `producer_name`).
    public var producer: String

    /// A model around `graph`.
    public init(graph: Graph, metadata: [String: String] = [:], producer: String = "") {
        self.graph = graph
        self.metadata = metadata
        self.producer = producer
    }
}
