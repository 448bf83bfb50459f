// The study runner behind `spruce study`: one lesion-grouped split; per model, dense training at
// each learning rate (best validation AUC kept); per sparsity, the compress recipe's stages (prune
// on a schedule with fine-tuning, fold, encode, int8, pack), then test evaluation of the artifact on
// the runtime and its batch-1 latency. Every finished step is a file written atomically, and a
// rerun skips what exists. It does not prune or train by itself: the pipeline stages do.
import Foundation
import SpruceCore
import SpruceFormat
import SpruceONNX
import SpruceTrain

/// What a study runs.
public struct StudyOptions: Sendable, Equatable {
    /// Dataset directory (labels.csv + images).
    public var data: String
    /// Zoo architecture names.
    public var models: [String]
    /// Target sparsities of the pruned layers, each in [0, 1).
    public var sparsities: [Double]
    /// The study folder.
    public var output: String
    public var size: Int
    /// MobileNet v2 width multiplier.
    public var width: Double
    public var epochs: Int
    public var finetuneEpochs: Int
    /// Dense learning rates tried; the best by validation AUC is kept.
    public var learningRates: [Double]
    public var finetuneLearningRate: Double
    public var seed: UInt64
    public var batchSize: Int
    /// Timed batch-1 runs per artifact (after `latencyRuns / 10 + 1` untimed ones).
    public var latencyRuns: Int
    public var zstdLevel: Int
    /// How each cell's sparsity is shared between layers (uniform: tfmot's way, as the study did).
    public var allocation: AllocationStrategy
    /// Value widths below 8 each cell's fine-tuned model is also packed at (format 2.0, nearest
    /// rounding) and evaluated: the points of the report's size-vs-AUC chart besides int8.
    public var extraValueBits: [Int]

    /// Options with the study's defaults (96×96, 10 epochs, 5 fine-tuning epochs, Adam 1e-3/1e-4, uniform).
    public init(data: String, models: [String], sparsities: [Double], output: String, size: Int = 96, width: Double = 1,
                epochs: Int = 10, finetuneEpochs: Int = 5, learningRates: [Double] = [1e-3, 1e-4],
                finetuneLearningRate: Double = 1e-4, seed: UInt64 = 0, batchSize: Int = 16, latencyRuns: Int = 50,
                zstdLevel: Int = 6, allocation: AllocationStrategy = .uniform, extraValueBits: [Int] = []) {
        self.data = data
        self.models = models
        self.sparsities = sparsities
        self.output = output
        self.size = size
        self.width = width
        self.epochs = epochs
        self.finetuneEpochs = finetuneEpochs
        self.learningRates = learningRates
        self.finetuneLearningRate = finetuneLearningRate
        self.seed = seed
        self.batchSize = batchSize
        self.latencyRuns = latencyRuns
        self.zstdLevel = zstdLevel
        self.allocation = allocation
        self.extraValueBits = extraValueBits
    }
}

/// Why a study could not run.
public enum StudyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A parameter is out of range.
    case invalidOption(String)
    /// The split leaves a subset without images or the test set without both classes.
    case unusableSplit(path: String, reason: String)
    /// A file the study wrote earlier cannot be read back.
    case unreadableResult(path: String, reason: String)
    /// The folder holds a study run with other settings; its cells would not be comparable.
    case settingsChanged(path: String, changes: String)

    public var description: String {
        switch self {
        case .invalidOption(let reason): "study: \(reason)"
        case .unusableSplit(let path, let reason): "\(path): \(reason)"
        case .unreadableResult(let path, let reason): "\(path): cannot read this earlier result (\(reason)); delete it to recompute"
        case .settingsChanged(let path, let changes):
            "\(path): this study folder was started with other settings (\(changes)); use a new folder or the same settings"
        }
    }
}

/// Runs a study, resuming from the files an earlier run left.
public struct StudyRunner: Sendable {
    public var options: StudyOptions
    /// The MPI job (or the single process): training and fine-tuning run data parallel over it;
    /// only rank 0 writes files, evaluates artifacts and times them.
    public var communicator: any Communicator
    /// BatchNorm statistics over the global batch (`--sync-bn`) when several ranks train.
    public var syncBatchNorm: Bool
    /// Train and compute nothing: write results.json and report.html from the finished dense
    /// models and cells alone (a study still running, or stopped, can be looked at).
    public var reportOnly: Bool

