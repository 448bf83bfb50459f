// `spruce pack` as a library call: the pack recipe (load → fold → prune one-shot → quantize →
// encode → pack, `Recipe.pack`) run on the pipeline, the artifact written atomically and read back
// to report what was written. No data and no fine-tuning: the quick path.
import Foundation
import SpruceCore
import SpruceFormat

/// Why packing failed, naming the file involved.
public enum PackError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Pruning could not meet the request.
    case pruning(path: String, PruningError)
    /// The written artifact did not read back (a bug, reported rather than left unnoticed).
    case readBack(path: String, FormatError)

    public var description: String {
        switch self {
        case .pruning(let path, let error): "\(path): \(error)"
        case .readBack(let path, let error): "\(path): the written artifact does not read back: \(error)"
        }
    }
}

/// Options of `spruce pack`.
public struct PackOptions: Sendable, Equatable {
    /// Target overall sparsity of conv and Gemm weights; nil or 0 leaves weights as they are.
    public var sparsity: Double?
    /// Prune the small first conv, depthwise convs and classifier Gemm too.
    public var pruneAll: Bool
    /// Every pruned layer loses the same fraction instead of one global magnitude threshold.
    public var uniform: Bool
    /// Store conv and Gemm weights as int8 rows.
    public var int8: Bool
    /// zstd level for the sections.
    public var zstdLevel: Int
    /// Bits per quantized value with `int8`: 8, or 2…7 packed (format 2.0).
    public var valueBits = 8
    /// Images whose activations choose how int8 weights round (GPTQ, see `CalibratedRounding`);
    /// empty: round to nearest. Needs `int8`.
    public var calibrationImages: [String]
    /// The pixel scaling the model takes (`unit`, `symmetric`, `imagenet`), recorded in the
    /// artifact; nil records none.
    public var scaling: String?

    /// Options; the defaults pack float32 without pruning at zstd level 6.
    public init(sparsity: Double? = nil, pruneAll: Bool = false, uniform: Bool = false, int8: Bool = false,
                zstdLevel: Int = 6, calibrationImages: [String] = [], scaling: String? = nil) {
        self.sparsity = sparsity
        self.pruneAll = pruneAll
        self.uniform = uniform
        self.int8 = int8
        self.zstdLevel = zstdLevel
        self.calibrationImages = calibrationImages
        self.scaling = scaling
    }
}

/// What `pack` did.
public struct PackReport: Sendable {
    /// The model file read.
    public var source: String
    /// The artifact written.
    public var destination: String
    /// Size of the source file.
    public var sourceBytes: Int
    /// Pruning outcome; nil when no pruning was asked for.
    public var pruning: PruningReport?
    /// The written artifact as read back.
    public var summary: ArtifactSummary
}

/// Packs model files into `.spruce` artifacts.
///
/// ```swift
/// let report = try PackJob(options: PackOptions(sparsity: 0.9, int8: true)).run(source: "m.onnx", destination: "m.spruce")
/// ```
public struct PackJob: Sendable {
    /// The options applied.
    public var options: PackOptions

    /// A job with `options`.
    public init(options: PackOptions) {
        self.options = options
    }

    /// The model exactly as it will be written: lowered, pruned, int8 weights rounded on the
    /// calibration images if any, with Spruce's metadata. `progress(done, total, node)` follows
    /// calibrated rounding layer by layer.
    public func prepare(_ model: Model, sourceName: String,
                        progress: (@Sendable (Int, Int, String) -> Void)? = nil) throws -> (Model, PruningReport?) {
        let recipe = Recipe.pack(.file(sourceName), options: options)
        let stages = try Pipeline(recipe: recipe).stages.filter { !["load", "encode", "pack"].contains($0.name) }
        var start = PipelineState(model: model, sourceName: (sourceName as NSString).lastPathComponent)
        start.inputNormalization = recipe.data.flatMap { InputNormalization(named: $0.scaling) }
        let state = try run(Pipeline(stages: stages, zstdLevel: options.zstdLevel), start, path: sourceName, progress: progress)
        return (ArtifactContents.model(state, values: EncodingPlan.describe(widths: [options.valueBits])), state.pruningReport)
    }

    /// Reads `source`, packs it and writes `destination` atomically.
    public func run(source: String, destination: String,
                    progress: (@Sendable (Int, Int, String) -> Void)? = nil) throws -> PackReport {
        let state = try run(Pipeline(recipe: Recipe.pack(.file(source), options: options)), PipelineState(), path: source,
                            progress: progress)
        try FileIO.writeAtomically(state.artifact ?? [], to: destination)
        let artifact: Artifact
        do { artifact = try ArtifactReader.load(path: destination) } catch {
            try? FileManager.default.removeItem(atPath: destination)
            throw PackError.readBack(path: destination, error)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: source)[.size] as? Int) ?? nil
        return PackReport(source: source, destination: destination, sourceBytes: size ?? 0, pruning: state.pruningReport,
                          summary: ArtifactSummary(artifact: artifact))
    }

    /// Runs `pipeline`, naming `path` in pruning errors and reporting calibration progress.
    private func run(_ pipeline: Pipeline, _ state: PipelineState, path: String,
                     progress: (@Sendable (Int, Int, String) -> Void)?) throws -> PipelineState {
        let context = StageContext(events: { event in
            if case .progress(let stage, let done, let total, let detail) = event, stage == "quantize" {
                progress?(done, total, detail)
            }
        })
        do { return try pipeline.run(state, context: context).0 } catch let error as PruningError {
            throw PackError.pruning(path: path, error)
        }
    }
}
