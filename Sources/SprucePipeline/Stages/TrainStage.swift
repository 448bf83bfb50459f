// train: trains every parameter with Adam and binary cross-entropy on the training images, keeping
// the weights of the epoch with the best validation AUC. Masks already present are held.
// It refuses folded models (BatchNorm is gone, fused activations cannot be trained).
import Foundation
import SpruceCore
import SpruceFormat
import SpruceTrain

/// Trains the model on the pipeline's data.
public struct TrainStage: Stage {
    public var name: String { "train" }
    /// Passes over the training images.
    public var epochs: Int
    /// The learning rate.
    public var learningRate: Double
    /// The optimizer (Adam by default).
    public var optimizer: OptimizerName

    /// A train stage; the study used Adam at 1e-3.
    public init(epochs: Int, learningRate: Double = 1e-3, optimizer: OptimizerName = .adam) {
        self.epochs = epochs
        self.learningRate = learningRate
        self.optimizer = optimizer
    }

    public func run(_ state: inout PipelineState, context: StageContext) throws -> StageReport {
        try Tuning.run(stage: name, epochs: epochs, learningRate: learningRate, decay: .constant, optimizer: optimizer, pending: nil,
                       state: &state, context: context)
    }
}

/// The shared body of train and fine-tune: a `Trainer` run on the pipeline's data, with the
/// pruning schedule (if any) as its per-step hook. Masks are recomputed only when the schedule's
/// fraction changes, and only epochs that end with the final masks may be kept; both follow from
/// the step alone, so a resumed run decides as an uninterrupted one does.
enum Tuning {
    /// BatchNorm running-average momentum of the pipeline's training stages.
    static let batchNormMomentum: Float = 0.99
    /// Metric of a resumed stage: seconds of the epochs trained before its checkpoint (included
    /// in the report's seconds, not in the wall time of this process).
    static let earlierSecondsMetric = "earlier_seconds"

