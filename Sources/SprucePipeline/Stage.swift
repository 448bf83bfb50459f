// The stage protocol and what flows between stages: the model IR with its pruning masks and the
// packing decisions (PipelineState), and what every stage may use (StageContext: seed, events,
// cancellation, the artifact's zstd level). Concrete stages live in Stages/; the Pipeline runs them in order.
import Foundation
import SpruceCore
import SpruceFormat
import SpruceTrain

/// One step of the pipeline: changes the state and says what it did.
public protocol Stage: Sendable {
    /// The stage's name in reports and recipes.
    var name: String { get }
    /// Runs on `state` and reports.
    func run(_ state: inout PipelineState, context: StageContext) throws -> StageReport
}

/// What flows from stage to stage: the model, its pruning masks and the decisions made so far.
public struct PipelineState: Sendable {
    /// The model (training form until `fold`, inference form after).
    public var model: Model
    /// Keep-masks by weight name (false = pruned, held at exactly zero).
    public var masks: [String: [Bool]]
    /// Where the model came from (file name or zoo spec), for metadata and messages.
    public var sourceName: String
    /// Labelled images, when the pipeline has data.
    public var data: PipelineData?
    /// Whether `fold` has lowered the model for inference.
    public var folded: Bool
    /// Store conv/Gemm weights as int8 (set by `quantize`, or by a target-size search).
    public var int8: Bool
    /// Value widths chosen per layer, by conv/Gemm node name (a mixed-precision target-size
    /// search); layers not named take the context's `valueBits`.
    public var valueWidths: [String: Int] = [:]
    /// Images whose activations chose how int8 weights round (GPTQ, by `quantize`); 0: to nearest.
    public var calibrationImages: Int
    /// How image pixels become the model's input (set by `load` from the recipe's data options;
    /// recorded in the artifact's metadata).
    public var inputNormalization: InputNormalization?
    /// Pruning still to be done gradually by `finetune`.
    public var pendingPruning: PendingPruning?
    /// A byte budget the packed artifact must fit.
    public var targetBytes: Int?
    /// The pruning that was done, in words (for metadata).
    public var pruningDescription: String
    /// The options of the last prune stage (which layers are pruned, the caps).
    public var pruningOptions: PruningOptions?
    /// What one-shot pruning did per layer (set by a prune stage without a schedule).
    public var pruningReport: PruningReport?
    /// How every conv/Gemm weight is stored (set by `encode`, written by `pack`).
    public var plan: EncodingPlan?
    /// The packed artifact (set by `pack`).
    public var artifact: [UInt8]?
    /// The latest validation AUC measured.
    public var validationAUC: Double?
    /// The validation AUC of the model as loaded (set by `load` when there is data).
    public var loadedValidationAUC: Double?

    /// A state around `model`.
    public init(model: Model = Model(graph: Graph()), sourceName: String = "", data: PipelineData? = nil) {
        self.model = model
        self.masks = [:]
        self.sourceName = sourceName
        self.data = data
        self.folded = false
        self.int8 = false
        self.calibrationImages = 0
        self.inputNormalization = nil
        self.pendingPruning = nil
        self.targetBytes = nil
        self.pruningDescription = "none"
        self.pruningOptions = nil
        self.pruningReport = nil
        self.plan = nil
        self.artifact = nil
        self.validationAUC = nil
        self.loadedValidationAUC = nil
    }
}

/// Pruning that `finetune` performs step by step.
public struct PendingPruning: Sendable {
    /// Final sparsity per weight tensor.
    public var perLayer: [String: Double]
    /// The overall final sparsity of the participating layers (the schedule's final value).
    public var finalSparsity: Double
    /// How the schedule is stated (resolved once the number of steps is known).
    public var schedule: ScheduleSpec
    /// Block shape and allocation options.
    public var options: PruningOptions
}

/// Something a running pipeline tells its caller (for progress display).
public enum PipelineEvent: Sendable {
    /// Stage `index` (0-based) of `count` starts.
    case stageStarted(index: Int, count: Int, name: String)
    /// A stage finished.
    case stageFinished(StageReport)
    /// A unit of work inside a stage: `done` of `total` (batches, layers, search steps).
    case progress(stage: String, done: Int, total: Int, detail: String)
    /// An epoch ended.
    case epoch(stage: String, epoch: Int, of: Int, loss: Double, validationAUC: Double?, sparsity: Double)
    /// A remark worth showing (a fallback taken, a limit hit).
    case note(String)
}

