// What one pipeline stage did: a one-line summary, time, parameter and non-zero counts, bytes and
// metrics. The CLI prints these as a table and writes them as JSON; nothing here runs a stage.
import SpruceCore

/// The outcome of one stage.
public struct StageReport: Sendable, Equatable, Codable {
    /// Stage name (`load`, `prune`, ...).
    public var stage: String
    /// What it did, in one line.
    public var summary: String
    /// Wall-clock seconds.
    public var seconds: Double
    /// Float parameters in the model after the stage.
    public var parameters: Int
    /// Non-zero parameters after the stage.
    public var nonzeroParameters: Int
    /// Conv and Gemm weight elements.
    public var weights: Int
    /// Non-zero conv and Gemm weights.
    public var nonzeroWeights: Int
    /// Bytes the stage measured: raw weight bytes (encode, quantize) or the artifact (pack).
    public var bytes: Int?
    /// Metrics by name, e.g. `validation_auc`, `loss`.
    public var metrics: [String: Double]
    /// Further facts by name (per-layer sparsities, chosen encodings, ...).
    public var details: [String: String]

    /// A report of `stage` on `model`; counts are taken from the model.
    public init(stage: String, summary: String, seconds: Double, model: Model, bytes: Int? = nil,
                metrics: [String: Double] = [:], details: [String: String] = [:]) {
        self.stage = stage
        self.summary = summary
        self.seconds = seconds
        self.bytes = bytes
        self.metrics = metrics
        self.details = details
        let g = model.graph
        parameters = g.parameterCount
        nonzeroParameters = g.initializers.values.reduce(0) { $0 + StageReport.nonzeros($1.data) }
        let layers = g.prunableLayers()
        weights = layers.reduce(0) { $0 + $1.elements }
        nonzeroWeights = layers.reduce(0) { $0 + StageReport.nonzeros(g.initializers[$1.tensor]?.data ?? []) }
    }

    /// Validation AUC, when measured.
    public var validationAUC: Double? { metrics["validation_auc"] }

    static func nonzeros(_ data: [Float]) -> Int {
        data.withUnsafeBufferPointer { p in p.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }
    }
}