    /// A runner for `options`.
    public init(options: StudyOptions, communicator: any Communicator = SingleProcess(), syncBatchNorm: Bool = false,
                reportOnly: Bool = false) {
        self.options = options
        self.communicator = communicator
        self.syncBatchNorm = syncBatchNorm
        self.reportOnly = reportOnly
    }

    /// Writes `bytes` to `path` atomically, on rank 0 only.
    private func write(_ bytes: [UInt8], to path: String) throws {
        if communicator.isRoot { try FileIO.writeAtomically(bytes, to: path) }
    }

    /// A stage context for this study's job. Training keeps a checkpoint per epoch in
    /// `checkpoints` and continues from it, so a step interrupted mid-way loses at most an epoch.
    private func context(_ events: @escaping @Sendable (PipelineEvent) -> Void, _ cancellation: CancellationFlag,
                         checkpoints: String) -> StageContext {
        StageContext(seed: options.seed, events: events, cancellation: cancellation, communicator: communicator,
                            syncBatchNorm: syncBatchNorm, checkpointDirectory: checkpoints, resume: true)
    }

    /// Removes a finished step's checkpoint folder once its results are written (rank 0 writes both).
    private func removeCheckpoints(_ checkpoints: String) {
        if communicator.isRoot { try? FileManager.default.removeItem(atPath: checkpoints) }
    }

    /// The cell file of `model` at `sparsity`: `cells/<model>-<sparsity>.json`.
    public func cellPath(model: String, sparsity: Double) -> String {
        path("cells", "\(model)-\(Self.sparsityLabel(sparsity)).json")
    }

    /// `0.5` → `0.50`; the same text names files and table rows.
    public static func sparsityLabel(_ s: Double) -> String { String(format: "%.2f", s) }

