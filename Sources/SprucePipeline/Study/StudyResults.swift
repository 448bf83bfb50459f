// What `spruce study` measured, as written to study/results.json and the per-cell files: the setup,
// the dense training per learning rate, and per (model, sparsity) cell the test evaluation of the
// packed artifact on the runtime, its bytes, non-zero parameters, latency and wall time per stage.
// Plain Codable data; the runner fills it and the report renders it, nothing here computes.
import SpruceCore
import SpruceTrain

/// The settings and data of a study run.
public struct StudySetup: Sendable, Equatable, Codable {
    /// Dataset directory.
    public var data: String
    /// Images found in the dataset.
    public var images: Int
    /// Images per subset: train, validation, test.
    public var trainImages: Int, validationImages: Int, testImages: Int
    /// Positive (malignant) images in the test subset.
    public var testPositives: Int
    /// Where the split came from (a new seeded split or the saved one on a rerun).
    public var split: String
    /// Input side in pixels.
    public var size: Int
    /// MobileNet v2 width multiplier.
    public var width: Double
    public var epochs: Int
    public var finetuneEpochs: Int
    public var learningRates: [Double]
    public var finetuneLearningRate: Double
    public var sparsities: [Double]
    public var models: [String]
    public var seed: UInt64
    public var batchSize: Int
    /// Timed batch-1 runs per artifact.
    public var latencyRuns: Int
    /// Cores the machine reports.
    public var cores: Int
    /// `release` or `debug`: latencies of a debug build say little about the runtime.
    public var build: String
    /// Pruning allocation (`uniform` or `global`); absent in results written before it was an option.
    public var allocation: String?
}

/// Dense training at one learning rate.
public struct LearningRateTrial: Sendable, Equatable, Codable {
    public var learningRate: Double
    /// Best validation AUC over the epochs (the weights kept).
    public var validationAUC: Double?
    /// Wall time of the training.
    public var seconds: Double
    public var epochs: Int
}

/// Dense training of one model: every learning rate tried and the one kept.
public struct DenseTraining: Sendable, Equatable, Codable {
    public var model: String
    public var trials: [LearningRateTrial]
    /// The learning rate with the best validation AUC.
    public var chosenLearningRate: Double
    /// Float parameters of the training-form model.
    public var parameters: Int
    /// Test AUC of the kept float model (trainer inference path), the baseline of every cell.
    public var testAUC: Double?
}

/// One (model, sparsity) cell: pruned, fine-tuned, int8, packed and evaluated on the runtime.
public struct StudyCell: Sendable, Equatable, Codable {
    public var model: String
    /// Target sparsity of the pruned layers.
    public var sparsity: Double
    /// Zeros among all conv/Gemm weights after packing (excluded layers count as dense).
    public var measuredSparsity: Double
    /// Validation AUC of the packed artifact (pack stage), when measured.
    public var validationAUC: Double?
    /// Test evaluation of the artifact on the runtime (AUC, thresholds 0.5 and Youden, by dx).
    public var test: EvaluationReport
    /// Test ROC curve.
    public var roc: [ROCPoint]
    /// Bytes of the `.spruce` file.
    public var artifactBytes: Int
    /// Parameters and non-zero parameters of the inference-form (folded) model.
    public var parameters: Int
    public var nonzeroParameters: Int
    /// Batch-1 latency on the runtime, one thread.
    public var latencyMedianMs: Double
    public var latencyP90Ms: Double
    /// What ran the artifact (`runtime (1 thread)` unless it fell back).
    public var engine: String
    /// Wall seconds per stage: prune, finetune, fold, quantize, encode, pack, evaluate, latency.
    public var stageSeconds: [String: Double]
    /// The artifact's path inside the study folder.
    public var artifact: String
    /// Learning rate of the dense model the cell was pruned from (nil in cells written before it
    /// was recorded). A rerun whose kept dense model differs recomputes the cell.
    public var denseLearningRate: Double?
    /// The same fine-tuned model packed with narrower values (`--bits`), nil when none were asked.
    public var widths: [ValueWidthPoint]? = nil
}

/// A cell's fine-tuned model packed with `bits`-bit values (format 2.0, nearest rounding) and
/// evaluated on the runtime on the test split.
public struct ValueWidthPoint: Sendable, Equatable, Codable {
    public var bits: Int
    public var artifactBytes: Int
    public var testAUC: Double?
}

/// Everything one study run wrote.
public struct StudyResults: Sendable, Equatable, Codable {
    /// Spruce version that produced the results.
    public var spruceVersion: String
    /// When the results were assembled (UTC, ISO 8601).
    public var generated: String
    public var setup: StudySetup
    public var training: [DenseTraining]
    /// Cells in model order, then sparsity order.
    public var cells: [StudyCell]
    /// Wall seconds of this invocation (cells skipped on a rerun cost nothing here).
    public var seconds: Double
    /// tfmot + TFLite against Spruce on the same pruned weights (OUT/peer_sizes.json), if measured.
    public var peerSizes: [PeerSize]? = nil
    /// The setups of the studies this page combines (`spruce study --combine`), each naming its
    /// models; nil for one study, whose setup is `setup`.
    public var parts: [StudySetup]? = nil

    /// The setup `model` was trained and pruned with.
    public func setup(of model: String) -> StudySetup {
        parts?.first { $0.models.contains(model) } ?? setup
    }

    /// One page from several studies (run with different sizes or epochs, in different folders):
    /// their models, dense trainings, cells and peer sizes in the order given. `setup` is the
    /// first study's with every model listed; `parts` keeps each study's own.
    public static func combining(_ studies: [StudyResults], generated: String, seconds: Double) throws -> StudyResults {
        guard let first = studies.first else { throw StudyError.invalidOption("no study to combine") }
        let parts = studies.flatMap { $0.parts ?? [$0.setup] }
        let models = parts.flatMap(\.models)
        if let twice = models.first(where: { m in models.filter { $0 == m }.count > 1 }) {
            throw StudyError.invalidOption("\(twice) is in two of the combined studies; a model may come from one only")
        }
        var setup = first.setup
        setup.models = models
        let peers = studies.flatMap { $0.peerSizes ?? [] }
        return StudyResults(spruceVersion: SpruceVersion.current, generated: generated, setup: setup,
                            training: studies.flatMap(\.training), cells: studies.flatMap(\.cells), seconds: seconds,
                            peerSizes: peers.isEmpty ? nil : peers, parts: parts)
    }
}

/// One model pruned by tfmot at one sparsity (random weights) and stored by TFLite (int8 weights,
/// gzip -9) and by Spruce from the same weights (`Tests/Benchmarks/tflite_size_bench.py`).
public struct PeerSize: Sendable, Equatable, Codable {
    public var model: String
    public var size: Int
    public var sparsity: Double
    /// Zeros among the conv and dense kernels after tfmot's pruning.
    public var kernelZeros: Double
    public var tfliteInt8GzipBytes: Int
    public var spruceInt8Bytes: Int
    public var spruce4BitBytes: Int
}