    static func run(stage: String, epochs: Int, learningRate: Double, decay: RateDecay, optimizer: OptimizerName, pending: PendingPruning?,
                    state: inout PipelineState, context: StageContext) throws -> StageReport {
        guard !state.folded else { throw StageError.misplaced(stage: stage, reason: "cannot train a folded model; put \(stage) before fold") }
        guard let data = state.data else { throw StageError.needsData(stage: stage, reason: "training needs images") }
        guard epochs >= 0 else { throw StageError.invalidParameter(stage: stage, reason: "epochs \(epochs) must be >= 0") }
        guard learningRate > 0, learningRate.isFinite else {
            throw StageError.invalidParameter(stage: stage, reason: "learning rate \(learningRate) must be positive")
        }
        let start = state
        let batches = data.batchesPerEpoch
        var plan = try pending.map { try PruningPlan($0, totalSteps: epochs * batches, earlier: start.masks) }
        var config = TrainerConfiguration(batchSize: data.batchSize, epochs: epochs,
                                          optimizer: optimizer.configuration(learningRate: Float(learningRate), decay: decay,
                                                                             steps: epochs * batches),
                                          masks: start.masks, seed: context.seed, augmentation: data.augmentation,
                                          scaling: data.scaling,
                                          checkpointDirectory: context.checkpointDirectory.map {
                                              ($0 as NSString).appendingPathComponent("\(context.stageIndex)-\(stage)")
                                          },
                                          resume: context.resume)
        config.plan = plan?.fingerprint ?? ""
        // Running BatchNorm statistics must follow weights that pruning keeps changing: Keras'
        // MobileNet v2 momentum (0.999, in the zoo's metadata) lags by hundreds of steps, and with
        // it a MobileNet v2 lost 0.28 test AUC at 450 KB (docs/RESULTS.md).
        config.batchNormMomentum = Self.batchNormMomentum
        var earlierSeconds = 0.0  // a resumed run's epochs from before the checkpoint
        // Quantization-aware fine-tuning: the weights the artifact will quantize, at its width,
        // trained through their rounding from the step the masks are final.
        let rounded = context.quantizationAware ? Self.roundedWeights(start.model.graph, bits: context.valueBits, byLayer: start.valueWidths) : [:]
        let roundingFrom = rounded.isEmpty ? nil : (0..<max(1, epochs * batches)).first { plan?.isFinal(afterStep: $0) ?? true }
        let ((model, masks, auc, lastLoss, note), seconds) = try timed {
            () throws -> (Model, [String: [Bool]], Double?, Double?, String?) in
            var session: TrainingSession?
            let hooks = TrainerHooks(beforeStep: { step, s in
                session = s
                try plan?.beforeStep(step, s)
                if let roundingFrom, step >= roundingFrom, s.roundedWeights.isEmpty { try s.setRoundedWeights(rounded) }
            }, mayKeep: { epoch in plan?.isFinal(afterStep: (epoch + 1) * batches - 1) ?? true })
            let trainer = Trainer(config, communicator: context.communicator, syncBatchNorm: context.syncBatchNorm)
            let result: TrainingResult
            do {
                result = try trainer.train(model: start.model, data: data.training, hooks: hooks, progress: { event in
                    switch event {
                    case .batch(let epoch, let batch, let count, let loss, _):
                        context.events(.progress(stage: stage, done: batch, total: count,
                                                 detail: "epoch \(epoch + 1)/\(epochs) loss \(String(format: "%.4f", loss))"))
                    case .epochFinished(let record, _):
                        let graph = session?.model.graph ?? start.model.graph
                        context.events(.epoch(stage: stage, epoch: record.epoch, of: epochs, loss: record.trainLoss,
                                              validationAUC: record.validationAUC, sparsity: Self.sparsity(graph)))
                    case .started(let first, let total, _, _, _) where first > 0:
                        context.events(.note("\(stage): resuming from the checkpoint at epoch \(first + 1) of \(total)"))
                    case .started, .validating: break
                    }
                }, shouldStop: { context.cancellation.isCancelled })
            } catch TrainerError.interrupted { throw StageError.cancelled }
            let lastLoss = result.report.epochs.last?.trainLoss
            if let resumedAt = result.report.resumedAtEpoch {
                earlierSeconds = result.report.epochs.prefix(resumedAt - 1).reduce(0) { $0 + $1.seconds }
            }
            if let plan, !plan.isFinal(afterStep: result.report.steps - 1) {
                // The schedule had not reached its final sparsity: apply it without further training.
                let masks = plan.masks(fraction: 1, graph: result.finalModel.graph)
                var model = result.finalModel
                model.graph = model.graph.applyingMasks(masks)
                let auc = try Validation.auc(model: model, data: data, cancellation: context.cancellation)
                return (model, masks, auc, lastLoss,
                        "the schedule had not reached its final sparsity when training ended; the final masks were applied without further training")
            }
            let auc = result.report.best?.validationAUC ?? result.report.epochs.last?.validationAUC
            return (result.bestModel, result.masks, auc, lastLoss, nil)
        }
        state.model = model
        state.masks = masks
        state.validationAUC = auc
        state.pendingPruning = nil
        if let note { context.events(.note("\(stage): \(note)")) }
        var metrics: [String: Double] = [:]
        if let auc { metrics["validation_auc"] = auc }
        if let lastLoss { metrics["loss"] = lastLoss }
        if earlierSeconds > 0 { metrics[Self.earlierSecondsMetric] = earlierSeconds }
        var summary = "\(epochs) epoch\(epochs == 1 ? "" : "s") at learning rate \(learningRate)"
        if decay == .cosine { summary += " with cosine decay" }
        if optimizer != .adam { summary += " (\(optimizer.rawValue))" }
        if pending != nil { summary += ", pruning on the schedule" }
        if let roundingFrom {
            summary += ", through the \(EncodingPlan.describe(widths: Set(rounded.values))) rounding from step \(roundingFrom + 1)"
        }
        if let note { summary += "; \(note)" }
        return StageReport(stage: stage, summary: summary, seconds: seconds + earlierSeconds, model: model, metrics: metrics)
    }