/// A flag a signal handler sets and stages poll between batches.
public final class CancellationFlag: @unchecked Sendable {
    // @unchecked: the only state is guarded by `lock`.
    private let lock = NSLock()
    private var cancelled = false

    /// A flag not yet set.
    public init() {}

    /// Sets the flag.
    public func cancel() { lock.lock(); cancelled = true; lock.unlock() }

    /// Whether the flag is set.
    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelled }

    /// Throws `StageError.cancelled` when the flag is set.
    public func check() throws { if isCancelled { throw StageError.cancelled } }
}

/// What every stage may use besides the state.
public struct StageContext: Sendable {
    /// Seed of training order, augmentation and dropout.
    public var seed: UInt64
    /// Receives progress events.
    public var events: @Sendable (PipelineEvent) -> Void
    /// Polled between batches.
    public var cancellation: CancellationFlag
    /// zstd level of the artifact's sections (the pipeline sets the pack stage's); size searches
    /// and the encoding choice measure with it.
    public var zstdLevel: Int
    /// Bits per quantized weight value, 8 or 2…7 (the pipeline sets its quantize stage's): size
    /// searches and the writer use it.
    public var valueBits = 8
    /// Whether the quantize stage asks the fine-tuning to train through its rounding (the
    /// pipeline sets it from `QuantizeStage.quantizationAware`).
    public var quantizationAware = false
    /// The ranks training stages run data parallel over (`SingleProcess` outside mpirun).
    public var communicator: any Communicator
    /// With several ranks, BatchNormalization normalises with the global batch's statistics.
    public var syncBatchNorm: Bool
    /// Where training stages keep their per-epoch checkpoints (one subfolder per stage); nil: none.
    public var checkpointDirectory: String?
    /// Continue training stages from their checkpoints when there are some.
    public var resume: Bool
    /// 0-based position of the running stage (set by the pipeline).
    public var stageIndex: Int = 0

    /// A context; events are dropped unless a handler is given.
    public init(seed: UInt64 = 0, events: @escaping @Sendable (PipelineEvent) -> Void = { _ in },
                cancellation: CancellationFlag = CancellationFlag(), zstdLevel: Int = 6,
                communicator: any Communicator = SingleProcess(), syncBatchNorm: Bool = false,
                checkpointDirectory: String? = nil, resume: Bool = false) {
        self.communicator = communicator
        self.syncBatchNorm = syncBatchNorm
        self.checkpointDirectory = checkpointDirectory
        self.resume = resume
        self.seed = seed
        self.events = events
        self.cancellation = cancellation
        self.zstdLevel = zstdLevel
    }
}

/// Why a stage could not run, naming the stage and the cause.
public enum StageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The user interrupted the run.
    case cancelled
    /// The stage needs labelled data and none was given.
    case needsData(stage: String, reason: String)
    /// The stage cannot run in this position (e.g. train after fold).
    case misplaced(stage: String, reason: String)
    /// The stage's parameters are invalid.
    case invalidParameter(stage: String, reason: String)
    /// The stage failed; `reason` is the underlying error's message.
    case failed(stage: String, reason: String)
    /// No sparsity (and int8 choice) packs into the budget.
    case budgetUnreachable(budget: Int, smallest: Int, how: String)

    public var description: String {
        switch self {
        case .cancelled: "interrupted; no output was written"
        case .needsData(let stage, let reason): "\(stage): needs labelled data (--data DIR): \(reason)"
        case .misplaced(let stage, let reason): "\(stage): \(reason)"
        case .invalidParameter(let stage, let reason): "\(stage): \(reason)"
        case .failed(let stage, let reason): "\(stage): \(reason)"
        case .budgetUnreachable(let budget, let smallest, let how):
            "target size \(ByteSize.format(budget)) cannot be reached: the smallest artifact is \(ByteSize.format(smallest)) (\(how))"
        }
    }
}

/// Runs `body`, returning its result and the seconds it took.
func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    let value = try body()
    return (value, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
}
