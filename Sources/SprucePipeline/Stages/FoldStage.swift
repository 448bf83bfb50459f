// fold: inference lowering (BatchNorm folded into convs, activations fused, Dropout/Identity
// removed). Folding scales whole output rows, so pruned weights stay exactly zero; masks follow
// their conv by node name. After it the model can no longer be trained.
//
// quantize and encode, after fold, decide how the artifact stores each conv/Gemm weight: quantize
// its value type (int8, rounded to nearest or by GPTQ on calibration images), encode its storage
// (dense, CSR, bitmask) for those values at the artifact's zstd level, as a typed EncodingPlan that
// pack writes without choosing again.
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
        state.masks = lowered.carrying(state.masks, from: before)
        state.model.graph = lowered
        state.folded = true
        let summary = "\(before.nodes.count) → \(lowered.nodes.count) nodes"
        return StageReport(stage: name, summary: summary, seconds: seconds, model: state.model)
    }
}

/// quantize: stores conv/Gemm weight values as int8, symmetric, one scale per output row, over the
/// stored values only (zero stays exact); the first conv stays float32. With calibration images
/// each weight is rounded up or down so its layer's outputs on them move least (GPTQ). A
/// target-size search may already have required int8.
public struct QuantizeStage: Stage {
    public var name: String { "quantize" }
    /// Whether to quantize (false keeps float32 unless a byte budget needs int8).
    public var int8: Bool
    /// Images (.jpg/.png, or .npy) whose activations choose how each int8 weight rounds; empty: nearest.
    public var calibrationImages: [String]
    /// Bits per quantized value: 8 (int8), or 2…7, stored packed (format 2.0).
    public var bits: Int
    /// Whether the fine-tuning before it trains through this rounding (quantization-aware: once
    /// the masks are final, its forward passes use the weights rounded as they will be stored).
    /// The rounding is then nearest, as trained: no calibration images.
    public var quantizationAware: Bool

    /// A quantize stage.
    public init(int8: Bool, calibrationImages: [String] = [], bits: Int = 8, quantizationAware: Bool = false) {
        self.int8 = int8
        self.calibrationImages = calibrationImages
        self.bits = bits
        self.quantizationAware = quantizationAware
    }

    public func run(_ state: inout PipelineState, context: StageContext) throws -> StageReport {
        guard Int8Rows.bitWidths.contains(bits) else {
            throw StageError.invalidParameter(stage: name, reason: "values of \(bits) bits; 2 to 8 can be stored")
        }
        if quantizationAware && (!int8 || !calibrationImages.isEmpty) {
            throw StageError.invalidParameter(stage: name, reason: "quantization-aware fine-tuning rounds to nearest int8 or narrower values; it needs int8 and no calibration images")
        }
        let byBudget = state.int8 && !int8
        state.int8 = state.int8 || int8
        if !calibrationImages.isEmpty && !state.int8 {
            throw StageError.invalidParameter(stage: name, reason: "calibration images choose how int8 values round; they need int8")
        }
        let start = state
        let (graph, seconds) = try timed { () throws -> Graph in
            guard !calibrationImages.isEmpty else { return start.model.graph }
            let graph = start.model.graph
            let inputs: RunInputs
            do { inputs = try RunInputs.load(paths: calibrationImages, for: graph.inputs) } catch {
                throw StageError.failed(stage: name, reason: "\(start.sourceName): calibrated int8 rounding: \(error)")
            }
            let weights = ArtifactWriter.quantizedWeights(in: graph)
            do {
                return try CalibratedRounding(bits: bits).round(graph, weights: weights, inputs: inputs.feeds) { done, total, node in
                    context.events(.progress(stage: name, done: done, total: total, detail: node))
                }
            } catch {
                throw StageError.failed(stage: name, reason: "\(start.sourceName): calibrated int8 rounding: \(error)")
            }
        }
        state.model.graph = graph
        state.calibrationImages = calibrationImages.count
        var summary = state.int8
            ? "\(EncodingPlan.describe(widths: Set(ArtifactContents.widths(state, valueBits: bits).values))) values, one scale per row\(byBudget ? " (needed for the target size)" : "")"
            : "float32 kept"
        if !calibrationImages.isEmpty { summary += ", GPTQ-rounded on \(calibrationImages.count) calibration images" }
        if quantizationAware { summary += ", rounded as fine-tuning saw them" }
        return StageReport(stage: name, summary: summary, seconds: seconds, model: state.model)
    }
}

/// encode: picks each conv/Gemm weight's storage (dense, CSR, bitmask) for its value type: the
/// fewest stored bytes at the artifact's zstd level. With a byte budget it measures the artifact
/// and, if fine-tuning nudged it over, prunes a little more (`TargetSizeSearch.fit`) until it fits.
public struct EncodeStage: Stage {
    public var name: String { "encode" }

    /// An encode stage.
    public init() {}

    public func run(_ state: inout PipelineState, context: StageContext) throws -> StageReport {
        var note: String?
        let start = state
        let ((plan, graph, bytes), seconds) = try timed { () throws -> (EncodingPlan, Graph, Int) in
            var s = start
            var plan = try ArtifactContents.plan(s, zstdLevel: context.zstdLevel, valueBits: context.valueBits)
            var bytes = try ArtifactContents.bytes(s, plan: plan).count
            if let budget = s.targetBytes, bytes > budget {
                var search = TargetSizeSearch(budget: budget, options: s.pruningOptions ?? PruningOptions(), zstdLevel: context.zstdLevel)
                search.valueBits = context.valueBits
                let fitted = try search.fit(s, cancellation: context.cancellation)
                s.model.graph = fitted.graph
                plan = try ArtifactContents.plan(s, zstdLevel: context.zstdLevel, valueBits: context.valueBits)
                note = "fine-tuning moved the size to \(ByteSize.format(bytes)); pruned up to \(String(format: "%.2f", fitted.delta * 100)) more points of each pruned layer (no further fine-tuning) to fit"
                bytes = try ArtifactContents.bytes(s, plan: plan).count
            }
            return (plan, s.model.graph, bytes)
        }
        state.model.graph = graph
        state.plan = plan
        if let note { context.events(.note("encode: \(note)")) }
        let counts = Dictionary(grouping: plan.weights.values, by: \.encodingName).mapValues(\.count)
        var summary = ["dense", "bitmask", "csr"].compactMap { e in counts[e].map { "\($0) \(e)" } }.joined(separator: ", ")
            + " (\(EncodingPlan.describe(widths: plan.valueWidths)) values, zstd \(plan.zstdLevel))"
        if let note { summary += "; " + note }
        var details: [String: String] = [:]
        for (k, v) in plan.weights { details["encoding." + k] = "\(v.encodingName) \(v.valueType == .int8 ? "int8" : "float32")" }
        return StageReport(stage: name, summary: summary, seconds: seconds, model: state.model, bytes: bytes, details: details)
    }
}
