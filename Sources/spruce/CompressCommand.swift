// `spruce compress`: prune (to a sparsity or a byte budget), fine-tune, fold, quantize, encode and
// pack, as a recipe built from the flags or read from a file. The work is SprucePipeline's
// (Pipeline, stages, TargetSizeSearch); this file parses flags, shows progress, handles Ctrl-C and
// prints the stage table and the artifact as `spruce inspect` shows it.
import ArgumentParser
import Dispatch
import Foundation
import SpruceCore
import SpruceFormat
import SprucePipeline
import SpruceTrain

/// `spruce compress MODEL --data DIR (--sparsity S | --target-size SIZE) -o MODEL.spruce`
struct CompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Prune, fine-tune, quantize and pack a model to a sparsity or a byte budget.",
        discussion: """
            Runs the stages load → prune → finetune → fold → quantize → encode → pack. \
            --sparsity S prunes a fraction S of the weights of the layers that are pruned; \
            --target-size finds the least sparsity (and int8 when float32 would need more than \
            90 %) whose packed artifact fits the budget, measured exactly, and never exceeds it. \
            Sizes take B, KB, MB, KiB, MiB (KB = 1000 bytes). A model exported with its batch \
            fixed at 1 (torch.onnx.export's default) is fine-tuned with a dynamic batch when its \
            graph allows it.

            Pruning is by weight magnitude. The first conv, depthwise convs and the classifier \
            are left dense (--exclude; --prune-all prunes them too). With --data the sparsity \
            rises during fine-tuning on a tfmot schedule (polynomial: cubic from 0, reaching the \
            target three quarters of the way through, --schedule-end; or constant) and pruned \
            weights stay exactly zero; of the epochs that end at the target sparsity, the one \
            with the best validation AUC is kept. Without --data the pruning is one-shot and \
            nothing is fine-tuned or validated. After packing, compress prints the artifact's \
            validation AUC next to the loaded model's and warns when it fell by more than 0.02.

            The defaults are the settings that kept accuracy best in our measurements \
            (docs/RESULTS.md): --allocation global (one magnitude threshold over the pruned \
            layers, each keeping at least 5 % of its weights; tfmot's uniform share lost far \
            more AUC on both MobileNet v2 models tried), 8 fine-tuning epochs at Adam 3e-4 \
            decaying to 0 on a cosine (--lr-decay; a constant 1e-4 kept 0.019-0.028 less test AUC \
            on three models, and a constant 3e-4 swung from epoch to epoch and lost 0.038 on a \
            fully trained ResNet50 v2). With --int8 at 20x smaller than the ONNX file: a ResNet50 \
            v2 trained 10 epochs (test AUC 0.884) reached 0.899; a MobileNet v2 (0.861) at 450KB, \
            0.856, where uniform allocation with 5 epochs (the earlier defaults) lost 0.066; a \
            MobileNet v2 trained by PyTorch (0.885), 0.881.

            The artifact is written only when every stage has finished; Ctrl-C leaves no output. \
            Fine-tuning writes a checkpoint after every epoch to <output>.checkpoint/ \
            (--checkpoint-dir); after Ctrl-C or a crash the same command with --resume continues \
            from the last finished epoch and, with the same seed and threads, writes the same \
            artifact bytes as an uninterrupted run. The folder is removed once the artifact is written.

            Examples:
              spruce compress model.onnx --data images/ --sparsity 0.9 --int8 -o model.spruce
              spruce compress model.onnx --data images/ --target-size 300KB -o model.spruce
              spruce compress model.onnx --data images/ --target-size 260KB --bits mixed -o m.spruce
              spruce compress model.onnx --data images/ --sparsity 0.75 --bits 4 --calibrate calib/ -o m4.spruce
              spruce compress model.onnx --sparsity 0.5 -o quick.spruce --save-recipe quick.json
              spruce compress --recipe quick.json -o again.spruce
            """)

    @Argument(help: ArgumentHelp("ONNX model to compress (optional with --recipe).", valueName: "model"))
    var model: String?

    @Option(name: [.short, .long], help: ArgumentHelp("The artifact to write.", valueName: "model.spruce"))
    var output: String

    @Option(help: ArgumentHelp("Labelled images (labels.csv or class folders) for fine-tuning and validation.", valueName: "dir"))
    var data: String?

    @Option(help: ArgumentHelp("Fraction of the pruned layers' weights to prune, in [0, 1).", valueName: "S"))
    var sparsity: Double?

    @Option(help: ArgumentHelp("Byte budget of the artifact, e.g. 300KB, 1.5MB, 256KiB.", valueName: "size"))
    var targetSize: String?

    @Option(help: ArgumentHelp("Pruning schedule during fine-tuning: polynomial or constant.", valueName: "kind"))
    var schedule: String = "polynomial"

    @Option(help: ArgumentHelp("Fraction of fine-tuning at which the polynomial schedule reaches the target sparsity.", valueName: "F"))
    var scheduleEnd: Double?

    @Option(help: ArgumentHelp("Fine-tuning epochs.", valueName: "N"))
    var finetuneEpochs: Int = 8

    @Option(name: [.customLong("lr"), .customLong("learning-rate")],
            help: ArgumentHelp("Learning rate for fine-tuning.", valueName: "LR"))
    var learningRate: Double = 3e-4

    @Option(name: .customLong("lr-decay"), help: ArgumentHelp("How the fine-tuning rate moves: cosine (to 0 at the last step) or constant.", valueName: "kind"))
    var learningRateDecay: RateDecay = .cosine

    @Option(help: ArgumentHelp("Fine-tuning optimizer: adam, adamw or sgd (momentum 0.9).", valueName: "name"))
    var optimizer: OptimizerName = .adam

    @Flag(help: "Store conv and Gemm weights as int8 (symmetric, one scale per output channel; the first conv stays float32).")
    var int8 = false

    @Option(help: ArgumentHelp("Bits per quantized weight value: 8 (int8, what --int8 stores) or 2 to 7, packed (format 2.0); or 'mixed': with --target-size and --data, each layer gets its own width from 2, 3, 4, 5, 6 and 8, chosen with the sparsity from measurements on the validation images. Implies --int8.",
                               valueName: "N|mixed"))
    var bits: String?

    /// --bits as a width (8 for mixed: the writer's default, every layer then named).
    var valueBits: Int? { bits.map { Int($0) ?? 8 } }
    var mixedWidths: Bool { bits == "mixed" }

    @Option(parsing: .upToNextOption,
            help: ArgumentHelp("Images (.jpg/.png files or folders of them, a few dozen representative ones) on which each layer's int8 or --bits values are rounded up or down so its outputs move least (GPTQ), instead of to nearest; implies --int8.",
                               valueName: "image-or-folder"))
    var calibrate: [String] = []

    @Flag(inversion: .prefixedNo,
          help: "Quantization-aware fine-tuning: once the pruning schedule reaches its target, the fine-tuning's forward passes use the weights rounded as the artifact stores them (--bits, or int8), and the gradient trains the float weights through that rounding. On by default for --bits 2 to 7 with --data (at 3 bits and 259 KB it kept a MobileNet v2's test AUC within 0.01 of dense, where rounding after fine-tuning lost 0.18); off for int8. --qat implies --int8 and needs --data.")
    var qat: Bool?

    /// Whether the fine-tuning trains through the rounding: --qat/--no-qat, else on for 2–7-bit
    /// values fine-tuned on data without calibration images.
    var quantizationAware: Bool {
        qat ?? (data != nil && recipe == nil && calibrate.isEmpty && ((valueBits ?? 8) < 8 || mixedWidths))
    }

    @Option(help: ArgumentHelp("How the sparsity is shared: uniform, global or sensitivity.", valueName: "strategy"))
    var allocation: String = "global"

    @Option(help: ArgumentHelp("Layers left dense, comma-separated: first_conv, depthwise, classifier, or none.", valueName: "list"))
    var exclude: String = "first_conv,depthwise,classifier"

    @Flag(help: "Prune every conv and Gemm weight (same as --exclude none).")
    var pruneAll = false

    @Option(help: ArgumentHelp("Pruning unit: 1x1, 1x4 or 4x1.", valueName: "shape"))
    var block: String = "1x1"

    @Option(name: [.customLong("batch"), .customLong("batch-size")],
            help: ArgumentHelp("Images per batch.", valueName: "N"))
    var batchSize: Int = 16

    @Option(help: ArgumentHelp("Split CSV to use instead of a seeded 60/20/20 split.", valueName: "file"))
    var splitFile: String?

    @Option(help: ArgumentHelp("Column of labels.csv with the class (default malignant), as 'spruce train' read it.",
                               valueName: "name"))
    var labelColumn: String?

    @Option(name: [.customLong("size"), .customLong("image-size")],
            help: ArgumentHelp("Image side when the model input size is dynamic.", valueName: "N"))
    var imageSize: Int?

    @Option(help: ArgumentHelp("Pixel scaling: unit ([0, 1]), symmetric ([-1, 1]) or imagenet.", valueName: "kind"))
    var scaling: String = "unit"

    @Option(help: ArgumentHelp("Seed of the split, shuffling and augmentation.", valueName: "N"))
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("zstd compression level, 1 to 19.", valueName: "N"))
    var zstdLevel = 6

    @Option(help: ArgumentHelp("Run this recipe (JSON) instead of building one from the flags.", valueName: "file"))
    var recipe: String?

    @Option(help: ArgumentHelp("Write the recipe used to this file.", valueName: "file"))
    var saveRecipe: String?

    @Option(help: ArgumentHelp("Write the stage reports and artifact statistics as JSON.", valueName: "file"))
    var report: String?

    func validate() throws {
        guard output.lowercased().hasSuffix(".spruce") else {
            throw ValidationError("--output must name a .spruce file, got '\(output)'")
        }
        if let bits, !mixedWidths, !(2...8).contains(Int(bits) ?? 0) {
            throw ValidationError("--bits must be between 2 and 8, or mixed, got '\(bits)'")
        }
        if mixedWidths && (targetSize == nil || data == nil) {
            throw ValidationError("--bits mixed chooses each layer's width for --target-size by measurements on the validation images; it needs --target-size and --data")
        }
        if mixedWidths && !calibrate.isEmpty {
            throw ValidationError("--bits mixed fine-tunes through nearest rounding; do not combine it with --calibrate")
        }
        if qat == true && !calibrate.isEmpty {
            throw ValidationError("--qat trains through nearest rounding; do not combine it with --calibrate")
        }
        if (qat != nil || !calibrate.isEmpty) && recipe != nil {
            throw ValidationError("\(qat != nil ? "--qat" : "--calibrate"): a recipe sets it in its quantize stage (\"quantizationAware\", \"calibrationImages\")")
        }
        if qat == true && data == nil {
            throw ValidationError("--qat fine-tunes through the rounding; it needs --data")
        }
        if let model, ModelFile.loader(forPath: model) == nil {
            throw ValidationError(PipelineError.unsupportedModelFormat(path: model, supported: ModelFile.supportedExtensions).description)
        }
        if recipe != nil {
            if sparsity != nil || targetSize != nil {
                throw ValidationError("--recipe describes the pruning; do not combine it with --sparsity or --target-size")
            }
            return
        }
        guard model != nil else { throw ValidationError("give a model to compress (or --recipe FILE)") }
        guard (sparsity == nil) != (targetSize == nil) else {
            throw ValidationError("give exactly one of --sparsity and --target-size")
        }
        if let sparsity, !(sparsity >= 0 && sparsity < 1) { throw ValidationError("--sparsity must be in [0, 1), got \(sparsity)") }
        if let targetSize {
            do { _ = try ByteSize.parse(targetSize) } catch { throw ValidationError("--target-size: \(error)") }
        }
        guard ScheduleSpec.Kind(rawValue: schedule) != nil else {
            throw ValidationError("--schedule must be polynomial or constant, got '\(schedule)'")
        }
        guard AllocationStrategy(name: allocation) != nil else {
            throw ValidationError("--allocation must be uniform, global or sensitivity, got '\(allocation)'")
        }
        guard PruningBlock(rawValue: block) != nil else { throw ValidationError("--block must be 1x1, 1x4 or 4x1, got '\(block)'") }
        _ = try exclusions()
        if let scheduleEnd, !(scheduleEnd > 0 && scheduleEnd <= 1) {
            throw ValidationError("--schedule-end must be in (0, 1], got \(scheduleEnd)")
        }
        guard finetuneEpochs >= 0 else { throw ValidationError("--finetune-epochs must be >= 0") }
        guard learningRate > 0 else { throw ValidationError("--lr must be positive") }
        guard batchSize > 0 else { throw ValidationError("--batch must be positive") }
        guard PixelScaling(name: scaling) != nil else {
            throw ValidationError("--scaling must be unit, symmetric or imagenet, got '\(scaling)'")
        }
        guard (1...19).contains(zstdLevel) else { throw ValidationError("--zstd-level must be between 1 and 19, got \(zstdLevel)") }
    }

    /// The excluded roles from --exclude / --prune-all.
    func exclusions() throws -> Set<LayerRole> {
        if pruneAll { return [] }
        let items = exclude.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if items == ["none"] { return [] }
        return Set(try items.map { item in
            guard let role = LayerRole(rawValue: item.replacingOccurrences(of: "-", with: "_")) else {
                throw ValidationError("--exclude: unknown layer kind '\(item)' (first_conv, depthwise, classifier, none)")
            }
            return role
        })
    }

    /// The recipe to run: the file's (with MODEL and --data applied) or the one the flags describe.
    func makeRecipe() throws -> Recipe {
        if let recipe {
            var r = try Recipe.read(path: recipe)
            if let model, let i = r.stages.firstIndex(where: { $0.name == "load" }) { r.stages[i] = .load(.file(model)) }
            if let data { r.data = (r.data ?? DataOptions()); r.data?.directory = data }
            return r
        }
        var options = CompressOptions(
            model: .file(model ?? ""),
            data: data.map { DataOptions(directory: $0, split: splitFile, imageSize: imageSize, scaling: scaling, batchSize: batchSize,
                                                labelColumn: labelColumn) },
            sparsity: sparsity, targetBytes: try targetSize.map { try ByteSize.parse($0) },
            schedule: ScheduleSpec.Kind(rawValue: schedule) ?? .polynomial, scheduleEnd: scheduleEnd, finetuneEpochs: finetuneEpochs,
            learningRate: learningRate, learningRateDecay: learningRateDecay, optimizer: optimizer, int8: int8 || bits != nil || qat == true || !calibrate.isEmpty,
            pruning: PruningOptions(allocation: AllocationStrategy(name: allocation) ?? CompressOptions.defaultAllocation, exclude: try exclusions(),
                                    block: PruningBlock(rawValue: block) ?? .single),
            zstdLevel: zstdLevel, seed: seed)
        options.valueBits = valueBits ?? 8
        options.mixedWidths = mixedWidths
        options.quantizationAware = quantizationAware
        options.calibrationImages = try CalibrationImages.expand(calibrate)
        return Recipe.compress(options)
    }

    @Flag(help: "Under mpirun: BatchNorm uses the statistics of the whole global batch, not each rank's rows.")
    var syncBn = false

    @Flag(help: "Continue the fine-tuning of an interrupted run with the same options from its checkpoint.")
    var resume = false

    @Option(help: ArgumentHelp("Checkpoint folder (default: <output>.checkpoint next to the output).", valueName: "dir"))
    var checkpointDir: String?

    func run() throws {
        let recipe = try makeRecipe()
        let pipeline = try Pipeline(recipe: recipe)
        // Under mpirun: fine-tuning runs data parallel over the ranks; only rank 0 prints and writes.
        let communicator = try Distributed.communicator()
        let progress = ProgressBox(.forRank(isRoot: communicator.isRoot))
        if let saveRecipe, communicator.isRoot { try recipe.write(to: saveRecipe) }
        if !recipe.fineTunes {
            progress.line(recipe.data?.directory == nil
                          ? "no --data: pruning one-shot, without fine-tuning or validation; check accuracy on your data"
                          : "no finetune stage: pruning one-shot, without fine-tuning")
        }
        let stop = StopRequest()
        stop.install()
        let cancellation = stop.flag
        let checkpoints = checkpointDir ?? output + ".checkpoint"
        if recipe.fineTunes && communicator.isRoot {
            let exists = FileManager.default.fileExists(atPath: checkpoints)
            if resume && !exists { progress.line("note: no checkpoint in \(checkpoints); starting from the first epoch") }
            if !resume && exists { progress.line("note: starting afresh; the checkpoint in \(checkpoints) will be replaced (--resume continues it)") }
        }
        let context = StageContext(seed: recipe.seed, events: { progress.show($0) }, cancellation: cancellation,
                                   communicator: communicator, syncBatchNorm: syncBn,
                                   checkpointDirectory: recipe.fineTunes ? checkpoints : nil, resume: resume)
        let state: PipelineState, reports: [StageReport]
        do { (state, reports) = try pipeline.run(context: context) } catch StageError.cancelled where recipe.fineTunes {
            throw CommandError.interrupted("interrupted; nothing written; checkpoint in \(checkpoints), run the same command with --resume to continue")
        }
        try cancellation.check()
        guard let bytes = state.artifact else {
            throw ValidationError("the recipe has no pack stage, so there is nothing to write to \(output)")
        }
        guard communicator.isRoot else {
            try communicator.barrier()
            try communicator.finalize()
            return
        }
        let artifact = try ArtifactReader.decode(bytes)
        let summary = ArtifactSummary(artifact: artifact)
        if let report {
            try FileIO.writeAtomically(try Self.reportJSON(recipe: recipe, reports: reports, summary: summary), to: report)
        }
        try FileIO.writeAtomically(bytes, to: output)
        if recipe.fineTunes { try? FileManager.default.removeItem(atPath: checkpoints) }
        print(Self.table(reports))
        print("")
        print(InspectCommand.text(summary, path: output))
        if let line = Self.accuracyLine(loaded: state.loadedValidationAUC,
                                        artifact: reports.last { $0.stage == "pack" }?.validationAUC) {
            print("")
            print(line.text)
            if let warning = line.warning { FileHandle.standardError.write(Data(("warning: " + warning + "\n").utf8)) }
        }
        try communicator.barrier()
        try communicator.finalize()
    }

    /// A fall in validation AUC beyond this gets a warning.
    static let aucWarningDrop = 0.02

    /// The artifact's validation AUC against the loaded model's, and a warning when it fell by
    /// more than `aucWarningDrop`; nil when either is unknown (no data, or one class).
    static func accuracyLine(loaded: Double?, artifact: Double?) -> (text: String, warning: String?)? {
        guard let loaded, let artifact else { return nil }
        let text = String(format: "validation AUC: %.4f as loaded, %.4f from the artifact (%+.4f)", loaded, artifact, artifact - loaded)
        guard loaded - artifact > aucWarningDrop else { return (text, nil) }
        let warning = String(format: "the artifact's validation AUC is %.4f below the loaded model's (more than %.2f): "
                             + "this budget or sparsity asks more than the model gives without losing accuracy; "
                             + "try a larger --target-size, a lower --sparsity or more --finetune-epochs",
                             loaded - artifact, aucWarningDrop)
        return (text, warning)
    }

    /// The stage table: name, time, non-zero weights, bytes, validation AUC, summary.
    static func table(_ reports: [StageReport]) -> String {
        var rows = [["stage", "time", "nonzeros", "bytes", "val AUC", "what it did"]]
        for r in reports {
            rows.append([r.stage, String(format: "%.2fs", r.seconds),
                         "\(Format.count(r.nonzeroWeights))/\(Format.count(r.weights))",
                         r.bytes.map { Format.count($0) } ?? "-",
                         r.validationAUC.map { String(format: "%.4f", $0) } ?? "-", r.summary])
        }
        let widths = (0..<5).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            (0..<5).map { c in
                let pad = String(repeating: " ", count: widths[c] - row[c].count)
                return c == 0 ? row[c] + pad : pad + row[c]
            }.joined(separator: "  ") + "  " + row[5]
        }.joined(separator: "\n")
    }

    /// `{"recipe": ..., "stages": [...], "artifact": ...}` as pretty JSON.
    static func reportJSON(recipe: Recipe, reports: [StageReport], summary: ArtifactSummary) throws -> [UInt8] {
        struct Document: Encodable {
            var recipe: Recipe
            var stages: [StageReport]
            var artifact: ArtifactSummary
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(Document(recipe: recipe, stages: reports, artifact: summary))) + [0x0A]
    }
}