    /// Runs what is missing and writes results.json and report.html; `log` gets one line per step.
    public func run(log: @escaping @Sendable (String) -> Void, cancellation: CancellationFlag = CancellationFlag()) throws -> StudyResults {
        try validate()
        let started = DispatchTime.now().uptimeNanoseconds
        let fm = FileManager.default
        if reportOnly && !fm.fileExists(atPath: path("settings.json")) {
            throw StudyError.invalidOption("\(options.output) holds no study to report on (no settings.json)")
        }
        try fm.createDirectory(atPath: path("cells"), withIntermediateDirectories: true)
        try checkSettings()
        try communicator.barrier()  // settings.json written before any rank reads it again

        let dataset = try Dataset.load(directory: options.data)
        let splitPath = path("split.csv")
        let split: Split
        let splitSource: String
        if fm.fileExists(atPath: splitPath) {
            split = try Split.read(from: splitPath, dataset: dataset)
            splitSource = "read from \(splitPath) (written by the first run, seed \(options.seed))"
        } else {
            split = try Split.make(for: dataset, options: SplitOptions(seed: options.seed))  // same on every rank
            try write(Array(split.csvText().utf8), to: splitPath)
            splitSource = "new 60/20/20 split by lesion_id, seed \(options.seed), written to \(splitPath)"
        }
        log("data: \(dataset.count) images; split \(split.count(of: .train)) train / \(split.count(of: .validation)) validation / \(split.count(of: .test)) test (\(splitSource))")
        let testIndices = split.indices(of: .test, in: dataset)
        let testPositives = testIndices.filter { dataset.samples[$0].label == 1 }.count
        guard testPositives > 0, testPositives < testIndices.count else {
            throw StudyError.unusableSplit(path: splitPath, reason: "the test subset has \(testIndices.count) images of which \(testPositives) positive; AUC needs both classes")
        }
        // The images are decoded only when something may be trained or computed. Without
        // skipBadImages the cache keeps every sample in order, so `testIndices` index it too.
        var work: (data: PipelineData, test: BatchLoader)?
        if !reportOnly {
            log("decoding images at \(options.size)x\(options.size) ...")
            let (cache, decodeSeconds) = try timed { try dataset.decodeImages(height: options.size, width: options.size) }
            log("decoded \(cache.count) images (\(ProgressReporter.duration(decodeSeconds)))")
            work = (try makeData(cache: cache, split: split, splitPath: splitPath),
                    try BatchLoader(cache: cache, indices: testIndices, options: .evaluation(batchSize: options.batchSize)))
        }

        var trainings: [DenseTraining] = []
        var cells: [StudyCell] = []
        for model in options.models {
            let training: DenseTraining, trained: Model?
            if let work {
                (training, trained) = try trainDense(model: model, data: work.data, test: work.test, log: log, cancellation: cancellation)
            } else {
                guard let finished = try finishedTraining(model: model) else {
                    log("\(model): no finished dense training, left out of the report")
                    continue
                }
                (training, trained) = (finished, nil)
            }
            trainings.append(training)
            var modelCells: [StudyCell] = []
            for sparsity in options.sparsities {
                try cancellation.check()
                if let cell = try finishedCell(model: model, sparsity: sparsity, learningRate: training.chosenLearningRate, log: log) {
                    modelCells.append(cell)
                } else if let trained, let work {
                    if let cell = try runCell(model: model, sparsity: sparsity, trained: trained,
                                              learningRate: training.chosenLearningRate, data: work.data, test: work.test,
                                              log: log, cancellation: cancellation) {
                        modelCells.append(cell)
                    }
                    try communicator.barrier()  // the cell file exists for every rank before the next cell
                }
            }
            // Charts join a model's cells in order: sorted, whatever order --sparsities gave them in.
            cells += modelCells.sorted { $0.sparsity < $1.sparsity }
        }
        let setup = StudySetup(
            data: options.data, images: dataset.count, trainImages: split.count(of: .train),
            validationImages: split.count(of: .validation), testImages: testIndices.count, testPositives: testPositives,
            split: splitSource, size: options.size, width: options.width, epochs: options.epochs,
            finetuneEpochs: options.finetuneEpochs, learningRates: options.learningRates,
            finetuneLearningRate: options.finetuneLearningRate, sparsities: options.sparsities, models: options.models,
            seed: options.seed, batchSize: options.batchSize, latencyRuns: options.latencyRuns,
            cores: ProcessInfo.processInfo.activeProcessorCount, build: Self.buildConfiguration,
            allocation: options.allocation.name)
        // Written by Tests/Benchmarks/tflite_size_bench.py --study OUT, when it was run.
        let peerFile = path("peer_sizes.json")
        let peers: [PeerSize]? = FileManager.default.fileExists(atPath: peerFile) ? try Self.decode(peerFile) : nil
        let results = StudyResults(
            spruceVersion: SpruceVersion.current, generated: ISO8601DateFormatter().string(from: Date()), setup: setup,
            training: trainings, cells: cells,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9, peerSizes: peers)
        try write(try Self.json(results), to: path("results.json"))
        try write(Array(StudyReport.html(results).utf8), to: path("report.html"))
        log("wrote \(path("results.json")) and \(path("report.html")) (\(ProgressReporter.duration(results.seconds)))")
        return results
    }

