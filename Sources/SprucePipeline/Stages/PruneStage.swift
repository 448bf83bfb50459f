// prune: magnitude pruning of conv and Gemm weights to a sparsity, or to whatever sparsity (and
// int8) packs into a byte budget. Per-layer shares come from the allocation strategy; with a
// schedule the masks are only planned here and raised step by step by the finetune stage after it
// (the pipeline checks there is one); otherwise they are applied at once (one-shot), before fold
// on the training weights or after it on the inference weights (`spruce pack`).
import SpruceCore
import SpruceFormat
import SpruceTrain

/// Whether int8 may be used to reach a byte budget.
public enum Int8Policy: String, Sendable, Codable, CaseIterable {
    /// Only when float32 would need more than `TargetSizeSearch.preferFloatUpTo` sparsity.
    case auto
    /// Always int8.
    case always
    /// Never int8.
    case never
}

/// Magnitude pruning to a sparsity or a byte budget.
public struct PruneStage: Stage, Equatable {
    public var name: String { "prune" }
    /// Fraction of the participating conv/Gemm weights to prune.
    public var sparsity: Double?
    /// A byte budget for the packed artifact (instead of `sparsity`).
    public var targetBytes: Int?
    /// Allocation, exclusions, block shape, per-layer cap.
    public var options: PruningOptions
    /// nil: one-shot. Otherwise raised gradually by the following finetune stage.
    public var schedule: ScheduleSpec?
    /// int8 use when searching for a budget.
    public var int8: Int8Policy
    /// With `targetBytes`: choose each quantized layer's value width too (mixed precision, from
    /// measurements on the validation images; `MixedWidths.swift`), instead of one width for all.
    public var mixedWidths: Bool

    /// A prune stage; give exactly one of `sparsity` and `targetBytes`.
    public init(sparsity: Double? = nil, targetBytes: Int? = nil, options: PruningOptions = PruningOptions(),
                schedule: ScheduleSpec? = nil, int8: Int8Policy = .auto, mixedWidths: Bool = false) {
        self.sparsity = sparsity
        self.targetBytes = targetBytes
        self.options = options
        self.schedule = schedule
        self.int8 = int8
        self.mixedWidths = mixedWidths
    }

