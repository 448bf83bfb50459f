// `spruce study`: the HAM10000 pruning study end to end — dense training per learning rate, then
// per sparsity prune + fine-tune + int8 + pack, evaluated on the runtime — into a study folder
// with results.json and a self-contained report.html. The work is SprucePipeline's StudyRunner;
// this file parses flags, prints the progress lines and handles Ctrl-C.
import ArgumentParser
import Foundation
import SprucePipeline
import SpruceTrain

/// `spruce study --data DIR --models mobilenetv2,resnet50v2 --sparsities 0,0.5,0.9 -o study/`
struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Train, prune, quantize and evaluate models across sparsities; write results and an HTML report.",
        usage: """
            spruce study --data <dir> --models <list> --output <dir> [<options>]
              spruce study --combine <list> --output <dir>
            """,
        discussion: """
            One lesion-grouped 60/20/20 split is made (OUT/split.csv). For each model, dense \
            training runs at every --lr and the best by validation AUC is kept (OUT/<model>/trained.onnx). \
            For each sparsity the compress recipe runs on it: magnitude pruning on a polynomial \
            schedule during fine-tuning, fold, int8, pack (OUT/<model>/<model>-<S>.spruce); the \
            artifact is evaluated on the runtime on the test split and timed at batch 1. The same \
            fine-tuned model is also packed with the --bits value widths \
            (OUT/<model>/<model>-<S>-int<b>.spruce) and evaluated, for the size-vs-AUC charts.

            Each finished step is written atomically (OUT/cells/<model>-<S>.json for a cell) and \
            skipped when the same command runs again, so an interrupted study resumes; a \
            training step stopped mid-way continues from its last finished epoch (a checkpoint \
            per epoch in OUT/<model>/*.checkpoint, removed when the step is done). \
            OUT/results.json holds every number and OUT/report.html shows them (no network needed); \
            --report-only rewrites both from what is finished so far.

            Examples:
              spruce study --data ham10000 --models mobilenetv2,resnet50v2 -o study
              spruce study --data ham --models resnet50v2 --sparsities 0,0.75,0.9 -o s
              spruce study --data fixtures/images --models mobilenetv2 --width 0.35 \\
                --size 32 --epochs 1 --finetune-epochs 1 --sparsities 0,0.5 -o tiny
              spruce study --combine study,study-inceptionv3,study-resnet152v2 -o all
            """)

    @Option(help: ArgumentHelp("Dataset folder (labels.csv + images).", valueName: "dir"))
    var data: String?

    @Option(help: ArgumentHelp("Zoo models, comma-separated: mobilenetv2, resnet50v2, inceptionv3, resnet152v2.", valueName: "list"))
    var models: String?

    @Option(help: ArgumentHelp("Study folders, comma-separated, whose results join one page in -o (networks run at different sizes or epochs, in their own folders); trains and computes nothing, takes no --data or --models.", valueName: "list"))
    var combine: String?

    @Option(help: ArgumentHelp("Target sparsities, comma-separated, each in [0, 1).", valueName: "list"))
    var sparsities: String = "0,0.25,0.5,0.75,0.9"

    @Option(name: [.short, .long], help: ArgumentHelp("The study folder.", valueName: "dir"))
    var output: String

    @Option(help: ArgumentHelp("Input height and width.", valueName: "n"))
    var size: Int = 96

    @Option(help: ArgumentHelp("Width multiplier of mobilenetv2.", valueName: "w"))
    var width: Double = 1.0

    @Option(help: ArgumentHelp("Dense training epochs.", valueName: "n"))
    var epochs: Int = 10

    @Option(help: ArgumentHelp("Fine-tuning epochs per sparsity.", valueName: "n"))
    var finetuneEpochs: Int = 5

    @Option(help: ArgumentHelp("Dense learning rates to try, comma-separated.", valueName: "list"))
    var lr: String = "1e-3,1e-4"

    @Option(help: ArgumentHelp("Fine-tuning learning rate.", valueName: "rate"))
    var finetuneLr: Double = 1e-4

    @Option(help: ArgumentHelp("Seed of the split, weights, data order and augmentation.", valueName: "s"))
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Images per batch.", valueName: "n"))
    var batch: Int = 16

    @Option(help: ArgumentHelp("Timed batch-1 runs per artifact.", valueName: "n"))
    var latencyRuns: Int = 50

    @Option(help: ArgumentHelp("How a sparsity is shared between layers: uniform (every pruned layer the same, as tfmot and the study did) or global (one magnitude threshold, each layer keeping ≥ 5 %).", valueName: "uniform|global"))
    var allocation: String = "uniform"

    @Option(help: ArgumentHelp("Value widths (2 to 7 bits, comma-separated; 'none' for none) at which each cell's fine-tuned model is also packed (format 2.0, nearest rounding) and evaluated, for the report's size-vs-AUC charts; the cell itself stays int8.", valueName: "list"))
    var bits: String = "6,4,3"

    /// The parsed --bits list.
    func extraBits() throws -> [Int] {
        if bits.trimmingCharacters(in: .whitespaces) == "none" { return [] }
        let widths = try bits.split(separator: ",").map { item in
            guard let b = Int(item.trimmingCharacters(in: .whitespaces)), (2...7).contains(b) else {
                throw ValidationError("--bits: '\(item)' is not a width from 2 to 7")
            }
            return b
        }
        guard Set(widths).count == widths.count else { throw ValidationError("--bits lists a width twice") }
        return widths
    }

    func validate() throws {
        if combine != nil {
            guard data == nil, models == nil else { throw ValidationError("--combine reads finished studies: give no --data or --models") }
            guard !reportOnly else { throw ValidationError("--combine writes only a report already: drop --report-only") }
            guard !combinedFolders.isEmpty else { throw ValidationError("--combine lists no folder") }
            return
        }
        guard data != nil else { throw ValidationError("Missing expected argument '--data <dir>'") }
        guard models != nil else { throw ValidationError("Missing expected argument '--models <list>'") }
        _ = try extraBits()
        _ = try numbers(models: false)
        guard size >= 1 else { throw ValidationError("--size must be positive, got \(size)") }
        guard width > 0 else { throw ValidationError("--width must be positive, got \(width)") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard finetuneEpochs >= 1 else { throw ValidationError("--finetune-epochs must be at least 1, got \(finetuneEpochs)") }
        guard finetuneLr > 0 else { throw ValidationError("--finetune-lr must be positive") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        guard latencyRuns >= 1 else { throw ValidationError("--latency-runs must be at least 1, got \(latencyRuns)") }
        guard ["uniform", "global"].contains(allocation) else {
            throw ValidationError("--allocation must be uniform or global, got '\(allocation)'")
        }
    }

    /// The parsed lists: models, sparsities, learning rates.
    func numbers(models check: Bool) throws -> ([String], [Double], [Double]) {
        let names = (models ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw ValidationError("--models lists no model") }
        guard Set(names).count == names.count else { throw ValidationError("--models lists a model twice") }
        func list(_ text: String, _ flag: String) throws -> [Double] {
            try text.split(separator: ",").map { item in
                guard let v = Double(item.trimmingCharacters(in: .whitespaces)), v.isFinite else {
                    throw ValidationError("\(flag): '\(item)' is not a number")
                }
                return v
            }
        }
        let s = try list(sparsities, "--sparsities")
        guard !s.isEmpty, s.allSatisfy({ $0 >= 0 && $0 < 1 }) else { throw ValidationError("--sparsities must each be in [0, 1)") }
        guard Set(s.map { String(format: "%.2f", $0) }).count == s.count else {
            throw ValidationError("--sparsities: two values round to the same 2-decimal label")
        }
        let rates = try list(lr, "--lr")
        guard !rates.isEmpty, rates.allSatisfy({ $0 > 0 }) else { throw ValidationError("--lr must list positive rates") }
        return (names, s, rates)
    }

    @Flag(help: "Under mpirun: BatchNorm uses the statistics of the whole global batch, not each rank's rows.")
    var syncBn = false

    @Flag(help: "Train and compute nothing: write results.json and report.html from the dense models and cells finished so far (also while another run of the study is working on the folder).")
    var reportOnly = false

    /// The --combine folders.
    var combinedFolders: [String] {
        (combine ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() throws {
        if combine != nil {
            let results = try StudyRunner.combine(folders: combinedFolders, output: output)
            print("\(results.setup.models.count) models and \(results.cells.count) cells from \(combinedFolders.count) studies; results in \(output)/results.json, report in \(output)/report.html")
            return
        }
        let (names, s, rates) = try numbers(models: true)
        let options = StudyOptions(
            data: data ?? "", models: names, sparsities: s, output: output, size: size, width: width, epochs: epochs,
            finetuneEpochs: finetuneEpochs, learningRates: rates, finetuneLearningRate: finetuneLr, seed: seed,
            batchSize: batch, latencyRuns: latencyRuns, allocation: AllocationStrategy(name: allocation) ?? .uniform,
            extraValueBits: try extraBits())
        let communicator = try Distributed.communicator()
        let progress = ProgressBox(.forRank(isRoot: communicator.isRoot))
        let stop = StopRequest()
        stop.install()
        let cancellation = stop.flag
        let started = Date()
        let results: StudyResults
        do {
            results = try StudyRunner(options: options, communicator: communicator, syncBatchNorm: syncBn,
                                   reportOnly: reportOnly).run(log: { line in
                progress.line(String(format: "[%6.0fs] ", Date().timeIntervalSince(started)) + line)
            }, cancellation: cancellation)
        } catch StageError.cancelled {
            throw CommandError.interrupted(
                "interrupted; the steps finished so far are kept in \(output), run the same command again to continue")
        }
        try communicator.barrier()
        if communicator.isRoot {
            print("\(results.cells.count) cells; results in \(output)/results.json, report in \(output)/report.html")
        }
        try communicator.finalize()
    }
}