    /// Writes one results.json and report.html in `output` from the results.json of each study
    /// folder in `folders` (`spruce study --combine`): networks run at different sizes or epochs,
    /// in different folders, on one page. Reads only; the folders are left as they are.
    public static func combine(folders: [String], output: String) throws -> StudyResults {
        let started = DispatchTime.now().uptimeNanoseconds
        let target = (output as NSString).standardizingPath
        if folders.contains(where: { ($0 as NSString).standardizingPath == target }) {
            throw StudyError.invalidOption("\(output) is one of the combined studies; write the combined page to another folder")
        }
        let studies: [StudyResults] = try folders.map { folder in
            let file = (folder as NSString).appendingPathComponent("results.json")
            guard FileManager.default.fileExists(atPath: file) else {
                throw StudyError.invalidOption("\(folder) holds no results.json (run the study, or --report-only, there first)")
            }
            return try decode(file)
        }
        let results = try StudyResults.combining(studies, generated: ISO8601DateFormatter().string(from: Date()),
                                                 seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        try FileIO.writeAtomically(try json(results), to: (output as NSString).appendingPathComponent("results.json"))
        try FileIO.writeAtomically(Array(StudyReport.html(results).utf8), to: (output as NSString).appendingPathComponent("report.html"))
        return results
    }

    func validate() throws {
        guard !options.models.isEmpty else { throw StudyError.invalidOption("give at least one model") }
        for m in options.models { _ = try ZooModel(name: m) }
        guard !options.sparsities.isEmpty else { throw StudyError.invalidOption("give at least one sparsity") }
        for s in options.sparsities where !(s >= 0 && s < 1) {
            throw StudyError.invalidOption("sparsity \(s) must be in [0, 1)")
        }
        guard !options.learningRates.isEmpty, options.learningRates.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw StudyError.invalidOption("learning rates must be positive")
        }
        for b in options.extraValueBits where !(2...7).contains(b) {
            throw StudyError.invalidOption("value width \(b) must be 2 to 7 bits (the cells themselves are int8)")
        }
        guard options.epochs >= 1 else { throw StudyError.invalidOption("epochs must be at least 1") }
        guard options.finetuneEpochs >= 1 else { throw StudyError.invalidOption("fine-tuning epochs must be at least 1") }
        guard options.size >= 1, options.batchSize >= 1, options.latencyRuns >= 1 else {
            throw StudyError.invalidOption("size, batch size and latency runs must be positive")
        }
    }

    /// The settings every cell depends on (models, sparsities and learning rates may be added later).
    struct Settings: Codable, Equatable {
        var size: Int, width: Double, epochs: Int, finetuneEpochs: Int, finetuneLearningRate: Double
        var seed: UInt64, batchSize: Int, zstdLevel: Int
        /// Absent from studies written before the option existed, which were uniform.
        var allocation: String?
    }

    /// Writes `settings.json` on the first run; on a rerun, refuses settings that differ from it.
    private func checkSettings() throws {
        let o = options
        let current = Settings(size: o.size, width: o.width, epochs: o.epochs, finetuneEpochs: o.finetuneEpochs,
                               finetuneLearningRate: o.finetuneLearningRate, seed: o.seed, batchSize: o.batchSize, zstdLevel: o.zstdLevel,
                               allocation: o.allocation.name)
        let file = path("settings.json")
        guard FileManager.default.fileExists(atPath: file) else {
            try write(try Self.json(current), to: file)
            return
        }
        var saved: Settings = try Self.decode(file)
        saved.allocation = saved.allocation ?? AllocationStrategy.uniform.name
        guard saved != current else { return }
        var changes: [String] = []
        func note<T: Equatable>(_ name: String, _ a: T, _ b: T) { if a != b { changes.append("\(name) \(a) → \(b)") } }
        note("size", saved.size, current.size)
        note("width", saved.width, current.width)
        note("epochs", saved.epochs, current.epochs)
        note("finetune epochs", saved.finetuneEpochs, current.finetuneEpochs)
        note("finetune lr", saved.finetuneLearningRate, current.finetuneLearningRate)
        note("seed", saved.seed, current.seed)
        note("batch", saved.batchSize, current.batchSize)
        note("zstd level", saved.zstdLevel, current.zstdLevel)
        note("allocation", saved.allocation ?? "", current.allocation ?? "")
        throw StudyError.settingsChanged(path: file, changes: changes.joined(separator: ", "))
    }

    /// Train and validation loaders over the decoded cache, as the pipeline's load stage makes them.
    private func makeData(cache: ImageCache, split: Split, splitPath: String) throws -> PipelineData {
        let trainIndices = split.indices(of: .train, in: cache.dataset)
        let validationIndices = split.indices(of: .validation, in: cache.dataset)
        guard !trainIndices.isEmpty, !validationIndices.isEmpty else {
            throw StudyError.unusableSplit(path: splitPath, reason: "\(trainIndices.count) training and \(validationIndices.count) validation images; both must be non-empty")
        }
        let validation = try BatchLoader(cache: cache, indices: validationIndices, options: .evaluation(batchSize: options.batchSize))
        return PipelineData(training: TrainingData(cache: cache, trainIndices: trainIndices, validationIndices: validationIndices),
                            batchSize: options.batchSize, augmentation: .standard, scaling: .unit, validation: validation,
                            layout: .nchw, directory: options.data)
    }

