// A model's summary for `spruce inspect`: I/O, operator counts, parameters and per-tensor sparsity.
// One value feeds both the text table and the JSON, so the two never disagree. It describes the
// IR as loaded; storage details of a packed artifact (encodings, bytes) are not part of it.
import SpruceCore

/// What `spruce inspect` reports about a model.
public struct ModelSummary: Sendable, Equatable, Encodable {
    /// A declared graph input or output; `nil` dimensions are dynamic.
    public struct Value: Sendable, Equatable, Encodable {
        public var name: String
        public var shape: [Int?]
    }

    /// One initializer: its size and how many of its elements are exactly zero.
    public struct TensorInfo: Sendable, Equatable, Encodable {
        public var name: String
        public var shape: [Int]
        public var elements: Int
        public var zeros: Int
        /// `zeros / elements` (0 for an empty tensor).
        public var sparsity: Double
    }

    public var producer: String
    public var metadata: [String: String]
    public var inputs: [Value]
    public var outputs: [Value]
    /// Node count per ONNX operator name.
    public var operators: [String: Int]
    public var nodes: Int
    /// Elements over all initializers.
    public var parameters: Int
    /// Exact zeros over all initializers.
    public var zeros: Int
    /// `zeros / parameters` (0 when there are none).
    public var sparsity: Double
    /// Initializers sorted by name.
    public var tensors: [TensorInfo]

    /// Summarises `model`.
    public init(model: Model) {
        let graph = model.graph
        producer = model.producer
        metadata = model.metadata
        inputs = graph.inputs.map { Value(name: $0.name, shape: $0.shape) }
        outputs = graph.outputs.map { Value(name: $0.name, shape: $0.shape) }
        operators = graph.nodes.reduce(into: [:]) { $0[$1.op.onnxName, default: 0] += 1 }
        nodes = graph.nodes.count
        tensors = graph.initializers.sorted { $0.key < $1.key }.map { name, t in
            var zeros = 0
            t.data.withUnsafeBufferPointer { for v in $0 where v == 0 { zeros += 1 } }
            return TensorInfo(name: name, shape: t.shape, elements: t.count, zeros: zeros,
                              sparsity: t.count == 0 ? 0 : Double(zeros) / Double(t.count))
        }
        parameters = tensors.reduce(0) { $0 + $1.elements }
        zeros = tensors.reduce(0) { $0 + $1.zeros }
        sparsity = parameters == 0 ? 0 : Double(zeros) / Double(parameters)
    }
}
