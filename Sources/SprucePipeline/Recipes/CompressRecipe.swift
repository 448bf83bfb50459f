// The recipes the commands build from their flags. `spruce compress`: load → prune → finetune (with
// data) → fold → quantize → encode → pack; without data the pruning is one-shot and there is no
// fine-tuning. `spruce pack`: load → fold → prune (one-shot, on the inference weights, when asked)
// → quantize → encode → pack: the same road without data or fine-tuning.

import SpruceTrain

/// The flags of `spruce compress` that shape its recipe.
public struct CompressOptions: Sendable, Equatable {
    public var model: ModelSource
    /// Images; nil: one-shot pruning without fine-tuning.
    public var data: DataOptions?
    public var sparsity: Double?
    public var targetBytes: Int?
    public var schedule: ScheduleSpec.Kind
    /// Fraction of fine-tuning at which the polynomial schedule reaches the target (nil: default).
    public var scheduleEnd: Double?
    public var finetuneEpochs: Int
    public var learningRate: Double
    /// How the fine-tuning rate moves: cosine decay to 0 by default.
    public var learningRateDecay: RateDecay
    /// The fine-tuning optimizer.
    public var optimizer: OptimizerName
    /// Force int8 (otherwise int8 only when a byte budget needs it).
    public var int8: Bool
    /// Bits per quantized value: 8 (int8), or 2…7 packed (format 2.0).
    public var valueBits = 8
    /// Fine-tune through the rounding once the masks are final (needs int8 and data).
    public var quantizationAware = false
    /// With `targetBytes` and data: each quantized layer's value width chosen by the budget search.
    public var mixedWidths = false
    /// Images the quantize stage rounds the values on (GPTQ); empty: nearest.
    public var calibrationImages: [String] = []
    public var pruning: PruningOptions
    public var zstdLevel: Int
    public var seed: UInt64

    /// `spruce compress`'s allocation: one global threshold, each layer keeping 5 % (it kept more
    /// accuracy than tfmot's uniform share on every model measured; docs/RESULTS.md).
    public static let defaultAllocation = AllocationStrategy.global(minimumDensity: 0.05)

    /// Options with `spruce compress`'s defaults: global allocation, 8 fine-tuning epochs at 3e-4 with cosine decay.
    public init(model: ModelSource, data: DataOptions? = nil, sparsity: Double? = nil, targetBytes: Int? = nil,
                schedule: ScheduleSpec.Kind = .polynomial, scheduleEnd: Double? = nil, finetuneEpochs: Int = 8, learningRate: Double = 3e-4,
                learningRateDecay: RateDecay = .cosine, optimizer: OptimizerName = .adam,
                int8: Bool = false, pruning: PruningOptions = PruningOptions(allocation: CompressOptions.defaultAllocation),
                zstdLevel: Int = 6, seed: UInt64 = 0) {
        self.model = model
        self.data = data
        self.sparsity = sparsity
        self.targetBytes = targetBytes
        self.schedule = schedule
        self.scheduleEnd = scheduleEnd
        self.finetuneEpochs = finetuneEpochs
        self.learningRate = learningRate
        self.learningRateDecay = learningRateDecay
        self.optimizer = optimizer
        self.int8 = int8
        self.pruning = pruning
        self.zstdLevel = zstdLevel
        self.seed = seed
    }
}

extension Recipe {
    /// The recipe `spruce compress` runs for `options`.
    public static func compress(_ options: CompressOptions) -> Recipe {
        let hasData = options.data?.directory != nil
        var stages: [StageSpec] = [.load(options.model)]
        stages.append(.prune(PruneSpec(sparsity: options.sparsity, targetBytes: options.targetBytes, options: options.pruning,
                                       schedule: hasData ? ScheduleSpec(kind: options.schedule, endFraction: options.scheduleEnd) : nil,
                                       int8: options.int8 ? .always : .auto, mixedWidths: options.mixedWidths)))
        if hasData { stages.append(.finetune(epochs: options.finetuneEpochs, learningRate: options.learningRate,
                                                decay: options.learningRateDecay, optimizer: options.optimizer)) }
        stages += [.fold, .quantize(int8: options.int8, calibrationImages: options.calibrationImages, bits: options.valueBits,
                                      quantizationAware: options.quantizationAware && hasData),
                   .encode, .pack(zstdLevel: options.zstdLevel)]
        return Recipe(seed: options.seed, data: hasData ? options.data : nil, stages: stages)
    }

    /// The recipe `spruce pack` runs: `options.sparsity` of all conv/Gemm weights pruned one-shot
    /// after fold (`PruningOptions.oneShot`), no data.
    public static func pack(_ source: ModelSource, options: PackOptions) -> Recipe {
        var stages: [StageSpec] = [.load(source), .fold]
        if let s = options.sparsity, s > 0 {
            stages.append(.prune(PruneSpec(sparsity: s, options: .oneShot(pruneAll: options.pruneAll, uniform: options.uniform), int8: .never)))
        }
        stages += [.quantize(int8: options.int8, calibrationImages: options.calibrationImages, bits: options.valueBits), .encode,
                   .pack(zstdLevel: options.zstdLevel)]
        return Recipe(data: options.scaling.map { DataOptions(scaling: $0) }, stages: stages)
    }

    /// Whether the recipe fine-tunes (has data and a finetune stage).
    public var fineTunes: Bool {
        data?.directory != nil && stages.contains { $0.name == "finetune" }
    }
}
