// What a training run did, epoch by epoch: mean training loss, validation loss and AUC, time and
// throughput, and which epoch's weights were kept (the best validation score). Codable with
// snake_case JSON keys (`spruce train` writes it as `<output>.train.json`). Timing fields are
// measured; everything else is reproducible from the seed.
import Foundation

/// One finished epoch.
public struct EpochRecord: Sendable, Equatable, Codable {
    /// 1-based epoch number.
    public var epoch: Int
    /// Mean training loss over the epoch's images (augmented, training mode, before each update).
    public var trainLoss: Double
    /// Mean binary cross-entropy on the validation images (inference mode); nil without them.
    public var validationLoss: Double?
    /// Validation ROC AUC; nil without validation images or with only one class among them.
    public var validationAUC: Double?
    /// Wall time of training and validation, seconds.
    public var seconds: Double
    /// Training images per second (steps only, validation excluded).
    public var imagesPerSecond: Double

    /// A record from its parts.
    public init(epoch: Int, trainLoss: Double, validationLoss: Double?, validationAUC: Double?, seconds: Double,
                imagesPerSecond: Double) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.validationLoss = validationLoss
        self.validationAUC = validationAUC
        self.seconds = seconds
        self.imagesPerSecond = imagesPerSecond
    }

    enum CodingKeys: String, CodingKey {
        case epoch, seconds
        case trainLoss = "train_loss", validationLoss = "validation_loss", validationAUC = "validation_auc"
        case imagesPerSecond = "images_per_second"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(epoch, forKey: .epoch)
        try c.encode(trainLoss, forKey: .trainLoss)
        try c.encode(validationLoss, forKey: .validationLoss)  // null, not omitted
        try c.encode(validationAUC, forKey: .validationAUC)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(imagesPerSecond, forKey: .imagesPerSecond)
    }
}

/// How the kept weights were chosen.
public enum SelectionCriterion: String, Sendable, Codable {
    /// Highest validation AUC (ties: the earlier epoch).
    case validationAUC = "validation_auc"
    /// Lowest validation loss (the validation images have one class only, so no AUC).
    case validationLoss = "validation_loss"
    /// No validation images: the last epoch.
    case lastEpoch = "last_epoch"
}

/// The whole run.
public struct TrainingReport: Sendable, Equatable, Codable {
    /// Every finished epoch, in order (a resumed run includes the epochs done before).
    public var epochs: [EpochRecord]
    /// 1-based epoch whose weights were kept; nil when no epoch ran.
    public var bestEpoch: Int?
    /// How `bestEpoch` was chosen.
    public var selection: SelectionCriterion
    /// Images in the training and validation subsets.
    public var trainImages: Int
    public var validationImages: Int
    /// Optimizer steps taken in total.
    public var steps: Int
    /// 1-based epoch the run continued from a checkpoint with, nil for a fresh run.
    public var resumedAtEpoch: Int?
    /// Wall time of this process's part of the run, seconds.
    public var seconds: Double

    /// The kept epoch's record.
    public var best: EpochRecord? { bestEpoch.flatMap { b in epochs.first { $0.epoch == b } } }

    enum CodingKeys: String, CodingKey {
        case epochs, selection, steps, seconds
        case bestEpoch = "best_epoch", trainImages = "train_images", validationImages = "validation_images"
        case resumedAtEpoch = "resumed_at_epoch"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(epochs, forKey: .epochs)
        try c.encode(bestEpoch, forKey: .bestEpoch)
        try c.encode(selection, forKey: .selection)
        try c.encode(trainImages, forKey: .trainImages)
        try c.encode(validationImages, forKey: .validationImages)
        try c.encode(steps, forKey: .steps)
        try c.encode(resumedAtEpoch, forKey: .resumedAtEpoch)
        try c.encode(seconds, forKey: .seconds)
    }
}
