// Typed errors of the epoch loop and its checkpoints: one case per rule, each naming the file,
// model input or setting involved so the CLI prints one clear line. Errors of the session,
// data and metrics below surface unchanged.

/// A failure of a `Trainer` run or of reading or writing its checkpoint.
public enum TrainerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A setting is out of range.
    case invalidOption(String)
    /// The training subset holds no images.
    case noTrainingImages
    /// The model's image input does not take the cached images (layout or size).
    case inputMismatch(input: String, detail: String)
    /// A checkpoint file is truncated, damaged or not a checkpoint.
    case corruptCheckpoint(path: String, detail: String)
    /// A checkpoint belongs to a different run (settings, model or split changed).
    case checkpointMismatch(path: String, detail: String)
    /// A checkpoint could not be written.
    case cannotWriteCheckpoint(path: String, reason: String)
    /// The caller asked the run to stop; the last finished epoch's checkpoint is kept.
    case interrupted(epoch: Int, completedEpochs: Int)

    public var description: String {
        switch self {
        case .invalidOption(let message): message
        case .noTrainingImages: "the training subset has no images"
        case .inputMismatch(let input, let detail): "model input '\(input)': \(detail)"
        case .corruptCheckpoint(let path, let detail): "\(path): corrupt checkpoint: \(detail)"
        case .checkpointMismatch(let path, let detail): "\(path): checkpoint is from a different run: \(detail)"
        case .cannotWriteCheckpoint(let path, let reason): "\(path): cannot write checkpoint: \(reason)"
        case .interrupted(let epoch, let completed):
            "interrupted in epoch \(epoch); \(completed) epoch\(completed == 1 ? "" : "s") completed and checkpointed"
        }
    }
}