    public func run(_ state: inout PipelineState, context: StageContext) throws -> StageReport {
        guard (sparsity == nil) != (targetBytes == nil) else {
            throw StageError.invalidParameter(stage: name, reason: "give exactly one of sparsity and target size")
        }
        if mixedWidths {
            guard targetBytes != nil, int8 != .never else {
                throw StageError.invalidParameter(stage: name, reason: "mixed value widths are chosen for a target size, with int8 or narrower values")
            }
            guard state.data != nil else {
                throw StageError.needsData(stage: name, reason: "mixed value widths are chosen by measurements on the validation images")
            }
        }
        let gradual = schedule != nil
        let start = state
        var details: [String: String] = [:]
        var summary = ""
        let ((), seconds) = try timed {
            let graph = start.model.graph
            let participating = options.participating(in: graph)
            // Sensitivity measurement needs validation data.
            var table: SensitivityTable?
            if case .sensitivity(let grid) = options.allocation {
                guard let data = start.data else {
                    throw StageError.needsData(stage: name, reason: "sensitivity allocation measures validation AUC")
                }
                table = try SensitivityTable.measure(
                    graph: graph, layers: participating, sparsities: grid, block: options.block,
                    evaluate: { g in
                        var m = start.model
                        m.graph = g
                        return try Validation.auc(model: m, data: data, cancellation: context.cancellation) ?? 0.5
                    }, progress: { done, total in
                        context.events(.progress(stage: name, done: done, total: total, detail: "sensitivity of layer \(done)/\(total)"))
                    })
            }
            let target: Double
            if let targetBytes, mixedWidths, let data = start.data {
                let result = try mixedSearch(start, data: data, targetBytes: targetBytes, sensitivity: table, gradual: gradual, context: context)
                target = result.sparsity
                state.int8 = true
                state.valueWidths = result.widths
                state.targetBytes = targetBytes
                details["target_bytes"] = "\(targetBytes)"
                details["search_bytes"] = "\(result.bytes)"
                details["output_change"] = String(format: "%.4g", result.change)
                for (node, bits) in result.widths { details["width." + node] = "\(bits)" }
                for c in result.candidates {
                    details["candidate." + String(format: "%.4f", c.sparsity)] = c.change.map { String(format: "%.4g", $0) } ?? "does not fit"
                }
                summary = "target \(ByteSize.format(targetBytes)): sparsity \(percent(target)) with values of \(result.widthCounts) packs to \(ByteSize.format(result.bytes)) before fine-tuning (mean squared change of the validation outputs, pruned one-shot and rounded: \(String(format: "%.3g", result.change)), the least of \(result.candidates.count) sparsities tried; the rounding's share predicted \(String(format: "%.3g", result.roundingChange))); "
            } else if let targetBytes {
                var search = TargetSizeSearch(budget: targetBytes, options: options, int8: int8, zstdLevel: context.zstdLevel)
                search.valueBits = context.valueBits
                let result = try search.run(model: start.model, sourceName: start.sourceName, sensitivity: table,
                                            describe: { describe($0, gradual: gradual) }, events: context.events)
                target = result.sparsity
                state.int8 = state.int8 || result.int8
                state.targetBytes = targetBytes
                details["target_bytes"] = "\(targetBytes)"
                details["search_bytes"] = "\(result.bytes)"
                details["search_int8"] = "\(result.int8)"
                summary = "target \(ByteSize.format(targetBytes)): sparsity \(percent(target))\(result.int8 ? (context.valueBits == 8 ? " with int8" : " with \(context.valueBits)-bit values") : "") packs to \(ByteSize.format(result.bytes)) before fine-tuning; "
            } else {
                target = sparsity ?? 0
            }
            let allocator = PruningAllocator(options: options)
            let perLayer = try allocator.allocate(target: target, graph: graph, sensitivity: table)
            for (tensor, s) in perLayer { details["layer." + tensor] = String(format: "%.4f", s) }
            let excluded = options.excludedLayers(in: graph).count
            let how = "\(options.allocation.name) allocation, \(options.block.rawValue) blocks, \(excluded) layer\(excluded == 1 ? "" : "s") excluded (\(options.exclude.map(\.rawValue).sorted().joined(separator: ", ")))"
            if gradual, let schedule {
                state.pendingPruning = PendingPruning(perLayer: perLayer, finalSparsity: target, schedule: schedule, options: options)
                summary += "planned \(percent(target)) of \(participating.count) layers (\(how)); \(schedule.kind.rawValue) schedule during fine-tuning"
                state.pruningDescription = describe(target, gradual: true)
            } else {
                let masks = PruningAllocator.keepingEarlier(allocator.masks(for: graph, sparsities: perLayer), start.masks)
                state.masks = masks
                state.model.graph = graph.applyingMasks(masks)
                state.pruningReport = PruningReport(requested: target, before: graph, after: state.model.graph, options: options)
                summary += "one-shot \(percent(target)) of \(participating.count) layers (\(how))"
                state.pruningDescription = describe(target, gradual: false)
            }
            details["sparsity"] = String(format: "%.4f", target)
            state.pruningOptions = options
        }
        var metrics: [String: Double] = [:]
        if pendingIsNil(state), let data = state.data {
            if let auc = try Validation.auc(model: state.model, data: data, cancellation: context.cancellation) {
                metrics["validation_auc"] = auc
                state.validationAUC = auc
            }
        }
        return StageReport(stage: name, summary: summary, seconds: seconds, model: state.model, metrics: metrics, details: details)
    }

    /// Validation images the mixed-precision measurements run on (the first batches).
    static let mixedWidthImages = 256

