// Runs a `.spruce` artifact behind the `InferenceSession` interface: with SpruceRuntime's engine
// (weights as stored, `threads` option), or, when the engine cannot plan the graph (an operator it
// does not implement), with the reference executor on the dense expansion, and says which it used.
import Foundation
import SpruceCore
import SpruceFormat
import SpruceRuntime

/// Options for opening a model for inference.
public struct SessionOptions: Sendable, Equatable {
    /// Worker threads for engines that use them (the reference executor runs on one).
    public var threads: Int

    /// Options with `threads` workers (default 1).
    public init(threads: Int = 1) {
        self.threads = threads
    }
}

/// Which engine a session runs on.
public enum SessionEngine: Sendable, Equatable, CustomStringConvertible {
    /// SpruceRuntime, computing from the stored (sparse, int8) weights.
    case runtime(threads: Int)
    /// SpruceCore's reference executor on dense weights; `reason` says why when the runtime was wanted.
    case reference(reason: String?)

    public var description: String {
        switch self {
        case .runtime(let threads): "runtime (\(threads) thread\(threads == 1 ? "" : "s"))"
        case .reference(let reason): "reference executor" + (reason.map { " (\($0))" } ?? "")
        }
    }
}

/// A session over a `.spruce` artifact.
public final class ArtifactSession: InferenceSession, @unchecked Sendable {
    // @unchecked: the engine is not thread-safe; every use of it holds `lock`.
    public let inputs: [ValueInfo]
    public let outputs: [ValueInfo]
    /// The engine the session runs on.
    public let engine: SessionEngine
    /// The artifact as read.
    public let artifact: Artifact
    /// How image pixels become its input, as the artifact records it (unit when it records none).
    public var inputNormalization: InputNormalization { InputNormalization(metadata: artifact.metadata) ?? .unit }
    private let runtime: Engine?
    private let reference: ReferenceExecutor?
    private let lock = NSLock()

    /// Plans `artifact` on the runtime, or falls back to the reference executor when the runtime
    /// does not implement part of the graph.
    public init(artifact: Artifact, options: SessionOptions = SessionOptions()) throws {
        self.artifact = artifact
        inputs = artifact.graph.inputs
        outputs = artifact.graph.outputs
        var planned: Engine?
        var reason = ""
        do {
            planned = try Engine(artifact: artifact, options: EngineOptions(threads: options.threads))
        } catch {
            switch error {
            case .unsupportedOperator, .dynamicShape: reason = "the runtime cannot run it: \(error)"
            default: throw error
            }
        }
        if let planned {
            runtime = planned
            reference = nil
            engine = .runtime(threads: max(1, options.threads))
        } else {
            runtime = nil
            reference = ReferenceExecutor(graph: artifact.denseModel().graph)
            engine = .reference(reason: reason)
        }
    }

    /// Reads, validates and plans the artifact at `path`.
    public convenience init(path: String, options: SessionOptions = SessionOptions()) throws {
        try self.init(artifact: try ArtifactReader.load(path: path), options: options)
    }

    public func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        if let reference { return try reference.run(feeds) }
        lock.lock()
        defer { lock.unlock() }
        guard let runtime else { return [:] }
        return try runtime.run(feeds)
    }
}
