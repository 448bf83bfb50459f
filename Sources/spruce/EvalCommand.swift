// `spruce eval`: the study's evaluation of a binary classifier on labelled images: AUC, accuracy,
// sensitivity and specificity at 0.5 and at Youden's threshold, % TP/TN/FP/FN, and the errors per
// diagnosis (dx). `.onnx` models run on the trainer's inference path (batched, threaded; the
// reference executor is far slower), `.spruce` artifacts on SpruceRuntime. Metrics come from
// SpruceTrain's EvaluationReport; this file loads, runs and prints.
import ArgumentParser
import Foundation
import SpruceCore
import SprucePipeline
import SpruceTrain

/// `spruce eval MODEL --data DIR [--split test] [--split-file FILE] [--size N] [--json]`
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a classifier on labelled images (AUC, sensitivity, specificity, errors by diagnosis; N-class metrics).",
        discussion: """
            DIR is read as by 'spruce train'. With --split-file only the images of --split (test by \
            default) are evaluated; without one, every image in DIR is. Scores are the model's \
            sigmoid output (a raw logit output gets a sigmoid); an image is called positive \
            (malignant) when its score is at least the threshold. Metrics are reported at 0.5 and \
            at the threshold maximizing Youden's J = sensitivity + specificity - 1. Pixels are \
            scaled as --scaling says: the scaling the model was trained with (torchvision models \
            usually take imagenet).

            A model with N > 2 class outputs, evaluated on data with N classes (--label-column, or \
            class subfolders), gets the N-class report instead: top-1 and top-5 accuracy, balanced \
            accuracy, per-class recall, precision and one-vs-rest AUC, their mean (macro AUC) and \
            the confusion matrix; in JSON top1, top_k, top_k_accuracy, balanced_accuracy, \
            macro_auc, per_class ([{name, images, recall, precision, auc}]) and confusion (rows: \
            label, columns: predicted).

            --json prints one object: images, positives, negatives, auc, threshold, accuracy, \
            sensitivity, specificity, tp, tn, fp, fn, percent_tp, percent_tn, percent_fp, \
            percent_fn (at 0.5), youden_threshold, youden_index, at_youden (the same metrics), \
            by_diagnosis ({dx: {images, errors, false_positives, false_negatives}}), and model, \
            engine, data, split, split_file.

            Examples:
              spruce eval mnv2.onnx --data ham --split test --split-file mnv2.split.csv
              spruce eval mnv2.spruce --data ham --split-file mnv2.split.csv --json
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: ArgumentHelp("Dataset folder (labels.csv + images, or class subfolders).", valueName: "dir"))
    var data: String

    @Option(help: ArgumentHelp("Subset of the split file to evaluate: train, validation or test (default test).",
                               valueName: "name"))
    var split: String?

    @Option(help: ArgumentHelp("Split CSV (image_id,split), e.g. written by 'spruce train'.", valueName: "file"))
    var splitFile: String?

    @Option(help: ArgumentHelp("Column of labels.csv with the class (default malignant): indices, or names such as dx.",
                               valueName: "name"))
    var labelColumn: String?

    @Option(help: ArgumentHelp("Input height and width (default: the model's fixed size).", valueName: "n"))
    var size: Int?

    @Option(help: ArgumentHelp("Pixel scaling the model was trained with: unit ([0, 1]), symmetric ([-1, 1]) or imagenet (default: the one a .spruce artifact records, else unit).",
                               valueName: "kind"))
    var scaling: String?

    @Option(help: ArgumentHelp("Images per inference batch.", valueName: "n"))
    var batch: Int = 16

    @Option(help: ArgumentHelp("Threads (default: every core for .onnx, 1 for .spruce).", valueName: "n"))
    var threads: Int?

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        if let split {
            guard Subset(name: split) != nil else {
                throw ValidationError("bad split name '\(split)': expected train, validation or test")
            }
            guard splitFile != nil else { throw ValidationError("--split \(split) needs --split-file") }
        }
        if let size, size < 1 { throw ValidationError("--size must be positive, got \(size)") }
        if let scaling, PixelScaling(name: scaling) == nil {
            throw ValidationError("--scaling must be unit, symmetric or imagenet, got '\(scaling)'")
        }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        let path = modelOptions.model
        let scorer = try Scorer(path: path, threads: threads)
        let layout = try ImageInputLayout(input: scorer.input)
        guard let side = size ?? layout.height ?? layout.width else {
            throw ValidationError("\(path): the input size is not fixed; give --size")
        }
        try layout.check(name: scorer.input.name, height: side, width: side)

        let datasetOptions = DatasetOptions(labelColumn: labelColumn)
        let dataset = try Dataset.load(directory: data, options: datasetOptions)
        let subset = Subset(name: split ?? "test") ?? .test
        var evaluated = dataset
        let scope: String
        if let splitFile {
            let theSplit = try Split.read(from: splitFile, dataset: dataset)
            let indices = theSplit.indices(of: subset, in: dataset)
            guard !indices.isEmpty else { throw ValidationError("\(splitFile): no \(subset.rawValue) images") }
            evaluated = dataset.subset(indices)
            scope = "\(indices.count) \(subset.rawValue) images of \(data) (split \(splitFile))"
        } else {
            scope = "all \(dataset.count) images in \(data) (no --split-file)"
        }
        let cache = try evaluated.decodeImages(height: side, width: side, threads: threads)
        let loader = try BatchLoader(cache: cache, options: .evaluation(batchSize: scorer.fixedBatch ?? batch,
                                                                              scaling: scorer.scaling(given: scaling)))
        var scores: [Float] = []
        scores.reserveCapacity(cache.count)
        for images in loader.epoch(0) {
            scores += try scorer.scores(layout.arrange(images.images))
        }
        let samples = cache.dataset.samples
        let width = scores.count / max(samples.count, 1)
        let report: EvalReport
        if dataset.isBinary && width <= 2 {
            report = .binary(try EvaluationReport(scores: Trainer.positiveScores(scores, images: samples.count),
                                                  labels: samples.map(\.label), diagnoses: samples.map(\.diagnosis)))
        } else {
            guard width == dataset.classNames.count else {
                throw DatasetError.classCountMismatch(path: data, modelClasses: width, dataClasses: dataset.classNames.count,
                                                      labelColumn: datasetOptions.labelColumn)
            }
            report = .multiclass(try MulticlassReport(probabilities: scores, classes: width, labels: samples.map(\.label),
                                                      classNames: dataset.classNames))
        }

        if json {
            let summary = EvalSummary(model: path, engine: scorer.engine, data: data,
                                      split: splitFile == nil ? nil : subset.rawValue, splitFile: splitFile, report: report)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            return
        }
        print("model: \(path) (\(scorer.engine))")
        print("data: \(scope), \(side)x\(side)")
        print(report.textSummary)
    }
}

/// Probabilities of one model file for NCHW/NHWC batches, on the engine its format calls for.
private struct Scorer {
    let input: ValueInfo
    let engine: String
    /// The batch size a static-batch input demands.
    let fixedBatch: Int?
    private let training: TrainingSession?
    private let session: (any InferenceSession)?
    private let applySigmoid: Bool

    /// The scaling `given` on the command line, else the one the artifact records, else unit.
    func scaling(given: String?) -> PixelScaling {
        if let given, let s = PixelScaling(name: given) { return s }
        return PixelScaling((session as? ArtifactSession)?.inputNormalization ?? .unit)
    }

    init(path: String, threads: Int?) throws {
        if ModelFile.loader(forPath: path)?.extensions.contains("spruce") == true {
            let opened = try ModelFile.openSession(path: path, options: SessionOptions(threads: threads ?? 1))
            guard opened.inputs.count == 1, let input = opened.inputs.first, opened.outputs.count == 1, let output = opened.outputs.first else {
                throw ValidationError("\(path): expected one image input and one score output")
            }
            self.input = input
            session = opened
            training = nil
            let artifact = opened as? ArtifactSession
            engine = artifact.map { $0.engine.description } ?? "inference session"
            let producer = artifact?.artifact.graph.nodes.last { $0.outputs.contains(output.name) }
            if case .sigmoid? = producer?.op { applySigmoid = false } else { applySigmoid = true }
        } else {
            let model = try ModelFile.load(path: path)
            guard model.graph.inputs.count == 1, let input = model.graph.inputs.first else {
                throw ValidationError("\(path): expected one image input")
            }
            self.input = input
            training = try TrainingSession(model: model, options: TrainingOptions(threads: threads))
            session = nil
            applySigmoid = false
            engine = "trainer inference path (\(threads.map { "\($0) thread\($0 == 1 ? "" : "s")" } ?? "all cores"))"
        }
        fixedBatch = input.shape.first.flatMap { $0 }
    }

    /// The model's probabilities for `images`: one score per image for a one-output head, a row
    /// per image for a wider one (a softmax of the rows when the model outputs logits).
    func scores(_ images: Tensor) throws -> [Float] {
        let n = images.shape[0]
        if let training {
            let out = try training.predict(images)
            guard out.count % max(n, 1) == 0 else { throw ValidationError("the model gives \(out.count) values for \(n) images") }
            return out
        }
        guard let session else { return [] }
        var feed = images
        if let fixedBatch, n < fixedBatch {
            // A static-batch artifact takes exactly its batch: pad with zeros, drop their scores.
            feed = Tensor(shape: [fixedBatch] + images.shape.dropFirst(), data: images.data + [Float](
                repeating: 0, count: (fixedBatch - n) * images.count / max(n, 1)))
        }
        let outputs = try session.run([input.name: feed])
        guard let out = outputs[session.outputs[0].name], out.count > 0, out.count % feed.shape[0] == 0 else {
            throw ValidationError("the model does not give one score or one row of class scores per image")
        }
        let width = out.count / feed.shape[0]
        let raw = Array(out.data.prefix(n * width))
        if width > 1 { return MulticlassReport.probabilityRows(raw, classes: width) }
        return applySigmoid ? raw.map { 1 / (1 + expf(-$0)) } : raw
    }
}

/// `spruce eval --json`: where the numbers come from, then the EvaluationReport keys flattened in.
private struct EvalSummary: Encodable {
    var model: String
    var engine: String
    var data: String
    var split: String?
    var splitFile: String?
    var report: EvalReport

    enum CodingKeys: String, CodingKey {
        case model, engine, data, split
        case splitFile = "split_file"
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(model, forKey: .model)
        try c.encode(engine, forKey: .engine)
        try c.encode(data, forKey: .data)
        try c.encode(split, forKey: .split)
        try c.encode(splitFile, forKey: .splitFile)
        switch report {
        case .binary(let r): try r.encode(to: encoder)
        case .multiclass(let r): try r.encode(to: encoder)
        }
    }
}

/// The study's binary report, or the N-class one.
private enum EvalReport {
    case binary(EvaluationReport)
    case multiclass(MulticlassReport)

    var textSummary: String {
        switch self {
        case .binary(let r): r.textSummary
        case .multiclass(let r): r.textSummary
        }
    }
}