    /// The weights the artifact writer quantizes (conv, Gemm and MatMul-Linear weights but the
    /// first conv), each at `bits` or at the width `byLayer` gives its node (mixed precision).
    static func roundedWeights(_ graph: Graph, bits: Int, byLayer: [String: Int] = [:]) -> [String: Int] {
        let quantized = ArtifactWriter.quantizedWeights(in: graph)
        var out: [String: Int] = [:]
        for layer in graph.prunableLayers() where quantized.contains(layer.tensor) {
            out[layer.tensor] = byLayer[layer.node] ?? bits
        }
        return out
    }

    /// Fraction of zeros over the conv/Gemm weights.
    static func sparsity(_ graph: Graph) -> Double {
        let layers = graph.prunableLayers()
        let total = layers.reduce(0) { $0 + $1.elements }
        let nz = layers.reduce(0) { $0 + StageReport.nonzeros(graph.initializers[$1.tensor]?.data ?? []) }
        return total == 0 ? 0 : 1 - Double(nz) / Double(total)
    }
}

/// A gradual pruning plan resolved for one run: which fraction of each layer's final sparsity
/// applies at each step, and the masks for it.
struct PruningPlan {
    let pending: PendingPruning
    let schedule: any PruningSchedule
    let allocator: PruningAllocator
    /// Masks from before this stage; their pruned weights stay pruned.
    let earlier: [String: [Bool]]
    /// The first step at which the final masks are applied, nil when the run never gets there.
    let finalStep: Int?
    /// The fraction last applied (nil before the first update of this process).
    private var applied: Double?
    private var replayed = false

    init(_ pending: PendingPruning, totalSteps: Int, earlier: [String: [Bool]]) throws {
        self.pending = pending
        schedule = try pending.schedule.resolve(finalSparsity: pending.finalSparsity, totalSteps: totalSteps)
        allocator = PruningAllocator(options: pending.options)
        self.earlier = earlier
        var final: Int?
        for step in 0..<max(totalSteps, 0) where schedule.shouldPrune(at: step) {
            if Self.fraction(schedule, pending, step) >= 1 { final = step; break }
        }
        finalStep = final
    }

    /// What the plan is, for the checkpoint fingerprint.
    var fingerprint: String {
        let layers = pending.perLayer.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        return "prune \(pending.finalSparsity) \(String(describing: schedule)) \(pending.options.allocation.name) \(pending.options.block.rawValue) [\(layers)]"
    }

    /// Whether the masks in force after `step` are the final ones.
    func isFinal(afterStep step: Int) -> Bool { finalStep.map { $0 <= step } ?? false }

    /// The share of the final per-layer sparsities the schedule asks for at `step`.
    private static func fraction(_ schedule: any PruningSchedule, _ pending: PendingPruning, _ step: Int) -> Double {
        pending.finalSparsity > 0 ? min(1, schedule.sparsity(at: step) / pending.finalSparsity) : 1
    }

    /// Keep-masks at `fraction` of every layer's final sparsity, from `graph`'s magnitudes.
    func masks(fraction: Double, graph: Graph) -> [String: [Bool]] {
        PruningAllocator.keepingEarlier(allocator.masks(for: graph, sparsities: pending.perLayer.mapValues { $0 * fraction }),
                                        earlier)
    }

    /// The schedule's update before optimizer step `step`: new masks when its fraction changes.
    mutating func beforeStep(_ step: Int, _ session: TrainingSession) throws {
        if !replayed {
            // A resumed run starts mid-way with the checkpoint's masks: recover which fraction they are.
            replayed = true
            for s in 0..<step where schedule.shouldPrune(at: s) { applied = Self.fraction(schedule, pending, s) }
        }
        guard schedule.shouldPrune(at: step) else { return }
        let f = Self.fraction(schedule, pending, step)
        guard f != applied else { return }
        try session.setMasks(masks(fraction: f, graph: session.model.graph))
        applied = f
    }
}