    /// Dense training at every learning rate (each kept as `<model>/lr-<rate>.onnx` + `.json`), and
    /// the best copied to `<model>/trained.onnx` with `trained.json`.
    private func trainDense(model: String, data: PipelineData, test: BatchLoader, log: @escaping @Sendable (String) -> Void,
                            cancellation: CancellationFlag) throws -> (DenseTraining, Model) {
        let dir = path(model)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let reportPath = path(model, "trained.json"), modelPath = path(model, "trained.onnx")
        if let training = try finishedTraining(model: model) {
            log("\(model) dense: skipped, \(reportPath) exists (learning rate \(training.chosenLearningRate) kept)")
            return (training, try ModelFile.load(path: modelPath))
        }
        var trials: [LearningRateTrial] = []
        var parameters = 0
        for lr in options.learningRates {
            let stem = path(model, "lr-\(lr)")
            if FileManager.default.fileExists(atPath: stem + ".json"), FileManager.default.fileExists(atPath: stem + ".onnx") {
                let trial: LearningRateTrial = try Self.decode(stem + ".json")
                log("\(model) dense lr \(lr): skipped, \(stem).json exists")
                trials.append(trial)
                continue
            }
            let network = try ModelZoo.build(try ZooModel(name: model), inputSize: options.size, width: Float(options.width), seed: options.seed)
            parameters = network.graph.parameterCount
            log("\(model) dense lr \(lr): training \(options.epochs) epoch\(options.epochs == 1 ? "" : "s"), \(parameters) parameters")
            let pipeline = try Pipeline(stages: [TrainStage(epochs: options.epochs, learningRate: lr)])
            let context = context(Self.events(prefix: "  \(model) lr \(lr)", log: log), cancellation, checkpoints: stem + ".checkpoint")
            let (state, reports) = try pipeline.run(PipelineState(model: network, sourceName: model, data: data), context: context)
            let trial = LearningRateTrial(learningRate: lr, validationAUC: state.validationAUC,
                                          seconds: reports.reduce(0) { $0 + $1.seconds }, epochs: options.epochs)
            try write(try ONNXExporter.encode(state.model), to: stem + ".onnx")
            try write(try Self.json(trial), to: stem + ".json")
            removeCheckpoints(stem + ".checkpoint")
            log("\(model) dense lr \(lr): validation AUC \(Self.f4(trial.validationAUC)) (train \(Self.secs(trial.seconds)))")
            trials.append(trial)
        }
        let best = trials.max { ($0.validationAUC ?? -1) < ($1.validationAUC ?? -1) } ?? trials[0]
        try communicator.barrier()  // rank 0 has written every trial's model
        let bestBytes = try FileIO.read(path(model, "lr-\(best.learningRate).onnx"))
        let trained = try ONNXImporter.decode(bestBytes)
        if parameters == 0 { parameters = trained.graph.parameterCount }
        let (testAUC, testSeconds) = try timed { try Self.floatTestAUC(trained, test: test, cancellation: cancellation) }
        log("\(model) dense: test AUC \(Self.f4(testAUC)) of the float model (\(Self.secs(testSeconds)))")
        let training = DenseTraining(model: model, trials: trials, chosenLearningRate: best.learningRate, parameters: parameters,
                                     testAUC: testAUC)
        try write(bestBytes, to: modelPath)
        try write(try Self.json(training), to: reportPath)
        log("\(model) dense: kept learning rate \(best.learningRate) (validation AUC \(Self.f4(best.validationAUC)))")
        return (training, trained)
    }

