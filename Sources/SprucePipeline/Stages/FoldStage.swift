// fold: inference lowering (BatchNorm folded into convs, activations fused, Dropout/Identity
// removed). Folding scales whole output rows, so pruned weights stay exactly zero; masks follow
// their conv by node name. After it the model can no longer be trained.
import SpruceCore
import SpruceFormat

/// Lowers the model for inference.
public struct FoldStage: Stage {
    public var name: String { "fold" }

    /// A fold stage.
    public init() {}

    public func run(_ state: inout PipelineState, context: StageContext) throws -> StageReport {
        let before = state.model.graph
        let (lowered, seconds) = try timed { () throws -> Graph in
            do { return try before.lowered() } catch {
                throw StageError.failed(stage: name, reason: "\(state.sourceName): cannot lower for inference: \(error)")
            }
        }
        state.masks = Self.followMasks(state.masks, from: before, to: lowered)
        state.model.graph = lowered
        state.folded = true
        let summary = "\(before.nodes.count) → \(lowered.nodes.count) nodes"
        return StageReport(stage: name, summary: summary, seconds: seconds, model: state.model)
    }

    /// Masks renamed from `before`'s weights to the weights the same conv/Gemm node reads in `after`.
    static func followMasks(_ masks: [String: [Bool]], from before: Graph, to after: Graph) -> [String: [Bool]] {
        guard !masks.isEmpty else { return [:] }
        var weightOfNode: [String: String] = [:]
        for layer in after.prunableLayers() { weightOfNode[layer.node] = layer.tensor }
        var out: [String: [Bool]] = [:]
        for layer in before.prunableLayers() {
            if let m = masks[layer.tensor], let w = weightOfNode[layer.node], after.initializers[w]?.count == m.count {
                out[w] = m
            }
        }
        return out
    }
}

/// encode: picks each conv/Gemm weight's storage (dense, CSR, bitmask) for the value type decided
/// so far, as the artifact writer does: fewest stored bytes after zstd (at the default level).
public struct EncodeStage: Stage {
    public var name: String { "encode" }

    /// An encode stage.
    public init() {}

    public func run(_ state: inout PipelineState, context: StageContext) throws -> StageReport {
        let ((encodings, bytes), seconds) = try timed { try Self.choose(state.model.graph, int8: state.int8) }
        state.encodings = encodings
        let counts = Dictionary(grouping: encodings.values, by: { $0 }).mapValues(\.count)
        let summary = ["dense", "bitmask", "csr"].compactMap { e in counts[e].map { "\($0) \(e)" } }.joined(separator: ", ")
            + " (\(state.int8 ? "int8" : "float32") values, stored bytes)"
        var details: [String: String] = [:]
        for (k, v) in encodings { details["encoding." + k] = v }
        return StageReport(stage: name, summary: summary, seconds: seconds, model: state.model, bytes: bytes, details: details)
    }

    /// The encoding name per weight and their total stored bytes.
    static func choose(_ graph: Graph, int8: Bool) throws -> ([String: String], Int) {
        let writer = ArtifactWriter(int8: int8)
        var encodings: [String: String] = [:]
        var bytes = 0
        for layer in graph.prunableLayers() {
            guard let t = graph.initializers[layer.tensor] else { continue }
            let (encoding, stored) = try writer.storage(ofWeight: t, firstConv: layer.roles.contains(.firstConv))
            switch encoding {
            case .dense: encodings[layer.tensor] = "dense"
            case .bitmask: encodings[layer.tensor] = "bitmask"
            case .csr: encodings[layer.tensor] = "csr"
            }
            bytes += stored
        }
        return (encodings, bytes)
    }
}

/// quantize: stores conv/Gemm weight values as int8, symmetric, one scale per output row, over the
/// stored values only (zero stays exact). A target-size search may already have required it.
public struct QuantizeStage: Stage {
    public var name: String { "quantize" }
    /// Whether to quantize (false keeps float32 unless a byte budget needs int8).
    public var int8: Bool

    /// A quantize stage.
    public init(int8: Bool) {
        self.int8 = int8
    }

    public func run(_ state: inout PipelineState, context: StageContext) throws -> StageReport {
        let byBudget = state.int8 && !int8
        state.int8 = state.int8 || int8
        let ((encodings, bytes), seconds) = try timed { try EncodeStage.choose(state.model.graph, int8: state.int8) }
        state.encodings = encodings
        let summary = state.int8
            ? "int8 values, one float32 scale per row\(byBudget ? " (needed for the target size)" : "")"
            : "float32 kept"
        return StageReport(stage: name, summary: summary, seconds: seconds, model: state.model, bytes: bytes)
    }
}
