// What a training run is: batch size, epochs, optimizer, freezing, pruning masks, seed,
// augmentation, scaling, threads and where checkpoints go. The configuration hash stored in a
// checkpoint covers everything that changes the weights, so `resume` refuses a different run.
// It holds settings only; the loop is in Trainer.swift.

import SpruceCore

/// Settings of a `Trainer` run.
public struct TrainerConfiguration: Sendable, Equatable {
    /// Images per training step (the study used 16).
    public var batchSize: Int
    /// Epochs to train in total (a resumed run counts the epochs already done).
    public var epochs: Int
    /// Optimizer, learning-rate schedule and weight decay (the study: Adam, lr 1e-3).
    public var optimizer: OptimizerConfiguration
    /// Parameters to leave untouched (the study froze the bottom layers in one experiment).
    public var freeze: FreezeRule?
    /// Pruning masks by parameter name (false = pruned), held through training.
    public var masks: [String: [Bool]]
    /// Seed of the data order, augmentation and dropout.
    public var seed: UInt64
    /// Training-time transforms (`.none` switches augmentation off).
    public var augmentation: Augmentation
    /// Byte-to-float mapping of the images.
    public var scaling: PixelScaling
    /// Kernel threads (nil: every online core). Bit-identical resumes need the same count.
    public var threads: Int?
    /// BatchNormalization running-average momentum; nil reads the model's
    /// `zoo.batchnorm_momentum` metadata (0.999 for MobileNet v2, as Keras) or uses 0.99.
    public var batchNormMomentum: Float?
    /// Folder for the per-epoch checkpoint (created if needed); nil keeps none.
    public var checkpointDirectory: String?
    /// Continue from the checkpoint in `checkpointDirectory` when there is one.
    public var resume: Bool
    /// What else decides the weights and is not a setting here (compress's pruning plan, say);
    /// part of the fingerprint, so a checkpoint of another plan is refused.
    public var plan: String = ""

    /// The study's defaults: batch 16, Adam at 1e-3, seed 0, standard augmentation, [0, 1] pixels.
    public init(batchSize: Int = 16, epochs: Int = 10, optimizer: OptimizerConfiguration = .adam(learningRate: 1e-3),
                freeze: FreezeRule? = nil, masks: [String: [Bool]] = [:], seed: UInt64 = 0,
                augmentation: Augmentation = .standard, scaling: PixelScaling = .unit, threads: Int? = nil,
                batchNormMomentum: Float? = nil, checkpointDirectory: String? = nil, resume: Bool = false) {
        self.batchSize = batchSize
        self.epochs = epochs
        self.optimizer = optimizer
        self.freeze = freeze
        self.masks = masks
        self.seed = seed
        self.augmentation = augmentation
        self.scaling = scaling
        self.threads = threads
        self.batchNormMomentum = batchNormMomentum
        self.checkpointDirectory = checkpointDirectory
        self.resume = resume
    }

    func validate() throws {
        guard batchSize > 0 else { throw TrainerError.invalidOption("batch size \(batchSize) must be positive") }
        guard epochs >= 0 else { throw TrainerError.invalidOption("epochs \(epochs) must not be negative") }
        if let threads, threads < 1 { throw TrainerError.invalidOption("threads \(threads) must be positive") }
        if let m = batchNormMomentum, !(m >= 0 && m < 1) {
            throw TrainerError.invalidOption("batch-norm momentum \(m) must be in [0, 1)")
        }
        if case .constant(let lr) = optimizer.schedule, !(lr.isFinite && lr > 0) {
            throw TrainerError.invalidOption("learning rate \(lr) must be positive")
        }
    }

    /// The momentum used for `model`.
    func momentum(for model: Model) -> Float {
        if let batchNormMomentum { return batchNormMomentum }
        if let text = model.metadata["zoo.batchnorm_momentum"], let m = Float(text), m >= 0, m < 1 { return m }
        return 0.99
    }

    /// A stable fingerprint of every setting that changes the trained weights, with the model's
    /// structure, its input size and the train/validation image lists. Epoch count, threads and
    /// the checkpoint folder are left out: a run may be extended, or resumed on another machine.
    func fingerprint(model: Model, inputHeight: Int, inputWidth: Int, trainIDs: [String], validationIDs: [String]) -> UInt64 {
        var h = StableHasher()
        h.add("spruce-trainer-v1")
        h.add("batch=\(batchSize)|optimizer=\(optimizer)|freeze=\(String(describing: freeze))|seed=\(seed)")
        h.add("augmentation=\(augmentation)|scaling=\(scaling)|momentum=\(momentum(for: model))")
        h.add("input=\(inputHeight)x\(inputWidth)")
        if !plan.isEmpty { h.add("plan=" + plan) }
        for node in model.graph.nodes {
            h.add(node.name)
            h.add(node.op.onnxName)
            for name in node.inputs + ["->"] + node.outputs { h.add(name) }
        }
        for (name, tensor) in model.graph.initializers.sorted(by: { $0.key < $1.key }) {
            h.add("\(name):\(tensor.shape)")
        }
        for (name, mask) in masks.sorted(by: { $0.key < $1.key }) {
            h.add("mask:\(name)")
            var bits = ""
            bits.reserveCapacity(mask.count)
            for keep in mask { bits.append(keep ? "1" : "0") }
            h.add(bits)
        }
        h.add("train")
        for id in trainIDs { h.add(id) }
        h.add("validation")
        for id in validationIDs { h.add(id) }
        return h.value
    }
}

/// FNV-1a over length-prefixed strings: the same across processes and platforms (unlike `Hasher`).
struct StableHasher {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func add(_ text: String) {
        for byte in "\(text.utf8.count):".utf8 { mix(byte) }
        for byte in text.utf8 { mix(byte) }
    }

    private mutating func mix(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }
}