    /// The dense training an earlier run finished with these learning rates, if any.
    private func finishedTraining(model: String) throws -> DenseTraining? {
        let reportPath = path(model, "trained.json")
        guard FileManager.default.fileExists(atPath: reportPath), FileManager.default.fileExists(atPath: path(model, "trained.onnx")) else {
            return nil
        }
        let training: DenseTraining = try Self.decode(reportPath)
        return training.trials.map(\.learningRate) == options.learningRates ? training : nil
    }

    /// The cell an earlier run finished, unless it was pruned from a dense model other than the
    /// kept one (`learningRate`), which makes it stale.
    private func finishedCell(model: String, sparsity: Double, learningRate: Double,
                              log: @escaping @Sendable (String) -> Void) throws -> StudyCell? {
        let label = "\(model) @ \(Self.sparsityLabel(sparsity))"
        let cellFile = cellPath(model: model, sparsity: sparsity)
        guard FileManager.default.fileExists(atPath: cellFile) else {
            if reportOnly { log("\(label): not computed yet, left out of the report") }
            return nil
        }
        let cell: StudyCell = try Self.decode(cellFile)
        if let pruned = cell.denseLearningRate, pruned != learningRate {
            log("\(label): \(cellFile) was pruned from the learning rate \(pruned) model, now \(learningRate) is kept"
                + (reportOnly ? ": stale, left out of the report" : ": recomputing"))
            return nil
        }
        log("\(label): skipped, \(cellFile) exists (test AUC \(Self.f4(cell.test.auc)))")
        return cell
    }

    /// One cell: the compress recipe from the trained model, then test evaluation and latency.
    /// `learningRate`: the kept dense model's, recorded in the cell.
    private func runCell(model: String, sparsity: Double, trained: Model, learningRate: Double, data: PipelineData,
                         test: BatchLoader, log: @escaping @Sendable (String) -> Void,
                         cancellation: CancellationFlag) throws -> StudyCell? {
        let label = "\(model) @ \(Self.sparsityLabel(sparsity))"
        let cellFile = cellPath(model: model, sparsity: sparsity)
        log("\(label): prune + fine-tune \(options.finetuneEpochs) epoch\(options.finetuneEpochs == 1 ? "" : "s"), int8, pack")
        // The recipe `spruce compress --sparsity S --int8` runs, minus its load stage: the trained
        // model and the decoded images are handed over in memory.
        let recipe = Recipe.compress(CompressOptions(
            model: .file(path(model, "trained.onnx")),
            data: DataOptions(directory: options.data, split: path("split.csv"), imageSize: options.size, batchSize: options.batchSize),
            sparsity: sparsity, finetuneEpochs: options.finetuneEpochs, learningRate: options.finetuneLearningRate,
            learningRateDecay: .constant,
            int8: true, pruning: PruningOptions(allocation: options.allocation), zstdLevel: options.zstdLevel, seed: options.seed))
        var pipeline = try Pipeline(recipe: recipe)
        pipeline.stages.removeAll { $0.name == "load" }
        // Wall time from each stage's start event to its end event: a StageReport's own seconds
        // leave out work around its core (pack's validation on the runtime, for one).
        let clock = StageClock()
        let checkpoints = path(model, "\(model)-\(Self.sparsityLabel(sparsity)).checkpoint")
        let context = context(Self.events(prefix: "  \(label)", log: log, clock: clock), cancellation, checkpoints: checkpoints)
        let (state, reports) = try pipeline.run(PipelineState(model: trained, sourceName: "\(model) (study)", data: data), context: context)
        // Evaluation and timing are rank 0's alone (other ranks would only disturb the timing).
        guard communicator.isRoot else { return nil }
        var stageSeconds = clock.seconds
        guard let bytes = state.artifact, let packed = reports.last else {
            throw StageError.failed(stage: "pack", reason: "the study recipe produced no artifact")
        }
        let artifactName = "\(model)/\(model)-\(Self.sparsityLabel(sparsity)).spruce"
        let artifactPath = path(artifactName)
        try FileIO.writeAtomically(bytes, to: artifactPath)

        let ((report, roc, engine), evalSeconds) = try timed { try evaluate(bytes: bytes, test: test, cancellation: cancellation) }
        stageSeconds["evaluate"] = evalSeconds
        let warmup = options.latencyRuns / 10 + 1
        let (bench, benchSeconds) = try timed {
            try LatencyBenchmark.run(path: artifactPath, threads: 1, runs: options.latencyRuns, warmup: warmup)
        }
        stageSeconds["latency"] = benchSeconds
        var widths: [ValueWidthPoint] = []
        let (_, widthSeconds) = try timed {
            for bits in options.extraValueBits.sorted(by: >) {
                let narrow = try ArtifactContents.bytes(state, zstdLevel: options.zstdLevel, valueBits: bits)
                try FileIO.writeAtomically(narrow, to: path(model, "\(model)-\(Self.sparsityLabel(sparsity))-int\(bits).spruce"))
                let (narrowReport, _, _) = try evaluate(bytes: narrow, test: test, cancellation: cancellation)
                widths.append(ValueWidthPoint(bits: bits, artifactBytes: narrow.count, testAUC: narrowReport.auc))
                log("  \(label): \(bits)-bit values: test AUC \(Self.f4(narrowReport.auc)), \(narrow.count) bytes")
            }
        }
        if !widths.isEmpty { stageSeconds["widths"] = widthSeconds }
        let cell = StudyCell(
            model: model, sparsity: sparsity,
            measuredSparsity: packed.weights == 0 ? 0 : 1 - Double(packed.nonzeroWeights) / Double(packed.weights),
            validationAUC: packed.validationAUC ?? state.validationAUC, test: report, roc: roc, artifactBytes: bytes.count,
            parameters: packed.parameters, nonzeroParameters: packed.nonzeroParameters,
            latencyMedianMs: bench.medianMs, latencyP90Ms: bench.p90Ms, engine: engine, stageSeconds: stageSeconds,
            artifact: artifactName, denseLearningRate: learningRate, widths: widths.isEmpty ? nil : widths)
        try FileIO.writeAtomically(try Self.json(cell), to: cellFile)
        removeCheckpoints(checkpoints)
        let times = Self.stageOrder.compactMap { s in stageSeconds[s].map { "\(s) \(Self.secs($0))" } }.joined(separator: ", ")
        log("\(label): test AUC \(Self.f4(report.auc)), \(bytes.count) bytes, \(packed.nonzeroParameters) non-zero parameters, "
            + String(format: "%.2f ms", bench.medianMs) + " batch-1; " + times)
        return cell
    }

