// The pipeline: stages run one after another over a PipelineState, each returning a StageReport.
// This is the entry point to read after the commands: it shows how recipes become stages and the
// order rules, all checked here before anything runs: load first; train and finetune before fold;
// a gradual prune before fold with a finetune after it; a target size before fold; a one-shot
// prune to a sparsity anywhere before quantize; quantize, encode and pack after fold, in that
// order, pack last.
import SpruceCore

/// Stages run in order over one state.
///
/// ```swift
/// let pipeline = try Pipeline(recipe: .compress(CompressOptions(model: .file("m.onnx"), sparsity: 0.9)))
/// let (state, reports) = try pipeline.run(context: StageContext())
/// try FileIO.writeAtomically(state.artifact ?? [], to: "m.spruce")
/// ```
public struct Pipeline: Sendable {
    /// The stages, in order.
    public var stages: [any Stage]
    /// zstd level of the artifact's sections; every stage that measures or writes bytes uses it.
    public var zstdLevel: Int
    /// Bits per quantized weight value, its quantize stage's (8 without one): a byte budget is
    /// searched, and the artifact written, with it.
    public var valueBits: Int
    /// Whether its quantize stage is quantization-aware (the fine-tuning trains through the rounding).
    public var quantizationAware: Bool

    /// A pipeline of `stages` (order checked by `validate`).
    public init(stages: [any Stage], zstdLevel: Int = 6) throws {
        self.stages = stages
        self.zstdLevel = zstdLevel
        valueBits = stages.lazy.compactMap { ($0 as? QuantizeStage)?.bits }.first ?? 8
        quantizationAware = stages.contains { ($0 as? QuantizeStage)?.quantizationAware == true }
        try Self.validate(stages)
        guard (1...19).contains(zstdLevel) else {
            throw StageError.invalidParameter(stage: "pack", reason: "zstd level \(zstdLevel) must be between 1 and 19")
        }
    }

    /// The stages a recipe describes.
    public init(recipe: Recipe) throws {
        var built: [any Stage] = []
        var zstdLevel = 6
        for spec in recipe.stages {
            switch spec {
            case .load(let source): built.append(LoadStage(source: source, data: recipe.data))
            case .train(let epochs, let lr, let optimizer):
                built.append(TrainStage(epochs: epochs, learningRate: lr, optimizer: optimizer))
            case .prune(let stage): built.append(stage)
            case .finetune(let epochs, let lr, let decay, let optimizer):
                built.append(FineTuneStage(epochs: epochs, learningRate: lr, decay: decay, optimizer: optimizer))
            case .fold: built.append(FoldStage())
            case .quantize(let int8, let images, let bits, let aware):
                built.append(QuantizeStage(int8: int8, calibrationImages: images, bits: bits, quantizationAware: aware))
            case .encode: built.append(EncodeStage())
            case .pack(let level):
                built.append(PackStage())
                zstdLevel = level
            }
        }
        try self.init(stages: built, zstdLevel: zstdLevel)
    }

    /// Checks the order of the stages.
    static func validate(_ stages: [any Stage]) throws {
        func fail(_ stage: String, _ reason: String) -> StageError { .misplaced(stage: stage, reason: reason) }
        let names = stages.map(\.name)
        guard !names.isEmpty else { throw StageError.invalidParameter(stage: "pipeline", reason: "the recipe has no stages") }
        if let i = names.firstIndex(of: "load"), i != 0 { throw fail("load", "must be the first stage") }
        if names.filter({ $0 == "load" }).count > 1 { throw fail("load", "appears more than once") }
        let fold = names.firstIndex(of: "fold")
        func after(_ i: Int, _ name: String) -> Bool { names[(i + 1)...].contains(name) }
        func before(_ i: Int, _ name: String) -> Bool { names[..<i].contains(name) }
        for (i, stage) in stages.enumerated() {
            let n = stage.name
            switch n {
            case "train", "finetune":
                if let fold, i > fold { throw fail(n, "must come before fold") }
            case "prune":
                if let prune = stage as? PruneStage, prune.schedule != nil {
                    if let fold, i > fold { throw fail(n, "gradual pruning must come before fold") }
                    if !after(i, "finetune") { throw fail(n, "a pruning schedule needs a finetune stage after prune") }
                }
                if let prune = stage as? PruneStage, prune.targetBytes != nil, let fold, i > fold {
                    throw fail(n, "a target size is searched before fold")
                }
                if before(i, "quantize") || before(i, "encode") { throw fail(n, "must come before quantize and encode") }
            case "quantize", "encode", "pack":
                guard let fold, i > fold else { throw fail(n, "must come after fold") }
                if n == "quantize" && before(i, "encode") { throw fail(n, "must come before encode (the value type decides the storage)") }
                if (stage as? QuantizeStage)?.quantizationAware == true && !before(i, "finetune") {
                    throw fail(n, "quantization-aware rounding needs a finetune stage before it")
                }
                if n == "pack" && !before(i, "encode") { throw fail(n, "writes the encode stage's plan; put encode before pack") }
            default: break
            }
        }
        if let p = names.firstIndex(of: "pack"), p != names.count - 1 { throw fail("pack", "must be the last stage") }
    }

    /// Runs every stage on `state`; events go to `context.events`.
    public func run(_ state: PipelineState = PipelineState(), context: StageContext) throws -> (PipelineState, [StageReport]) {
        var state = state
        var reports: [StageReport] = []
        for (i, stage) in stages.enumerated() {
            try context.cancellation.check()
            var ctx = context
            ctx.zstdLevel = zstdLevel
            ctx.valueBits = valueBits
            ctx.quantizationAware = quantizationAware
            ctx.stageIndex = i
            context.events(.stageStarted(index: i, count: stages.count, name: stage.name))
            let report = try stage.run(&state, context: ctx)
            reports.append(report)
            context.events(.stageFinished(report))
        }
        return (state, reports)
    }
}