/// The progress reporter behind a lock, so pipeline events may reach it from any thread.
final class ProgressBox: @unchecked Sendable {
    // @unchecked: every use of `reporter` holds `lock`.
    private let reporter: ProgressReporter
    private let lock = NSLock()

    init(_ reporter: ProgressReporter) { self.reporter = reporter }

    func line(_ text: String) { lock.lock(); reporter.line(text); lock.unlock() }

    func update(done: Int, total: Int, prefix: String, status: String) {
        lock.lock(); reporter.update(done: done, total: total, prefix: prefix, status: status); lock.unlock()
    }

    func clear() { lock.lock(); reporter.clear(); lock.unlock() }

    func show(_ event: PipelineEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .stageStarted(let index, let count, let name):
            reporter.line("[\(index + 1)/\(count)] \(name)")
        case .progress(let stage, let done, let total, let detail):
            if total > 0 { reporter.update(done: done, total: total, prefix: "  \(stage)", status: detail) }
        case .epoch(let stage, let epoch, let of, let loss, let auc, let sparsity):
            reporter.line("  \(stage) epoch \(epoch)/\(of): loss \(String(format: "%.4f", loss)), val AUC "
                          + (auc.map { String(format: "%.4f", $0) } ?? "n/a")
                          + ", sparsity \(String(format: "%.2f%%", sparsity * 100))")
        case .stageFinished(let r):
            reporter.line("  \(r.stage): \(r.summary) (\(ProgressReporter.duration(r.seconds)))")
        case .note(let text):
            reporter.line("  note: \(text)")
        }
    }
}