    /// The configuration this code was compiled in.
    static var buildConfiguration: String {
        #if DEBUG
        "debug"
        #else
        "release"
        #endif
    }

    /// The order stages are listed in.
    public static let stageOrder = ["prune", "finetune", "fold", "quantize", "encode", "pack", "evaluate", "latency", "widths"]

    /// Test AUC of a training-form model on the trainer's inference path.
    static func floatTestAUC(_ model: Model, test: BatchLoader, cancellation: CancellationFlag) throws -> Double? {
        let session = try TrainingSession(model: model)
        var scores: [Float] = [], labels: [Float] = []
        for k in 0..<test.batchesPerEpoch {
            try cancellation.check()
            let batch = test.batch(k, epoch: 0)
            scores += try session.predict(batch.images)
            labels += batch.labels
        }
        return Trainer.validationMetrics(outputs: scores, labels: labels).auc
    }

    /// Test scores of the artifact on the runtime, the report and the ROC curve.
    private func evaluate(bytes: [UInt8], test: BatchLoader, cancellation: CancellationFlag) throws -> (EvaluationReport, [ROCPoint], String) {
        let session = try ArtifactSession(artifact: try ArtifactReader.decode(bytes), options: SessionOptions(threads: 1))
        guard let input = session.inputs.first, let output = session.outputs.first?.name else {
            throw StageError.failed(stage: "evaluate", reason: "the artifact has no input or output")
        }
        // Zoo heads end in a sigmoid; anything else is read as a logit.
        let producer = session.artifact.graph.nodes.last { $0.outputs.contains(output) }
        let isProbability: Bool = if case .sigmoid? = producer?.op { true } else { false }
        let fixed = input.shape.first.flatMap { $0 }
        var scores: [Float] = [], labels: [Int] = [], diagnoses: [String?] = []
        for k in 0..<test.batchesPerEpoch {
            try cancellation.check()
            let batch = test.batch(k, epoch: 0)
            let n = batch.labels.count
            var raw: [Float] = []
            if let fixed, fixed != n {
                let per = batch.images.count / max(n, 1)
                for i in 0..<n {
                    var shape = batch.images.shape
                    shape[0] = 1
                    let one = Tensor(shape: shape, data: Array(batch.images.data[(i * per)..<((i + 1) * per)]))
                    raw += Trainer.positiveScores(try session.run([input.name: one])[output]?.data ?? [], images: 1)
                }
            } else {
                raw = Trainer.positiveScores(try session.run([input.name: batch.images])[output]?.data ?? [], images: n)
            }
            guard raw.count == n else {
                throw StageError.failed(stage: "evaluate", reason: "the artifact gave \(raw.count) scores for \(n) images")
            }
            scores += isProbability ? raw : raw.map { 1 / (1 + expf(-$0)) }
            labels += batch.labels.map { Int($0) }
            diagnoses += batch.indices.map { test.cache.dataset.samples[$0].diagnosis }
        }
        let report = try EvaluationReport(scores: scores, labels: labels, diagnoses: diagnoses)
        let roc = try ROC.curve(scores: scores, labels: labels)
        return (report, roc, session.engine.description)
    }

