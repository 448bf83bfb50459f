// `spruce pack` as a library call: import a model, lower it for inference, optionally prune it
// one-shot by weight magnitude, and write a `.spruce` artifact (encodings chosen per tensor, int8
// optional), then read it back to report what was written. No data and no fine-tuning: the quick path.
import Foundation
import SpruceCore
import SpruceFormat

/// Why packing failed, naming the file involved.
public enum PackError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The model could not be lowered for inference (it fails verification).
    case lowering(path: String, reason: String)
    /// Pruning could not meet the request.
    case pruning(path: String, PruningError)
    /// The artifact could not be encoded or written.
    case writing(path: String, FormatError)
    /// The written artifact did not read back (a bug, reported rather than left unnoticed).
    case readBack(path: String, FormatError)
    /// Calibrated rounding could not run (no int8, unreadable images, a failed calibration run).
    case calibration(path: String, reason: String)

    public var description: String {
        switch self {
        case .lowering(let path, let reason): reason.contains(path) ? reason : "\(path): cannot lower for inference: \(reason)"
        case .pruning(let path, let error): "\(path): \(error)"
        case .writing(let path, let error): error.description.contains(path) ? error.description : "\(path): \(error)"
        case .readBack(let path, let error): "\(path): the written artifact does not read back: \(error)"
        case .calibration(let path, let reason): "\(path): calibrated int8 rounding: \(reason)"
        }
    }
}

/// Options of `spruce pack`.
public struct PackOptions: Sendable, Equatable {
    /// Target overall sparsity of conv and Gemm weights; nil or 0 leaves weights as they are.
    public var sparsity: Double?
    /// Prune the small first conv, depthwise convs and classifier Gemm too.
    public var pruneAll: Bool
    /// Store conv and Gemm weights as int8 rows.
    public var int8: Bool
    /// zstd level for the sections.
    public var zstdLevel: Int
    /// Images whose activations choose how int8 weights round (GPTQ, see `CalibratedRounding`);
    /// empty: round to nearest. Needs `int8`.
    public var calibrationImages: [String]

    /// Options; the defaults pack float32 without pruning at zstd level 6.
    public init(sparsity: Double? = nil, pruneAll: Bool = false, int8: Bool = false, zstdLevel: Int = 6,
                calibrationImages: [String] = []) {
        self.sparsity = sparsity
        self.pruneAll = pruneAll
        self.int8 = int8
        self.zstdLevel = zstdLevel
        self.calibrationImages = calibrationImages
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
                        progress: ((Int, Int, String) -> Void)? = nil) throws -> (Model, PruningReport?) {
        var graph: Graph
        do { graph = try model.graph.lowered() } catch {
            throw PackError.lowering(path: sourceName, reason: String(describing: error))
        }
        var report: PruningReport?
        if let s = options.sparsity, s > 0 {
            do {
                let result = try MagnitudePruner(sparsity: s, pruneAll: options.pruneAll).prune(graph)
                (graph, report) = (result.0, result.1)
            } catch { throw PackError.pruning(path: sourceName, error) }
        }
        if !options.calibrationImages.isEmpty {
            graph = try calibrated(graph, sourceName: sourceName, progress: progress)
        }
        var metadata = model.metadata
        metadata["source_file"] = (sourceName as NSString).lastPathComponent
        metadata["packed_by"] = "spruce \(SpruceVersion.current)"
        metadata["values"] = !options.int8 ? "float32"
            : "int8 (conv/gemm weights but the first conv, per-row symmetric"
            + (options.calibrationImages.isEmpty ? ")" : ", GPTQ-rounded on \(options.calibrationImages.count) calibration images)")
        if let report {
            metadata["sparsity"] = String(format: "%.4f", report.achieved)
            metadata["pruning"] = "one-shot global magnitude to \(String(format: "%.4f", report.requested))\(options.pruneAll ? " (all layers)" : ""), no fine-tuning"
        } else {
            metadata["pruning"] = "none"
        }
        return (Model(graph: graph, metadata: metadata, producer: model.producer), report)
    }

    /// `graph` with the weights the writer quantizes rounded by GPTQ on the calibration images.
    func calibrated(_ graph: Graph, sourceName: String, progress: ((Int, Int, String) -> Void)?) throws -> Graph {
        guard options.int8 else { throw PackError.calibration(path: sourceName, reason: "calibration images need int8") }
        let inputs: RunInputs
        do { inputs = try RunInputs.load(paths: options.calibrationImages, for: graph.inputs) } catch {
            throw PackError.calibration(path: sourceName, reason: String(describing: error))
        }
        let weights = ArtifactWriter.weightNames(in: graph).subtracting(ArtifactWriter.float32Weights(in: graph))
        do {
            return try CalibratedRounding().round(graph, weights: weights, inputs: inputs.feeds, progress: progress)
        } catch {
            throw PackError.calibration(path: sourceName, reason: String(describing: error))
        }
    }

    /// The writer this job uses.
    public var writer: ArtifactWriter { ArtifactWriter(int8: options.int8, zstdLevel: options.zstdLevel) }

    /// Reads `source`, packs it and writes `destination` atomically.
    public func run(source: String, destination: String,
                    progress: ((Int, Int, String) -> Void)? = nil) throws -> PackReport {
        let model = try ModelFile.load(path: source)
        let (prepared, pruning) = try prepare(model, sourceName: source, progress: progress)
        do { try writer.write(prepared, to: destination) } catch { throw PackError.writing(path: destination, error) }
        let artifact: Artifact
        do { artifact = try ArtifactReader.load(path: destination) } catch {
            try? FileManager.default.removeItem(atPath: destination)
            throw PackError.readBack(path: destination, error)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: source)[.size] as? Int) ?? nil
        return PackReport(source: source, destination: destination, sourceBytes: size ?? 0, pruning: pruning,
                          summary: ArtifactSummary(artifact: artifact))
    }
}
