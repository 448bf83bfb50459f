// The pipeline: stages run one after another over a PipelineState, each returning a StageReport.
// This is the entry point to read after the commands: it shows how recipes become stages and the
// order rules (load first; train/prune/finetune before fold; encode/quantize/pack after it).
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

    /// A pipeline of `stages` (order checked by `validate`).
    public init(stages: [any Stage]) throws {
        self.stages = stages
        try Self.validate(stages.map(\.name))
    }

    /// The stages a recipe describes.
    public init(recipe: Recipe) throws {
        let pruneOptions = recipe.stages.compactMap { spec -> PruningOptions? in
            if case .prune(let p) = spec { return p.options } else { return nil }
        }.last ?? PruningOptions()
        let zstd = recipe.stages.compactMap { spec -> Int? in
            if case .pack(let level) = spec { return level } else { return nil }
        }.last ?? 6
        var built: [any Stage] = []
        for spec in recipe.stages {
            switch spec {
            case .load(let source): built.append(LoadStage(source: source, data: recipe.data))
            case .train(let epochs, let lr, let optimizer):
                built.append(TrainStage(epochs: epochs, learningRate: lr, optimizer: optimizer))
            case .prune(let p):
                built.append(PruneStage(sparsity: p.sparsity, targetBytes: p.targetBytes, options: p.options,
                                        schedule: p.schedule, int8: p.int8, zstdLevel: zstd))
            case .finetune(let epochs, let lr, let optimizer):
                built.append(FineTuneStage(epochs: epochs, learningRate: lr, optimizer: optimizer))
            case .fold: built.append(FoldStage())
            case .encode: built.append(EncodeStage())
            case .quantize(let int8): built.append(QuantizeStage(int8: int8))
            case .pack(let level): built.append(PackStage(zstdLevel: level, options: pruneOptions))
            }
        }
        try self.init(stages: built)
    }

    /// Checks the order of stage names.
    static func validate(_ names: [String]) throws {
        func fail(_ stage: String, _ reason: String) -> StageError { .misplaced(stage: stage, reason: reason) }
        guard !names.isEmpty else { throw StageError.invalidParameter(stage: "pipeline", reason: "the recipe has no stages") }
        if let i = names.firstIndex(of: "load"), i != 0 { throw fail("load", "must be the first stage") }
        if names.filter({ $0 == "load" }).count > 1 { throw fail("load", "appears more than once") }
        let fold = names.firstIndex(of: "fold")
        for (i, n) in names.enumerated() {
            switch n {
            case "train", "prune", "finetune":
                if let fold, i > fold { throw fail(n, "must come before fold") }
            case "encode", "quantize", "pack":
                guard let fold, i > fold else { throw fail(n, "must come after fold") }
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
            ctx.laterStages = stages[(i + 1)...].map(\.name)
            ctx.stageIndex = i
            context.events(.stageStarted(index: i, count: stages.count, name: stage.name))
            let report = try stage.run(&state, context: ctx)
            reports.append(report)
            context.events(.stageFinished(report))
        }
        return (state, reports)
    }
}
