// The epoch loop shared by `spruce train` and the fine-tune stage of `spruce compress`: batches
// from a BatchLoader, TrainingSession steps, validation AUC after every epoch, the best-validation
// weights kept, a checkpoint per epoch, and `resume` continuing to bit-identical weights (data
// order and augmentation depend only on (seed, epoch); weights, optimizer slots, BN statistics
// and the dropout generator are checkpointed). It does not decode images or write the model.

import Foundation
import SpruceCore

/// Decoded images and the train/validation subsets a `Trainer` runs on.
public struct TrainingData: Sendable {
    /// The decoded images (only those a subset uses).
    public let cache: ImageCache
    /// Indices into `cache.dataset.samples`.
    public let trainIndices: [Int]
    public let validationIndices: [Int]

    /// Data from an existing cache and index lists.
    public init(cache: ImageCache, trainIndices: [Int], validationIndices: [Int]) {
        self.cache = cache
        self.trainIndices = trainIndices
        self.validationIndices = validationIndices
    }

    /// Decodes the train and validation images of `split` at `height`×`width` (test images stay
    /// on disk). `skipBadImages` drops unreadable images instead of failing on them.
    public static func prepare(dataset: Dataset, split: Split, height: Int, width: Int, skipBadImages: Bool = false,
                               threads: Int? = nil) throws -> TrainingData {
        let used = dataset.samples.indices.filter {
            let s = split.subset(of: dataset.samples[$0].imageID)
            return s == .train || s == .validation
        }
        let cache = try dataset.subset(used).decodeImages(height: height, width: width, skipBadImages: skipBadImages,
                                                            threads: threads)
        return TrainingData(cache: cache, trainIndices: split.indices(of: .train, in: cache.dataset),
                            validationIndices: split.indices(of: .validation, in: cache.dataset))
    }
}

/// Progress of a run, reported on the training thread.
public enum TrainerEvent: Sendable {
    /// Training begins (or continues) at 0-based epoch `startEpoch`.
    case started(startEpoch: Int, epochs: Int, batchesPerEpoch: Int, trainImages: Int, validationImages: Int)
    /// A step finished: 0-based epoch and batch, the epoch's mean loss so far, its throughput.
    case batch(epoch: Int, batch: Int, batches: Int, meanLoss: Double, imagesPerSecond: Double)
    /// The validation pass of 0-based `epoch` begins.
    case validating(epoch: Int)
    /// An epoch ended and its checkpoint (if any) is written; `isBest` when its weights are kept.
    case epochFinished(EpochRecord, isBest: Bool)
}

/// The outcome of a run.
public struct TrainingResult: Sendable {
    /// The model with the best-validation weights (the last epoch's without validation images).
    public var bestModel: Model
    /// The model with the last epoch's weights.
    public var finalModel: Model
    /// Per-epoch losses, AUCs, times and the kept epoch.
    public var report: TrainingReport
    /// The pruning masks in force when the run ended (true = kept).
    public var masks: [String: [Bool]] = [:]
}

/// Per-step control of a run, for callers that change the model while it trains (compress's
/// pruning schedule). Both must depend only on the step or epoch and the session, so that a
/// resumed run takes the same decisions as an uninterrupted one.
public struct TrainerHooks {
    /// Runs before every optimizer step with the 0-based global step; may set the session's masks
    /// (they are checkpointed with the weights).
    public var beforeStep: (_ step: Int, _ session: TrainingSession) throws -> Void
    /// Whether the weights after 0-based `epoch` may be kept as the result (for example only once
    /// the masks are final).
    public var mayKeep: (_ epoch: Int) -> Bool

    /// Hooks that do nothing and let every epoch be kept.
    public init(beforeStep: @escaping (_ step: Int, _ session: TrainingSession) throws -> Void = { _, _ in },
                mayKeep: @escaping (_ epoch: Int) -> Bool = { _ in true }) {
        self.beforeStep = beforeStep
        self.mayKeep = mayKeep
    }
}

