// train: trains every parameter with Adam and binary cross-entropy on the training images, keeping
// the weights of the epoch with the best validation AUC. Masks already present are held.
// It refuses folded models (BatchNorm is gone, fused activations cannot be trained).
import SpruceCore
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
        try Tuning.run(stage: name, epochs: epochs, learningRate: learningRate, optimizer: optimizer, pending: nil, state: &state, context: context)
    }
}

/// The shared body of train and fine-tune.
enum Tuning {
    static func run(stage: String, epochs: Int, learningRate: Double, optimizer: OptimizerName, pending: PendingPruning?,
                    state: inout PipelineState, context: StageContext) throws -> StageReport {
        guard !state.folded else { throw StageError.misplaced(stage: stage, reason: "cannot train a folded model; put \(stage) before fold") }
        guard let data = state.data else { throw StageError.needsData(stage: stage, reason: "training needs images") }
        guard epochs >= 0 else { throw StageError.invalidParameter(stage: stage, reason: "epochs \(epochs) must be >= 0") }
        guard learningRate > 0, learningRate.isFinite else {
            throw StageError.invalidParameter(stage: stage, reason: "learning rate \(learningRate) must be positive")
        }
        let startState = state
        let ((model, masks, best, lastLoss, note), seconds) = try timed { () throws -> (Model, [String: [Bool]], Double?, Double?, String?) in
            let session = try TrainingSession(model: state.model, optimizer: optimizer.configuration(learningRate: Float(learningRate)),
                                              seed: context.seed)
            if !state.masks.isEmpty { try session.setMasks(state.masks) }
            let totalSteps = epochs * data.train.batchesPerEpoch
            let schedule = try pending.map { try $0.schedule.resolve(finalSparsity: $0.finalSparsity, totalSteps: totalSteps) }
            let allocator = pending.map { PruningAllocator(options: $0.options) }
            var masksFinal = pending == nil
            var currentFraction = -1.0
            func prune(fraction: Double) throws {
                guard let pending, let allocator, fraction != currentFraction else { return }
                let perLayer = pending.perLayer.mapValues { $0 * fraction }
                let graph = session.model.graph
                var masks = allocator.masks(for: graph, sparsities: perLayer)
                // A weight pruned before (e.g. by an earlier prune stage) stays pruned.
                for (name, old) in state.masks {
                    if let new = masks[name], new.count == old.count { masks[name] = zip(new, old).map { $0 && $1 } } else { masks[name] = old }
                }
                try session.setMasks(masks)
                currentFraction = fraction
                masksFinal = fraction >= 1
            }
            var best: (auc: Double, model: Model, masks: [String: [Bool]])?
            var lastLoss: Double?
            var lastAUC: Double?
            try TrainingLoop.run(session: session, data: data, epochs: epochs, stage: stage, context: context,
                                 beforeStep: { step in
                guard let schedule, let pending else { return }
                let (should, s) = schedule(step)
                if should { try prune(fraction: pending.finalSparsity > 0 ? s / pending.finalSparsity : 1) }
            }, afterEpoch: { result in
                lastLoss = result.loss
                lastAUC = result.validationAUC
                let overall = Self.sparsity(session.model.graph)
                context.events(.epoch(stage: stage, epoch: result.epoch + 1, of: epochs, loss: result.loss,
                                      validationAUC: result.validationAUC, sparsity: overall))
                // Only epochs whose masks are final can be the result.
                if masksFinal, let auc = result.validationAUC, auc > (best?.auc ?? -1) {
                    best = (auc, session.model, session.masks)
                }
            })
            var note: String?
            if pending != nil && !masksFinal {
                try prune(fraction: 1)
                note = "the schedule had not reached its final sparsity when training ended; the final masks were applied without further training"
                lastAUC = try Validation.auc(session: session, data: data, cancellation: context.cancellation)
                best = nil
            }
            if let best, let lastAUC, best.auc > lastAUC {
                return (best.model, best.masks, best.auc, lastLoss, note)
            }
            return (session.model, session.masks, lastAUC, lastLoss, note)
        }
        _ = startState
        state.model = model
        state.masks = masks
        state.validationAUC = best
        state.pendingPruning = nil
        if let note { context.events(.note("\(stage): \(note)")) }
        var metrics: [String: Double] = [:]
        if let best { metrics["validation_auc"] = best }
        if let lastLoss { metrics["loss"] = lastLoss }
        var summary = "\(epochs) epoch\(epochs == 1 ? "" : "s") at learning rate \(learningRate)"
        if optimizer != .adam { summary += " (\(optimizer.rawValue))" }
        if pending != nil { summary += ", pruning on the schedule" }
        if let note { summary += "; \(note)" }
        return StageReport(stage: stage, summary: summary, seconds: seconds, model: model, metrics: metrics)
    }

    /// Fraction of zeros over the conv/Gemm weights.
    static func sparsity(_ graph: Graph) -> Double {
        let layers = graph.prunableLayers()
        let total = layers.reduce(0) { $0 + $1.elements }
        let nz = layers.reduce(0) { $0 + StageReport.nonzeros(graph.initializers[$1.tensor]?.data ?? []) }
        return total == 0 ? 0 : 1 - Double(nz) / Double(total)
    }
}