    private func path(_ parts: String...) -> String {
        parts.reduce(options.output) { ($0 as NSString).appendingPathComponent($1) }
    }

    /// Stage starts and ends, epochs and notes as log lines.
    private static func events(prefix: String, log: @escaping @Sendable (String) -> Void,
                               clock: StageClock = StageClock()) -> @Sendable (PipelineEvent) -> Void {
        { event in
            let wall = clock.observe(event)
            switch event {
            case .stageStarted: break
            case .progress: break
            case .epoch(let stage, let epoch, let of, let loss, let auc, let sparsity):
                log("\(prefix) \(stage) epoch \(epoch)/\(of): loss \(String(format: "%.4f", loss)), val AUC \(f4(auc)), sparsity \(String(format: "%.1f%%", sparsity * 100))")
            case .stageFinished(let r):
                log("\(prefix) \(r.stage): \(r.summary) (wall \(secs(wall ?? r.seconds)))")
            case .note(let text):
                log("\(prefix) note: \(text)")
            }
        }
    }

    static func f4(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "n/a" }
    static func secs(_ s: Double) -> String { String(format: "%.1fs", s) }

    /// Pretty, key-sorted JSON with a final newline.
    static func json<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Array(try encoder.encode(value)) + [0x0A]
    }

    static func decode<T: Decodable>(_ path: String) throws -> T {
        let bytes = try FileIO.read(path)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { return try decoder.decode(T.self, from: Data(bytes)) } catch {
            throw StudyError.unreadableResult(path: path, reason: "\(error)")
        }
    }
}

/// Wall seconds per stage, from the pipeline's start and finish events (any thread), with the
/// epochs a resumed training stage did before its checkpoint.
final class StageClock: @unchecked Sendable {
    // @unchecked: every access to the dictionaries holds `lock`.
    private let lock = NSLock()
    private var started: [String: UInt64] = [:]
    private var measured: [String: Double] = [:]

    /// Records `event`; for a finished stage, returns its wall seconds.
    @discardableResult
    func observe(_ event: PipelineEvent) -> Double? {
        let now = DispatchTime.now().uptimeNanoseconds
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .stageStarted(_, _, let name): started[name] = now
        case .stageFinished(let report):
            guard let t = started[report.stage] else { return nil }
            let wall = Double(now - t) / 1e9 + (report.metrics[Tuning.earlierSecondsMetric] ?? 0)
            measured[report.stage, default: 0] += wall
            return wall
        default: break
        }
        return nil
    }

    var seconds: [String: Double] { lock.lock(); defer { lock.unlock() }; return measured }
}
