// `spruce train`: trains a zoo architecture or an ONNX model on a labelled image folder with the
// study's recipe (Adam, binary cross-entropy, batch 16), shows progress, keeps the best-validation
// weights and writes them as ONNX with the split and a JSON report beside them. The epoch loop is
// SpruceTrain's `Trainer`; this file parses options, prints, handles Ctrl-C and writes the outputs.
import ArgumentParser
import Dispatch
import Foundation
import SpruceCore
import SpruceONNX
import SprucePipeline
import SpruceTrain

/// `spruce train --model NAME|MODEL.onnx --data DIR -o trained.onnx [...]`
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a zoo model or an ONNX model on labelled images; keep the best-validation weights.",
        discussion: """
            DIR holds labels.csv (columns image_id, malignant, lesion_id, dx: the HAM10000 layout) \
            and the images (in images/ or DIR itself), or one subfolder of images per class. Without \
            --split-file the images are split 60/20/20 by lesion, seeded by --seed. Training uses Adam, \
            binary cross-entropy, seeded flips, 90° rotations and crops (--no-augment turns them off), \
            and evaluates the validation AUC after every epoch; the weights of the best epoch are written.

            Classes: by default the binary task of the 'malignant' column (one sigmoid output). \
            --label-column names another column: class indices 0..N-1, or names (the classes are \
            the column's distinct values, sorted), e.g. --label-column dx for HAM10000's seven \
            diagnoses; class subfolders give one class per folder. With more than two classes the \
            loss is softmax cross-entropy and the validation AUC is the mean one-vs-rest AUC. A zoo \
            model gets a head with one output per class; an ONNX model keeps its head unless \
            --num-classes replaces it (a new dense layer with fresh weights, the backbone kept).

            Next to the output it writes <name>.split.csv (the split used) and <name>.train.json (the \
            per-epoch report). A checkpoint is written after every epoch to <name>.checkpoint/ \
            (--checkpoint-dir); after Ctrl-C or a crash, the same command with --resume continues to \
            the same weights an uninterrupted run reaches. Interrupted runs leave no output files.

            Examples:
              spruce train --model mobilenetv2 --data ham10000 --epochs 10 -o mnv2.onnx
              spruce train --model mobilenetv2 --data ham --epochs 10 -o mnv2.onnx --resume
              spruce train --model base.onnx --data ham --freeze 20 --lr 1e-4 -o tuned.onnx
              spruce train --model mobilenetv2 --data ham --label-column dx -o mnv2-dx.onnx
              spruce train --model resnet18.onnx --data flowers --num-classes 5 -o flowers.onnx
              mpirun -np 4 spruce train --model mobilenetv2 --data ham --sync-bn -o mnv2.onnx
            """)

    @Option(help: ArgumentHelp("Zoo architecture (\(ZooModel.allCases.map(\.rawValue).joined(separator: ", "))) or an .onnx file.",
                               valueName: "name|model.onnx"))
    var model: String

    @Option(help: ArgumentHelp("Dataset folder (labels.csv + images, or class subfolders).", valueName: "dir"))
    var data: String

    @Option(name: [.short, .long], help: ArgumentHelp("Where to write the trained model.", valueName: "trained.onnx"))
    var output: String

    @Option(help: ArgumentHelp("Input height and width (default 96; an ONNX model's fixed size).", valueName: "n"))
    var size: Int?

    @Option(help: ArgumentHelp("Width multiplier α of a zoo mobilenetv2.", valueName: "w"))
    var width: Float = 1.0

    @Option(help: ArgumentHelp("Epochs in total.", valueName: "n"))
    var epochs: Int = 10

    @Option(help: ArgumentHelp("Images per step.", valueName: "n"))
    var batch: Int = 16

    @Option(help: ArgumentHelp("Learning rate.", valueName: "rate"))
    var lr: Float = 1e-3

    @Option(help: ArgumentHelp("Optimizer: adam (the study's), adamw or sgd (momentum 0.9).", valueName: "name"))
    var optimizer: OptimizerName = .adam

    @Option(help: ArgumentHelp("Freeze the first N layers, or the parameters matching a name pattern (conv1*).",
                               valueName: "n|pattern"))
    var freeze: String?

    @Option(help: ArgumentHelp("Seed of the split, the initial weights, data order and augmentation.", valueName: "s"))
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Column of labels.csv with the class (default malignant): indices, or names such as dx.",
                               valueName: "name"))
    var labelColumn: String?

    @Option(help: ArgumentHelp("Replace the model's classifier head with a new one of N outputs (1 = one sigmoid score).",
                               valueName: "n"))
    var numClasses: Int?

    @Option(name: .customLong("split-file"),
            help: ArgumentHelp("Use this split CSV (image_id,split) instead of making one.", valueName: "file"))
    var split: String?

    @Option(help: ArgumentHelp("Kernel threads (default: every core).", valueName: "n"))
    var threads: Int?

    @Flag(help: "Continue from the checkpoint of an interrupted run with the same options.")
    var resume = false

    @Flag(help: "Train without augmentation.")
    var noAugment = false

    @Option(help: ArgumentHelp("Checkpoint folder (default: <output>.checkpoint next to the output).", valueName: "dir"))
    var checkpointDir: String?

    @Flag(help: "Use MPI even without mpirun's environment (under mpirun it is used automatically).")
    var distributed = false

    @Flag(help: "Under mpirun: BatchNorm uses the statistics of the whole global batch, not each rank's rows.")
    var syncBn = false

    func validate() throws {
        guard output.lowercased().hasSuffix(".onnx") else { throw ValidationError("--output must name a .onnx file, got '\(output)'") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        guard lr.isFinite, lr > 0 else { throw ValidationError("--lr must be positive, got \(lr)") }
        if let size, size < 1 { throw ValidationError("--size must be positive, got \(size)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if let numClasses, numClasses < 1 { throw ValidationError("--num-classes must be at least 1, got \(numClasses)") }
    }

    /// `trained.onnx` → `trained` (the stem the side files are named after).
    var outputStem: String { String(output.dropLast(5)) }

    func run() throws {
        // Under mpirun: data parallel over the ranks; only rank 0 prints and writes.
        let communicator = try Distributed.communicator(force: distributed)
        let threads = self.threads ?? Distributed.defaultThreads()
        let progress = ProgressReporter.forRank(isRoot: communicator.isRoot)
        let stop = StopRequest()
        stop.install()

        // Model first: an unknown name or unreadable file fails before any image is decoded.
        var (network, inputSize, description) = try loadModel()
        let datasetOptions = DatasetOptions(labelColumn: labelColumn)
        let dataset = try Dataset.load(directory: data, options: datasetOptions)
        // A zoo model's head follows the data; an imported one changes only when asked.
        let isZoo = !model.lowercased().hasSuffix(".onnx")
        let headClasses = numClasses ?? (isZoo && !dataset.isBinary ? dataset.classNames.count : nil)
        if let headClasses, headClasses != ClassifierHead.classes(of: network.graph) {
            network = try ClassifierHead.replace(in: network, classes: headClasses, seed: seed)
            description += ", new head of \(headClasses) output\(headClasses == 1 ? "" : "s")"
        }
        try dataset.checkFits(network.graph, labelColumn: datasetOptions.labelColumn)
        network.metadata["classes"] = dataset.classNames.joined(separator: ",")
        let checkpointDirectory = checkpointDir ?? outputStem + ".checkpoint"
        let savedSplit = (checkpointDirectory as NSString).appendingPathComponent("split.csv")
        let theSplit: Split
        let splitSource: String
        if let split {
            theSplit = try Split.read(from: split, dataset: dataset)
            splitSource = split
        } else if resume, FileManager.default.fileExists(atPath: savedSplit) {
            theSplit = try Split.read(from: savedSplit, dataset: dataset)
            splitSource = savedSplit
        } else {
            theSplit = try Split.make(for: dataset, options: SplitOptions(seed: seed))
            splitSource = "seed \(seed), 60/20/20 by \(DatasetOptions().groupColumn ?? "image")"
        }
        let counts = Subset.allCases.map { theSplit.count(of: $0) }
        progress.line("model: \(description), \(grouped(network.parameterCounts.total)) parameters")
        progress.line("data: \(dataset.count) images in \(data); split \(counts[0]) train / \(counts[1]) validation / "
                      + "\(counts[2]) test (\(splitSource))")
        progress.line("decoding \(counts[0] + counts[1]) images at \(inputSize)x\(inputSize) ...")
        let trainingData = try TrainingData.prepare(dataset: dataset, split: theSplit, height: inputSize, width: inputSize,
                                                    threads: threads)
        if stop.requested { throw interrupted(checkpointDirectory, completed: nil) }

        let checkpointFile = Trainer.checkpointPath(in: checkpointDirectory)
        let hasCheckpoint = FileManager.default.fileExists(atPath: checkpointFile)
        if resume && !hasCheckpoint {
            progress.line("note: no checkpoint in \(checkpointDirectory); starting from epoch 1")
        } else if !resume && hasCheckpoint {
            progress.line("note: starting afresh; the checkpoint in \(checkpointDirectory) will be replaced (--resume continues it)")
        }
        // The split goes into the checkpoint folder now, so --resume finds the same one (written
        // by rank 0 once every rank has read the old one).
        try communicator.barrier()
        if communicator.isRoot {
            try FileManager.default.createDirectory(atPath: checkpointDirectory, withIntermediateDirectories: true)
            try theSplit.write(to: savedSplit)
        }

        var config = TrainerConfiguration(
            batchSize: batch, epochs: epochs, optimizer: optimizer.configuration(learningRate: lr), seed: seed,
            augmentation: noAugment ? .none : .standard, threads: threads, checkpointDirectory: checkpointDirectory,
            resume: resume)
        if let freeze { config.freeze = Int(freeze).map { FreezeRule.firstLayers($0) } ?? .namePattern(freeze) }
        var epochStart = ContinuousClock.now
        let result: TrainingResult
        do {
            result = try Trainer(config, communicator: communicator, syncBatchNorm: syncBn).train(model: network, data: trainingData, progress: { event in
                report(event, progress: progress, epochStart: &epochStart)
            }, shouldStop: { stop.requested })
        } catch let error as TrainerError {
            if case .interrupted(_, let completed) = error { throw interrupted(checkpointDirectory, completed: completed) }
            throw error
        }

        guard communicator.isRoot else {
            try communicator.barrier()
            try communicator.finalize()
            return
        }
        // Outputs last, each atomically: an interrupted run never leaves any of them.
        let splitPath = outputStem + ".split.csv"
        let reportPath = outputStem + ".train.json"
        try theSplit.write(to: splitPath)
        let summary = TrainSummary(model: model, description: description, inputSize: inputSize, data: data,
                                   split: splitPath, seed: seed, batch: batch, learningRate: lr, optimizer: optimizer.rawValue,
                                   augmentation: !noAugment, freeze: freeze, output: output, report: result.report)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try FileIO.writeAtomically([UInt8](try encoder.encode(summary)) + [10], to: reportPath)
        try FileIO.writeAtomically(try ONNXExporter.encode(result.bestModel), to: output)

        let best = result.report.best
        let bestText = best.map { record in
            "best epoch \(record.epoch)" + (record.validationAUC.map { String(format: ": validation AUC %.4f", $0) }
                ?? record.validationLoss.map { String(format: ": validation loss %.4f", $0) } ?? "")
        } ?? "no epoch ran"
        progress.line("\(bestText); \(ProgressReporter.duration(result.report.seconds)) in this run")
        progress.line("wrote \(output), \(splitPath), \(reportPath) (checkpoint: \(checkpointDirectory))")
        try communicator.barrier()
        try communicator.finalize()
    }

    /// The network to train, its input size and a one-line description.
    private func loadModel() throws -> (Model, Int, String) {
        if model.lowercased().hasSuffix(".onnx") {
            let loaded = try LoadStage.dynamicBatch(try ModelFile.load(path: model), name: model)
            guard let input = loaded.graph.inputs.first, loaded.graph.inputs.count == 1 else {
                throw ValidationError("\(model): a trainable model has exactly one image input")
            }
            let layout = try ImageInputLayout(input: input)
            let fixed = layout.height ?? layout.width
            if let fixed, let size, size != fixed {
                throw ValidationError("\(model) takes \(fixed)x\(fixed) images; --size \(size) does not fit")
            }
            let inputSize = size ?? fixed ?? 96
            return (loaded, inputSize, "\(model), input \(inputSize)x\(inputSize)")
        }
        let architecture = try ZooModel(name: model)
        let inputSize = size ?? 96
        let built = try ModelZoo.build(architecture, inputSize: inputSize, width: width, seed: seed)
        let widthText = architecture == .mobileNetV2 ? " width \(width)" : ""
        return (built, inputSize, "\(architecture.displayName)\(widthText), input \(inputSize)x\(inputSize), seed \(seed)")
    }

    private func interrupted(_ directory: String, completed: Int?) -> CommandError {
        let done = completed.map { " after \($0) finished epoch\($0 == 1 ? "" : "s")" } ?? ""
        return CommandError.interrupted(
            "interrupted\(done); nothing written; checkpoint in \(directory), run the same command with --resume to continue")
    }

    private func grouped(_ n: Int) -> String { ZooReport.grouped(n) }
}

/// Turns trainer events into the bar (terminal) or lines (elsewhere).
private func report(_ event: TrainerEvent, progress: ProgressReporter, epochStart: inout ContinuousClock.Instant) {
    switch event {
    case .started(let start, let epochs, let batches, let train, let validation):
        let resumed = start > 0 ? "resuming at epoch \(start + 1) of \(epochs)" : "training \(epochs) epoch\(epochs == 1 ? "" : "s")"
        progress.line("\(resumed): \(batches) steps per epoch, \(train) train / \(validation) validation images")
        epochStart = .now
    case .batch(let epoch, let batch, let batches, let loss, let speed):
        let perStep = elapsed(since: epochStart) / Double(max(batch, 1))
        let eta = ProgressReporter.duration(Double(batches - batch) * perStep)
        progress.update(done: batch, total: batches, prefix: "epoch \(epoch + 1)",
                        status: String(format: "loss %.4f  %.1f img/s  ETA ", loss, speed) + eta)
    case .validating(let epoch):
        progress.update(done: 1, total: 1, prefix: "epoch \(epoch + 1)", status: "validating ...")
    case .epochFinished(let record, let isBest):
        let valLoss = record.validationLoss.map { String(format: "  val loss %.4f", $0) } ?? ""
        let val = record.validationAUC.map { String(format: "  val AUC %.4f", $0) } ?? ""
        progress.line(String(format: "epoch %d  loss %.4f", record.epoch, record.trainLoss) + valLoss + val
                      + String(format: "  %.1f img/s  ", record.imagesPerSecond) + ProgressReporter.duration(record.seconds)
                      + (isBest ? "  *best" : ""))
        epochStart = .now
    }
}

private func elapsed(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

/// Failures of the training and evaluation commands that are not errors of a library below.
enum CommandError: Error, CustomStringConvertible {
    /// Ctrl-C (or SIGTERM) ended the run.
    case interrupted(String)

    var description: String {
        switch self {
        case .interrupted(let message): message
        }
    }
}

/// The JSON written beside the trained model: the settings, then the trainer's report flattened in.
struct TrainSummary: Encodable {
    var model: String
    var description: String
    var inputSize: Int
    var data: String
    var split: String
    var seed: UInt64
    var batch: Int
    var learningRate: Float
    var optimizer: String
    var augmentation: Bool
    var freeze: String?
    var output: String
    var report: TrainingReport

    enum CodingKeys: String, CodingKey {
        case model, description, data, split, seed, batch, optimizer, augmentation, freeze, output
        case inputSize = "input_size", learningRate = "learning_rate"
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(description, forKey: .description)
        try c.encode(inputSize, forKey: .inputSize)
        try c.encode(data, forKey: .data)
        try c.encode(split, forKey: .split)
        try c.encode(seed, forKey: .seed)
        try c.encode(batch, forKey: .batch)
        try c.encode(Double("\(learningRate)") ?? Double(learningRate), forKey: .learningRate)
        try c.encode(optimizer, forKey: .optimizer)
        try c.encode(augmentation, forKey: .augmentation)
        try c.encode(freeze, forKey: .freeze)
        try c.encode(output, forKey: .output)
        try report.encode(to: encoder)
    }
}

extension OptimizerName: ExpressibleByArgument {}
extension RateDecay: ExpressibleByArgument {}
