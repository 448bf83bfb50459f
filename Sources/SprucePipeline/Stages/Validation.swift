// Validation AUC (macro one-vs-rest for N-class heads) of a model in training form, of a trainable session's current weights, or of
// packed artifact bytes run by the runtime (so int8 and the stored encodings are what is scored).
// It does not train or choose epochs; Trainer does that.
import Foundation
import SpruceCore
import SpruceFormat
import SpruceTrain

/// Validation scoring of models and artifacts.
enum Validation {
    /// Validation AUC of `model` (training form), on the trainer's inference path.
    static func auc(model: Model, data: PipelineData, cancellation: CancellationFlag) throws -> Double? {
        let session = try TrainingSession(model: model)
        var scores: [Float] = [], labels: [Float] = []
        for k in 0..<data.validation.batchesPerEpoch {
            try cancellation.check()
            let batch = data.validation.batch(k, epoch: 0)
            let out = try session.predict(data.layout.arrange(batch.images))
            scores += out
            labels += batch.labels
        }
        return Trainer.validationMetrics(outputs: scores, labels: labels).auc
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
                    scores += out
                }
            } else {
                let out = try session.run([input: images])[output]?.data ?? []
                scores += out
            }
            labels += batch.labels
        }
        return Trainer.validationMetrics(outputs: scores, labels: labels).auc
    }
}