/// Trains a model for a number of epochs, keeping the best-validation weights.
///
/// ```swift
/// let data = try TrainingData.prepare(dataset: ham, split: split, height: 96, width: 96)
/// let trainer = Trainer(TrainerConfiguration(epochs: 10, seed: 1, checkpointDirectory: "run.ckpt"))
/// let result = try trainer.train(model: try ModelZoo.build(.mobileNetV2, inputSize: 96), data: data)
/// print(result.report.best?.validationAUC ?? 0)
/// ```
public struct Trainer: Sendable {
    /// The run's settings.
    public let configuration: TrainerConfiguration
    /// The ranks of a data-parallel job (`SingleProcess` for an ordinary run).
    public let communicator: any Communicator
    /// With several ranks, BatchNormalization normalises with the global batch's statistics.
    public let syncBatchNorm: Bool

    /// A trainer with `configuration`; with several ranks each trains on its rows of every
    /// global batch of `configuration.batchSize` and only rank 0 writes the checkpoint.
    public init(_ configuration: TrainerConfiguration, communicator: any Communicator = SingleProcess(),
                syncBatchNorm: Bool = false) {
        self.configuration = configuration
        self.communicator = communicator
        self.syncBatchNorm = syncBatchNorm
    }

    /// The checkpoint file inside `directory`.
    public static func checkpointPath(in directory: String) -> String {
        (directory as NSString).appendingPathComponent(TrainingCheckpoint.fileName)
    }

