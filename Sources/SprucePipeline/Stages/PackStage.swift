// pack: encodes the folded model into `.spruce` bytes (kept in memory; the caller writes them
// atomically). With a byte budget it checks the exact size and, if fine-tuning nudged it over,
// prunes a little more (one-shot, uniform over the pruned layers) until it fits. It scores the
// packed bytes on the validation images with the runtime, so int8 effects are measured.
import Foundation
import SpruceCore
import SpruceFormat

/// Writes the artifact bytes.
public struct PackStage: Stage {
    public var name: String { "pack" }
    /// zstd level for the sections.
    public var zstdLevel: Int
    /// Layers the budget fix-up may prune further (those the prune stage pruned).
    public var options: PruningOptions

    /// A pack stage.
    public init(zstdLevel: Int = 6, options: PruningOptions = PruningOptions()) {
        self.zstdLevel = zstdLevel
        self.options = options
    }

    public func run(_ state: inout PipelineState, context: StageContext) throws -> StageReport {
        guard state.folded else { throw StageError.misplaced(stage: name, reason: "fold before pack (the artifact holds the inference graph)") }
        guard (1...19).contains(zstdLevel) else {
            throw StageError.invalidParameter(stage: name, reason: "zstd level \(zstdLevel) must be between 1 and 19")
        }
        var notes: [String] = []
        let (bytes, seconds) = try timed { () throws -> [UInt8] in
            var bytes = try Self.encode(state, zstdLevel: zstdLevel)
            if let budget = state.targetBytes, bytes.count > budget {
                let before = bytes.count
                let base = state.model.graph
                let layers = options.participating(in: base)
                let current = Dictionary(uniqueKeysWithValues: layers.map { layer -> (String, Double) in
                    let t = base.initializers[layer.tensor]
                    return (layer.tensor, 1 - Double(StageReport.nonzeros(t?.data ?? [])) / Double(max(t?.count ?? 1, 1)))
                })
                // Bisection over δ: every pruned layer goes to min(cap, its sparsity + δ).
                func trial(_ delta: Double) throws -> (Graph, [UInt8]) {
                    try context.cancellation.check()
                    let raised = current.mapValues { min(options.maxLayerSparsity, max($0, $0 + delta)) }
                    let graph = base.applyingMasks(PruningAllocator(options: options).masks(for: base, sparsities: raised))
                    var t = state
                    t.model.graph = graph
                    return (graph, try Self.encode(t, zstdLevel: zstdLevel))
                }
                var lo = 0.0, hi = options.maxLayerSparsity
                var best = try trial(hi)
                guard best.1.count <= budget else {
                    throw StageError.budgetUnreachable(budget: budget, smallest: best.1.count,
                                                       how: "after fine-tuning, with every pruned layer at its \(percent(options.maxLayerSparsity)) cap")
                }
                while hi - lo > 0.001 {
                    let mid = (lo + hi) / 2
                    let t = try trial(mid)
                    if t.1.count <= budget { (hi, best) = (mid, t) } else { lo = mid }
                }
                state.model.graph = best.0
                bytes = best.1
                notes.append("fine-tuning moved the size to \(ByteSize.format(before)); pruned up to \(String(format: "%.2f", hi * 100)) more points of each pruned layer (no further fine-tuning) to fit")
            }
            return bytes
        }
        state.artifact = bytes
        var metrics: [String: Double] = [:]
        if let data = state.data, let auc = try Validation.auc(artifact: bytes, data: data, cancellation: context.cancellation) {
            metrics["validation_auc"] = auc
            state.validationAUC = auc
        }
        for n in notes { context.events(.note("pack: \(n)")) }
        var summary = "\(ByteSize.format(bytes.count)) (\(state.int8 ? "int8" : "float32"), zstd \(zstdLevel))"
        if let budget = state.targetBytes { summary += " within the \(ByteSize.format(budget)) budget" }
        if !notes.isEmpty { summary += "; " + notes.joined(separator: "; ") }
        return StageReport(stage: name, summary: summary, seconds: seconds, model: state.model, bytes: bytes.count,
                           metrics: metrics)
    }

    /// The artifact bytes of the state's (folded) model with Spruce's metadata.
    static func encode(_ state: PipelineState, zstdLevel: Int) throws -> [UInt8] {
        let model = ArtifactMetadata.model(state.model, sourceName: state.sourceName, int8: state.int8,
                                           pruning: state.pruningDescription)
        do { return try ArtifactWriter(int8: state.int8, zstdLevel: zstdLevel).encode(model) } catch {
            throw StageError.failed(stage: "pack", reason: "\(state.sourceName): \(error)")
        }
    }
}

/// The metadata Spruce writes into compressed artifacts.
enum ArtifactMetadata {
    /// `model` with its metadata set; fixed-width numbers keep sizes predictable for the budget search.
    static func model(_ model: Model, sourceName: String, int8: Bool, pruning: String) -> Model {
        var m = model
        m.metadata["source_file"] = sourceName
        m.metadata["packed_by"] = "spruce \(SpruceVersion.current) compress"
        m.metadata["values"] = int8 ? "int8 (conv/gemm weights but the first conv, per-row symmetric)" : "float32"
        m.metadata["sparsity"] = String(format: "%.4f", Tuning.sparsity(model.graph))
        m.metadata["pruning"] = pruning
        return m
    }
}