    /// Mixed precision: each quantized layer's sensitivity to 2, 3 and 4-bit values, then the
    /// sparsity and widths that fit `targetBytes` with the least measured output change.
    private func mixedSearch(_ start: PipelineState, data: PipelineData, targetBytes: Int, sensitivity: SensitivityTable?,
                             gradual: Bool, context: StageContext) throws -> MixedWidthResult {
        let graph = start.model.graph
        let quantized = ArtifactWriter.quantizedWeights(in: graph)
        let layers = graph.prunableLayers().filter { quantized.contains($0.tensor) }.map { (node: $0.node, tensor: $0.tensor) }
        var batches: [Tensor] = []
        var images = 0
        for k in 0..<data.validation.batchesPerEpoch where images < Self.mixedWidthImages {
            let batch = data.validation.batch(k, epoch: 0)
            batches.append(data.layout.arrange(batch.images))
            images += batch.labels.count
        }
        let outputs: (TrainingSession) throws -> [Float] = { session in
            try batches.flatMap { batch in
                try context.cancellation.check()
                return try session.predict(batch)
            }
        }
        let session = try TrainingSession(model: start.model)
        let reference = try outputs(session)
        let widths = try WidthSensitivity.measure(
            session: session, reference: reference, layers: layers, outputs: outputs,
            progress: { done, total in
                context.events(.progress(stage: name, done: done, total: total, detail: "value-width sensitivity of layer \(done)/\(total)"))
            })
        let search = TargetSizeSearch(budget: targetBytes, options: options, int8: .always, zstdLevel: context.zstdLevel)
        return try search.runMixed(
            model: start.model, sourceName: start.sourceName, widths: widths, sensitivity: sensitivity,
            change: { pruned, byLayer in
                var m = start.model
                m.graph = pruned
                let session = try TrainingSession(model: m)
                try session.setRoundedWeights(Tuning.roundedWeights(pruned, bits: 8, byLayer: byLayer))
                return WidthSensitivity.change(reference, try outputs(session))
            }, describe: { describe($0, gradual: gradual) }, events: context.events)
    }

    /// The pruning as written into the artifact's metadata (fixed-width numbers).
    func describe(_ target: Double, gradual: Bool) -> String {
        let how = "\(options.allocation.name) allocation, \(options.block.rawValue) blocks, excluded: \(options.exclude.map(\.rawValue).sorted().joined(separator: "/"))"
            + (options.excludeUpTo < 1 ? " when at most \(percent(options.excludeUpTo)) of the weights" : "")
        let of = options.scope == .allWeights ? "of all conv/gemm weights" : "of the pruned layers"
        if gradual, let schedule {
            return "gradual magnitude (\(schedule.kind.rawValue) schedule) to \(String(format: "%.4f", target)) \(of), \(how), fine-tuned"
        }
        return "one-shot magnitude to \(String(format: "%.4f", target)) \(of), \(how)"
    }

    private func pendingIsNil(_ s: PipelineState) -> Bool { s.pendingPruning == nil }
}

/// fine-tune: trains with the masks held (pruned weights stay exactly zero), carrying out a
/// gradual pruning schedule planned by `prune`; keeps the best validation epoch with final masks.
public struct FineTuneStage: Stage {
    public var name: String { "finetune" }
    /// Passes over the training images.
    public var epochs: Int
    /// The learning rate (lower than training: the weights are already trained).
    public var learningRate: Double
    /// How the rate moves over the stage's steps.
    public var decay: RateDecay
    /// The optimizer (Adam by default).
    public var optimizer: OptimizerName

    /// A fine-tune stage.
    public init(epochs: Int, learningRate: Double = 3e-4, decay: RateDecay = .cosine, optimizer: OptimizerName = .adam) {
        self.epochs = epochs
        self.learningRate = learningRate
        self.decay = decay
        self.optimizer = optimizer
    }

    public func run(_ state: inout PipelineState, context: StageContext) throws -> StageReport {
        try Tuning.run(stage: name, epochs: epochs, learningRate: learningRate, decay: decay, optimizer: optimizer,
                       pending: state.pendingPruning,
                       state: &state, context: context)
    }
}