    /// Trains `model` on `data`. `progress` sees every step and epoch; `shouldStop` is asked
    /// before every step, and a true answer ends the run with `TrainerError.interrupted` (the
    /// last finished epoch's checkpoint stays for `resume`).
    public func train(model: Model, data: TrainingData, hooks: TrainerHooks = TrainerHooks(),
                      progress: (TrainerEvent) -> Void = { _ in },
                      shouldStop: () -> Bool = { false }) throws -> TrainingResult {
        let config = configuration
        try config.validate()
        guard !data.trainIndices.isEmpty else { throw TrainerError.noTrainingImages }
        let layout = try ImageInputLayout(model: model, height: data.cache.height, width: data.cache.width)
        let samples = data.cache.dataset.samples
        let hash = config.fingerprint(model: model, inputHeight: data.cache.height, inputWidth: data.cache.width,
                                      trainIDs: data.trainIndices.map { samples[$0].imageID },
                                      validationIDs: data.validationIndices.map { samples[$0].imageID })

        // Resume: the checkpoint's weights replace the model's before the session is built.
        var start = model
        var restored: TrainingCheckpoint?
        let checkpointPath = config.checkpointDirectory.map(Trainer.checkpointPath(in:))
        if let directory = config.checkpointDirectory {
            try createDirectory(directory, for: checkpointPath ?? directory)
        }
        if config.resume, let checkpointPath, FileManager.default.fileExists(atPath: checkpointPath) {
            let checkpoint = try TrainingCheckpoint.read(path: checkpointPath)
            guard checkpoint.header.configHash == hash else {
                throw TrainerError.checkpointMismatch(
                    path: checkpointPath, detail: "settings, model or split differ from the run that wrote it")
            }
            try Trainer.checkWeights(checkpoint.weights, against: model, path: checkpointPath)
            if !checkpoint.best.isEmpty { try Trainer.checkWeights(checkpoint.best, against: model, path: checkpointPath) }
            start.graph.initializers = checkpoint.weights
            restored = checkpoint
        }

        let options = TrainingOptions(batchNormMomentum: config.momentum(for: model), threads: config.threads)
        let session = try TrainingSession(model: start, optimizer: config.optimizer, options: options, seed: config.seed)
        if let freeze = config.freeze { session.freeze(freeze) }
        if !config.masks.isEmpty { try session.setMasks(config.masks) }
        var records: [EpochRecord] = []
        var bestEpoch: Int?
        var bestScore: Double?
        var bestWeights: [String: Tensor] = [:]
        if let restored {
            // Masks first: setting them clears the pruned weights' optimizer slots.
            if !restored.masks.isEmpty { try session.setMasks(restored.masks) }
            try session.restoreOptimizerState(OptimizerState(step: restored.header.optimizerStep, slots: restored.slots))
            session.generatorState = restored.header.generatorState
            records = restored.header.records
            bestEpoch = restored.header.bestEpoch
            bestScore = restored.header.bestScore
            bestWeights = restored.best
        }
        let firstEpoch = restored?.header.nextEpoch ?? 0
        let sync = communicator.size > 1 ? GradientSync(communicator: communicator) : nil
        if sync != nil && syncBatchNorm {
            try GradientSync.checkEveryRankHasRows(images: data.trainIndices.count, batch: config.batchSize,
                                                   size: communicator.size)
            session.executor.batchNormGroup = communicator
        }
        try sync?.checkReplicas(session)

        let trainLoader = try BatchLoader(cache: data.cache, indices: data.trainIndices, options: BatchLoaderOptions(
            batchSize: config.batchSize, shuffle: true, augmentation: config.augmentation, scaling: config.scaling,
            seed: config.seed))
        let validationLoader = try BatchLoader(
            cache: data.cache, indices: data.validationIndices,
            options: .evaluation(batchSize: config.batchSize, scaling: config.scaling))
        let validationLabels = data.validationIndices.map { Float(samples[$0].label) }
        let selection: SelectionCriterion = data.validationIndices.isEmpty ? .lastEpoch
            : Set(validationLabels).count >= 2 ? .validationAUC : .validationLoss

        let runStart = ContinuousClock.now
        progress(.started(startEpoch: firstEpoch, epochs: config.epochs, batchesPerEpoch: trainLoader.batchesPerEpoch,
                          trainImages: data.trainIndices.count, validationImages: data.validationIndices.count))
        for epoch in firstEpoch..<max(firstEpoch, config.epochs) {
            let epochStart = ContinuousClock.now
            let stream = trainLoader.epoch(epoch)
            var lossSum = 0.0
            var seen = 0
            var batchNumber = 0
            while true {
                if shouldStop() {
                    stream.cancel()
                    throw TrainerError.interrupted(epoch: epoch + 1, completedEpochs: epoch)
                }
                guard let batch = stream.next() else { break }
                try hooks.beforeStep(session.stepCount, session)
                let loss: Float
                if let sync {
                    // Every rank draws the same global batch (same seed and epoch) and trains on its rows.
                    let rows = GradientSync.rows(count: batch.labels.count, rank: communicator.rank, size: communicator.size)
                    let images = rows.isEmpty ? nil : layout.arrange(GradientSync.slice(batch.images, rows: rows))
                    loss = try session.step(inputs: images, labels: Array(batch.labels[rows]), sync: sync,
                                            globalRows: batch.labels.count)
                } else {
                    loss = try session.step(inputs: layout.arrange(batch.images), labels: batch.labels)
                }
                lossSum += Double(loss) * Double(batch.labels.count)
                seen += batch.labels.count
                batchNumber += 1
                progress(.batch(epoch: epoch, batch: batchNumber, batches: stream.count, meanLoss: lossSum / Double(seen),
                                imagesPerSecond: Double(seen) / seconds(since: epochStart)))
            }
            let trainSeconds = seconds(since: epochStart)

            var validationLoss: Double?
            var validationAUC: Double?
            try sync?.checkReplicas(session)
            // Only rank 0 validates: it alone chooses the kept epoch and writes.
            if !data.validationIndices.isEmpty && communicator.isRoot {
                progress(.validating(epoch: epoch))
                var outputs: [Float] = []
                for batch in validationLoader.epoch(0) {
                    if shouldStop() { throw TrainerError.interrupted(epoch: epoch + 1, completedEpochs: epoch) }
                    outputs += try session.predict(layout.arrange(batch.images))
                }
                let metrics = Trainer.validationMetrics(outputs: outputs, labels: validationLabels)
                validationLoss = metrics.loss
                if selection == .validationAUC { validationAUC = metrics.auc }
            }
            let record = EpochRecord(epoch: epoch + 1, trainLoss: lossSum / Double(max(seen, 1)),
                                     validationLoss: validationLoss, validationAUC: validationAUC,
                                     seconds: seconds(since: epochStart),
                                     imagesPerSecond: Double(seen) / max(trainSeconds, 1e-9))
            records.append(record)
            let score: Double
            switch selection {
            case .validationAUC: score = validationAUC ?? -.infinity
            case .validationLoss: score = validationLoss.map { $0.isFinite ? -$0 : -.infinity } ?? -.infinity
            case .lastEpoch: score = Double(epoch)
            }
            // Strictly better only: ties keep the earlier epoch.
            let isBest = hooks.mayKeep(epoch) && (bestScore.map { score > $0 } ?? true)
            let current = session.model
            if isBest {
                bestEpoch = epoch + 1
                bestScore = score
                bestWeights = current.graph.initializers
            }
            if let checkpointPath, communicator.isRoot {
                let state = session.optimizerState()
                let checkpoint = TrainingCheckpoint(
                    header: CheckpointHeader(configHash: hash, nextEpoch: epoch + 1, optimizerStep: state.step,
                                             generatorState: session.generatorState, bestEpoch: bestEpoch,
                                             bestScore: bestScore.map { $0.isFinite ? $0 : -Double.greatestFiniteMagnitude },
                                             records: records),
                    weights: current.graph.initializers, best: bestWeights, slots: state.slots, masks: session.masks)
                try TrainingCheckpoint.writeAtomically(try checkpoint.encoded(), to: checkpointPath)
            }
            progress(.epochFinished(record, isBest: isBest))
        }

        if let sync, ProcessInfo.processInfo.environment["SPRUCE_MPI_PROFILE"] != nil {
            FileHandle.standardError.write(Data(String(
                format: "rank %d: %d gradient allreduces, %.3f s in allreduce\n", communicator.rank, sync.allreduceCalls,
                sync.allreduceSeconds).utf8))
        }
        let finalModel = session.model
        var bestModel = finalModel
        if !bestWeights.isEmpty { bestModel.graph.initializers = bestWeights }
        if let bestEpoch { bestModel.metadata["train.best_epoch"] = "\(bestEpoch)" }
        if let auc = records.first(where: { $0.epoch == bestEpoch })?.validationAUC {
            bestModel.metadata["train.validation_auc"] = String(format: "%.6f", auc)
        }
        let report = TrainingReport(
            epochs: records, bestEpoch: bestEpoch, selection: selection, trainImages: data.trainIndices.count,
            validationImages: data.validationIndices.count, steps: session.stepCount,
            resumedAtEpoch: restored.map { $0.header.nextEpoch + 1 }, seconds: seconds(since: runStart))
        return TrainingResult(bestModel: bestModel, finalModel: finalModel, report: report, masks: session.masks)
    }

