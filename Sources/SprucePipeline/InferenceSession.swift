// The one interface the CLI runs models through, whatever the file format or engine behind it.
// `ReferenceSession` wraps SpruceCore's reference executor (ONNX models); the `.spruce` runtime
// plugs in by providing another conforming type through a `ModelLoader`.
import SpruceCore

/// A loaded model ready to run: declared inputs and outputs, and a run over named tensors.
public protocol InferenceSession: Sendable {
    /// Declared graph inputs, in order (`nil` dimensions are dynamic).
    var inputs: [ValueInfo] { get }
    /// Declared graph outputs, in order.
    var outputs: [ValueInfo] { get }
    /// Runs one batch: feeds by input name, results by output name.
    func run(_ feeds: [String: Tensor]) throws -> [String: Tensor]
}

/// Runs a model's graph with the plain reference executor (the correctness oracle, not fast).
public struct ReferenceSession: InferenceSession {
    public let inputs: [ValueInfo]
    public let outputs: [ValueInfo]
    private let executor: ReferenceExecutor

    /// A session over `model`'s graph.
    public init(model: Model) {
        inputs = model.graph.inputs
        outputs = model.graph.outputs
        executor = ReferenceExecutor(graph: model.graph)
    }

    public func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        try executor.run(feeds)
    }
}
