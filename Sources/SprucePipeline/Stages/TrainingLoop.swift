// The small training loop the train and fine-tune stages share, and validation AUC of a model or
// a packed artifact. Meant to give way to SpruceTrain's Trainer where its per-step hook suffices;
// it does no checkpointing and no learning-rate search.
import Foundation
import SpruceCore
import SpruceFormat
import SpruceTrain

/// Validation scoring of models and artifacts.
enum Validation {
    /// The positive-class score per image from a model's output rows.
    static func positiveScores(_ output: [Float], images: Int) -> [Float] {
        guard images > 0 else { return [] }
        let width = output.count / images
        if width <= 1 { return output }
        return (0..<images).map { output[$0 * width + min(1, width - 1)] }
    }

    /// AUC of `scores` against the validation labels; nil when the validation set has one class.
    static func auc(_ scores: [Float], labels: [Float]) -> Double? {
        guard Set(labels).count == 2 else { return nil }
        return try? ROC.auc(scores: scores, labels: labels)
    }

    /// Validation AUC of a trainable session's current weights.
    static func auc(session: TrainingSession, data: PipelineData, cancellation: CancellationFlag) throws -> Double? {
        var scores: [Float] = [], labels: [Float] = []
        for k in 0..<data.validation.batchesPerEpoch {
            try cancellation.check()
            let batch = data.validation.batch(k, epoch: 0)
            let out = try session.predict(data.layout.arrange(batch.images))
            scores += positiveScores(out, images: batch.labels.count)
            labels += batch.labels
        }
        return auc(scores, labels: labels)
    }

    /// Validation AUC of `model` (training form).
    static func auc(model: Model, data: PipelineData, cancellation: CancellationFlag) throws -> Double? {
        let session = try TrainingSession(model: model)
        return try auc(session: session, data: data, cancellation: cancellation)
    }

    /// Validation AUC of packed artifact bytes, computed by the runtime from the stored weights.
    static func auc(artifact bytes: [UInt8], data: PipelineData, cancellation: CancellationFlag) throws -> Double? {
        let session = try ArtifactSession(artifact: try ArtifactReader.decode(bytes))
        guard let input = session.inputs.first?.name, let output = session.outputs.first?.name else { return nil }
        var scores: [Float] = [], labels: [Float] = []
        for k in 0..<data.validation.batchesPerEpoch {
            try cancellation.check()
            let batch = data.validation.batch(k, epoch: 0)
            let images = data.layout.arrange(batch.images)
            // Static-batch graphs run one image at a time.
            let fixed = session.inputs.first?.shape.first.flatMap { $0 }
            if let fixed, fixed != batch.labels.count {
                let per = images.count / max(batch.labels.count, 1)
                for i in 0..<batch.labels.count {
                    var shape = images.shape
                    shape[0] = 1
                    let one = Tensor(shape: shape, data: Array(images.data[(i * per)..<((i + 1) * per)]))
                    let out = try session.run([input: one])[output]?.data ?? []
                    scores += positiveScores(out, images: 1)
                }
            } else {
                let out = try session.run([input: images])[output]?.data ?? []
                scores += positiveScores(out, images: batch.labels.count)
            }
            labels += batch.labels
        }
        return auc(scores, labels: labels)
    }
}

/// Epoch results of `TrainingLoop.run`.
struct EpochResult {
    var epoch: Int
    var loss: Double
    var validationAUC: Double?
}

/// Runs epochs over the training loader with a per-step hook, scoring validation AUC after each.
enum TrainingLoop {
    /// Trains `session` for `epochs`; `beforeStep(step)` runs before every optimizer step (the
    /// pruning schedule uses it); `afterEpoch` sees each epoch's result.
    static func run(session: TrainingSession, data: PipelineData, epochs: Int, stage: String, context: StageContext,
                    beforeStep: (Int) throws -> Void, afterEpoch: (EpochResult) throws -> Void) throws {
        let perEpoch = data.train.batchesPerEpoch
        let communicator = context.communicator
        let sync = communicator.size > 1 ? GradientSync(communicator: communicator) : nil
        if sync != nil && context.syncBatchNorm {
            try GradientSync.checkEveryRankHasRows(images: data.train.indices.count, batch: data.train.options.batchSize,
                                                   size: communicator.size)
            session.executor.batchNormGroup = communicator
        }
        for epoch in 0..<epochs {
            var lossSum = 0.0, count = 0
            let stream = data.train.epoch(epoch)
            defer { stream.cancel() }
            for (k, batch) in stream.enumerated() {
                try context.cancellation.check()
                try beforeStep(session.stepCount)
                let loss: Float
                if let sync {
                    // Same global batch on every rank (same seed and epoch); each trains on its rows.
                    let rows = GradientSync.rows(count: batch.labels.count, rank: communicator.rank, size: communicator.size)
                    let images = rows.isEmpty ? nil : data.layout.arrange(GradientSync.slice(batch.images, rows: rows))
                    loss = try session.step(inputs: images, labels: Array(batch.labels[rows]), sync: sync,
                                            globalRows: batch.labels.count)
                } else {
                    loss = try session.step(inputs: data.layout.arrange(batch.images), labels: batch.labels)
                }
                lossSum += Double(loss) * Double(batch.labels.count)
                count += batch.labels.count
                context.events(.progress(stage: stage, done: k + 1, total: perEpoch,
                                         detail: "epoch \(epoch + 1)/\(epochs) loss \(String(format: "%.4f", Double(loss)))"))
            }
            try sync?.checkReplicas(session)  // weights and pruning masks identical on every rank
            let auc = try Validation.auc(session: session, data: data, cancellation: context.cancellation)
            try afterEpoch(EpochResult(epoch: epoch, loss: count == 0 ? 0 : lossSum / Double(count), validationAUC: auc))
        }
    }
}