    // MARK: - Helpers

    /// The positive-class score per image from a model's output rows: the one value of a
    /// one-output head, class 1's probability of a wider one.
    public static func positiveScores(_ output: [Float], images: Int) -> [Float] {
        guard images > 0 else { return [] }
        let width = output.count / images
        if width <= 1 { return output }
        return (0..<images).map { output[$0 * width + 1] }
    }

    /// Validation loss and AUC of a model's probability `outputs` for `labels` (one output per
    /// image, or rows of class probabilities): binary cross-entropy and ROC AUC of the positive
    /// class for one- and two-wide heads; for wider ones softmax cross-entropy and the macro
    /// one-vs-rest AUC. The AUC is nil when it is undefined (one class, non-finite scores).
    public static func validationMetrics(outputs: [Float], labels: [Float]) -> (loss: Double, auc: Double?) {
        guard !labels.isEmpty, outputs.count % labels.count == 0 else { return (.nan, nil) }
        let width = outputs.count / labels.count
        if width > 2 {
            let rows = MulticlassReport.probabilityRows(outputs, classes: width)
            return (MulticlassReport.crossEntropy(probabilities: rows, classes: width, labels: labels),
                    MulticlassReport.macroAUC(probabilities: rows, classes: width, labels: labels))
        }
        let scores = positiveScores(outputs, images: labels.count)
        let auc = Set(labels).count == 2 && scores.allSatisfy(\.isFinite) ? try? ROC.auc(scores: scores, labels: labels) : nil
        return (binaryCrossEntropy(probabilities: scores, labels: labels), auc)
    }

