// load: an ONNX (or .spruce) file or a zoo architecture into the IR, and the recipe's data decoded
// at the model's input size. It does not change the model.
import Foundation
import SpruceCore
import SpruceTrain

/// Where the model comes from.
public enum ModelSource: Sendable, Equatable, Codable {
    /// A model file (.onnx, or .spruce expanded to dense weights).
    case file(String)
    /// A zoo architecture with He-initialized weights.
    case zoo(name: String, size: Int, width: Double, seed: UInt64)

    private enum CodingKeys: String, CodingKey { case file, zoo, size, width, seed }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let file = try c.decodeIfPresent(String.self, forKey: .file) {
            self = .file(file)
        } else {
            self = .zoo(name: try c.decode(String.self, forKey: .zoo), size: try c.decode(Int.self, forKey: .size),
                        width: try c.decodeIfPresent(Double.self, forKey: .width) ?? 1,
                        seed: try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .file(let path): try c.encode(path, forKey: .file)
        case .zoo(let name, let size, let width, let seed):
            try c.encode(name, forKey: .zoo)
            try c.encode(size, forKey: .size)
            try c.encode(width, forKey: .width)
            try c.encode(seed, forKey: .seed)
        }
    }

    /// A short name for messages and metadata.
    public var displayName: String {
        switch self {
        case .file(let path): (path as NSString).lastPathComponent
        case .zoo(let name, let size, let width, _): "zoo:\(name) \(size)x\(size) width \(width)"
        }
    }
}

/// Loads the model and, when the recipe has data, the images.
public struct LoadStage: Stage {
    public var name: String { "load" }
    /// The model to load.
    public var source: ModelSource
    /// The data to read; nil or without a directory: no data.
    public var data: DataOptions?

    /// A load stage.
    public init(source: ModelSource, data: DataOptions? = nil) {
        self.source = source
        self.data = data
    }

    public func run(_ state: inout PipelineState, context: StageContext) throws -> StageReport {
        let (read, seconds) = try timed { () throws -> Model in
            switch source {
            case .file(let path): return try ModelFile.load(path: path)
            case .zoo(let name, let size, let width, let seed):
                return try ModelZoo.build(try ZooModel(name: name), inputSize: size, width: Float(width), seed: seed)
            }
        }
        let model = data?.directory != nil ? try Self.dynamicBatch(read, name: source.displayName) : read
        state = PipelineState(model: model, sourceName: source.displayName)
        state.inputNormalization = data.flatMap { InputNormalization(named: $0.scaling) }
        var summary = "\(source.displayName): \(model.graph.nodes.count) nodes"
        var details: [String: String] = [:]
        var total = seconds
        if let data, data.directory != nil {
            let (loaded, dataSeconds) = try timed { try PipelineData.load(options: data, model: model, seed: context.seed) }
            state.data = loaded
            total += dataSeconds
            summary += "; data \(loaded.directory): \(loaded.training.trainIndices.count) train, \(loaded.training.validationIndices.count) validation images"
            details["layout"] = loaded.layout.rawValue
        }
        var metrics: [String: Double] = [:]
        if let data = state.data {
            // The yardstick compress compares the artifact with.
            let (auc, auSeconds) = try timed { try Validation.auc(model: model, data: data, cancellation: context.cancellation) }
            total += auSeconds
            if let auc {
                metrics["validation_auc"] = auc
                state.validationAUC = auc
                state.loadedValidationAUC = auc
            }
        }
        return StageReport(stage: name, summary: summary, seconds: total, model: model, metrics: metrics, details: details)
    }

    /// Exporters often fix the batch at 1 (`torch.onnx.export` without `dynamic_axes`), and
    /// training feeds batches: a batch of 1 declared on the inputs and outputs becomes dynamic when
    /// the graph's shapes allow it (inferred for a batch of 2), and is an error naming the fix when not.
    public static func dynamicBatch(_ model: Model, name: String) throws -> Model {
        let graph = model.graph
        guard !graph.inputs.isEmpty, graph.inputs.allSatisfy({ $0.shape.first == 1 }) else { return model }
        var relaxed = model
        for i in relaxed.graph.inputs.indices { relaxed.graph.inputs[i].shape[0] = nil }
        for i in relaxed.graph.outputs.indices where relaxed.graph.outputs[i].shape.first == 1 {
            relaxed.graph.outputs[i].shape[0] = nil
        }
        let two = Dictionary(uniqueKeysWithValues: graph.inputs.map { ($0.name, [2] + $0.shape.dropFirst().map { $0 ?? 1 }) })
        let shapes = try? relaxed.graph.inferShapes(inputShapes: two)
        guard let shapes, graph.outputs.allSatisfy({ shapes[$0.name]?.first == 2 }) else {
            throw PipelineError.invalidModel(path: name, reason: "its batch is fixed at 1 and the graph depends on it; "
                + "export it with a dynamic batch (torch.onnx.export(..., dynamic_axes={input: {0: \"batch\"}}))")
        }
        return relaxed
    }
}