    /// Mean binary cross-entropy of probabilities (clamped away from 0 and 1, as Keras does).
    static func binaryCrossEntropy(probabilities: [Float], labels: [Float]) -> Double {
        guard !probabilities.isEmpty, probabilities.count == labels.count else { return .nan }
        let eps = 1e-7
        var total = 0.0
        for (p, y) in zip(probabilities, labels) {
            let q = min(max(Double(p), eps), 1 - eps)
            total -= Double(y) * log(q) + (1 - Double(y)) * log(1 - q)
        }
        return total / Double(probabilities.count)
    }

    /// Every checkpoint tensor must be an initializer of `model` with the same shape, and vice versa.
    static func checkWeights(_ weights: [String: Tensor], against model: Model, path: String) throws {
        let initializers = model.graph.initializers
        for (name, tensor) in weights {
            guard let expected = initializers[name] else {
                throw TrainerError.checkpointMismatch(path: path, detail: "tensor '\(name)' is not in the model")
            }
            guard expected.shape == tensor.shape else {
                throw TrainerError.checkpointMismatch(
                    path: path, detail: "tensor '\(name)' has shape \(tensor.shape), the model \(expected.shape)")
            }
        }
        if let missing = initializers.keys.sorted().first(where: { weights[$0] == nil }) {
            throw TrainerError.checkpointMismatch(path: path, detail: "tensor '\(missing)' is missing")
        }
    }

    private func createDirectory(_ directory: String, for path: String) throws {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw TrainerError.cannotWriteCheckpoint(path: path, reason: "cannot create \(directory)")
        }
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}

/// How a model's image input is laid out: batches arrive NCHW, NHWC inputs get a transpose.
public struct ImageInputLayout: Sendable, Equatable {
    /// The input is [N, H, W, 3] rather than [N, 3, H, W].
    public let channelsLast: Bool
    /// The input's fixed height and width, nil where dynamic.
    public let height: Int?
    public let width: Int?

    /// The layout of `input`; an input that is not a 3-channel image is an `inputMismatch`.
    public init(input: ValueInfo) throws {
        let s = input.shape
        guard s.count == 4 else {
            throw TrainerError.inputMismatch(
                input: input.name, detail: "expected an image input [N, 3, H, W] or [N, H, W, 3], got rank \(s.count)")
        }
        if s[1] == 3 {
            (channelsLast, height, width) = (false, s[2], s[3])
        } else if s[3] == 3 {
            (channelsLast, height, width) = (true, s[1], s[2])
        } else {
            throw TrainerError.inputMismatch(
                input: input.name, detail: "no dimension of 3 channels in \(s.map { $0.map(String.init) ?? "N" })")
        }
    }

    /// The layout of `model`'s single input, checked to take `height`×`width` images.
    init(model: Model, height: Int, width: Int) throws {
        guard let input = model.graph.inputs.first else {
            throw TrainerError.inputMismatch(input: "?", detail: "the model has no input")
        }
        try self.init(input: input)
        try check(name: input.name, height: height, width: width)
    }

    /// Throws unless the fixed sizes (if any) equal `height`×`width`.
    public func check(name: String, height h: Int, width w: Int) throws {
        if (height != nil && height != h) || (width != nil && width != w) {
            let takes = [height, width].map { $0.map(String.init) ?? "any" }.joined(separator: "x")
            throw TrainerError.inputMismatch(input: name, detail: "takes \(takes) images, the data is \(h)x\(w)")
        }
    }

    /// An NCHW batch in the model's layout.
    public func arrange(_ images: Tensor) -> Tensor {
        guard channelsLast, images.shape.count == 4 else { return images }
        let (n, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        var out = [Float](repeating: 0, count: images.count)
        images.data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for b in 0..<n {
                    for ch in 0..<c {
                        for p in 0..<(h * w) { dst[(b * h * w + p) * c + ch] = src[(b * c + ch) * h * w + p] }
                    }
                }
            }
        }
        return Tensor(shape: [n, h, w, c], data: out)
    }
}
