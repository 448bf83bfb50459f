// A recipe: the stages of a compression run and their parameters, as a JSON file. `spruce compress`
// builds the common ones from flags (`--save-recipe` writes it) and runs any with `--recipe`.
// Decoding checks field types; the Pipeline checks stage order and values before anything runs.
import Foundation
import SpruceTrain

/// One stage of a recipe with its parameters.
public enum StageSpec: Sendable, Equatable, Codable {
    case load(ModelSource)
    case train(epochs: Int, learningRate: Double, optimizer: OptimizerName = .adam)
    case prune(PruneSpec)
    case finetune(epochs: Int, learningRate: Double, optimizer: OptimizerName = .adam)
    case fold
    case encode
    case quantize(int8: Bool)
    case pack(zstdLevel: Int)

    /// The stage's name.
    public var name: String {
        switch self {
        case .load: "load"
        case .train: "train"
        case .prune: "prune"
        case .finetune: "finetune"
        case .fold: "fold"
        case .encode: "encode"
        case .quantize: "quantize"
        case .pack: "pack"
        }
    }

    private enum CodingKeys: String, CodingKey {
        case stage, model, epochs, learningRate, optimizer, int8, zstdLevel
        case sparsity, targetBytes, allocation, exclude, block, maxLayerSparsity, schedule
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let stage = try c.decode(String.self, forKey: .stage)
        switch stage {
        case "load": self = .load(try c.decode(ModelSource.self, forKey: .model))
        case "train":
            self = .train(epochs: try c.decode(Int.self, forKey: .epochs),
                          learningRate: try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? 1e-3,
                          optimizer: try c.decodeIfPresent(OptimizerName.self, forKey: .optimizer) ?? .adam)
        case "finetune":
            self = .finetune(epochs: try c.decode(Int.self, forKey: .epochs),
                             learningRate: try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? 1e-4,
                             optimizer: try c.decodeIfPresent(OptimizerName.self, forKey: .optimizer) ?? .adam)
        case "prune":
            let defaults = PruningOptions()
            let options = PruningOptions(
                allocation: try c.decodeIfPresent(AllocationStrategy.self, forKey: .allocation) ?? defaults.allocation,
                exclude: try c.decodeIfPresent(Set<LayerRole>.self, forKey: .exclude) ?? defaults.exclude,
                block: try c.decodeIfPresent(PruningBlock.self, forKey: .block) ?? defaults.block,
                maxLayerSparsity: try c.decodeIfPresent(Double.self, forKey: .maxLayerSparsity) ?? defaults.maxLayerSparsity)
            self = .prune(PruneSpec(sparsity: try c.decodeIfPresent(Double.self, forKey: .sparsity),
                                    targetBytes: try c.decodeIfPresent(Int.self, forKey: .targetBytes),
                                    options: options,
                                    schedule: try c.decodeIfPresent(ScheduleSpec.self, forKey: .schedule),
                                    int8: try c.decodeIfPresent(Int8Policy.self, forKey: .int8) ?? .auto))
        case "fold": self = .fold
        case "encode": self = .encode
        case "quantize": self = .quantize(int8: try c.decodeIfPresent(Bool.self, forKey: .int8) ?? true)
        case "pack": self = .pack(zstdLevel: try c.decodeIfPresent(Int.self, forKey: .zstdLevel) ?? 6)
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .stage, in: c,
                debugDescription: "unknown stage '\(stage)' (load, train, prune, finetune, fold, encode, quantize, pack)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .stage)
        switch self {
        case .load(let source): try c.encode(source, forKey: .model)
        case .train(let epochs, let lr, let optimizer), .finetune(let epochs, let lr, let optimizer):
            try c.encode(epochs, forKey: .epochs)
            try c.encode(lr, forKey: .learningRate)
            try c.encode(optimizer, forKey: .optimizer)
        case .prune(let p):
            try c.encodeIfPresent(p.sparsity, forKey: .sparsity)
            try c.encodeIfPresent(p.targetBytes, forKey: .targetBytes)
            try c.encode(p.options.allocation, forKey: .allocation)
            try c.encode(p.options.exclude.sorted { $0.rawValue < $1.rawValue }, forKey: .exclude)
            try c.encode(p.options.block, forKey: .block)
            try c.encode(p.options.maxLayerSparsity, forKey: .maxLayerSparsity)
            try c.encodeIfPresent(p.schedule, forKey: .schedule)
            try c.encode(p.int8, forKey: .int8)
        case .fold, .encode: break
        case .quantize(let int8): try c.encode(int8, forKey: .int8)
        case .pack(let level): try c.encode(level, forKey: .zstdLevel)
        }
    }
}

/// The prune stage's parameters.
public struct PruneSpec: Sendable, Equatable {
    public var sparsity: Double?
    public var targetBytes: Int?
    public var options: PruningOptions
    public var schedule: ScheduleSpec?
    public var int8: Int8Policy

    /// A prune spec; give one of `sparsity` and `targetBytes`.
    public init(sparsity: Double? = nil, targetBytes: Int? = nil, options: PruningOptions = PruningOptions(),
                schedule: ScheduleSpec? = nil, int8: Int8Policy = .auto) {
        self.sparsity = sparsity
        self.targetBytes = targetBytes
        self.options = options
        self.schedule = schedule
        self.int8 = int8
    }
}

/// Why a recipe file could not be used.
public enum RecipeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file is not valid recipe JSON.
    case invalid(path: String, reason: String)
    /// The version is newer than this Spruce understands.
    case unsupportedVersion(path: String, version: Int)

    public var description: String {
        switch self {
        case .invalid(let path, let reason): "\(path): not a valid recipe: \(reason)"
        case .unsupportedVersion(let path, let version): "\(path): recipe version \(version) is newer than this spruce understands (1)"
        }
    }
}

/// A compression run: data, seed and stages.
///
/// ```json
/// {"version": 1, "seed": 0, "data": {"directory": "fixtures/images", "scaling": "unit", "batchSize": 16, "augment": true},
///  "stages": [{"stage": "load", "model": {"file": "m.onnx"}}, {"stage": "prune", "sparsity": 0.9, ...}, ...]}
/// ```
public struct Recipe: Sendable, Equatable, Codable {
    /// Format version (1).
    public var version: Int
    /// Seed of splits, shuffling, augmentation and dropout.
    public var seed: UInt64
    /// Where the images come from; nil: no data (one-shot pruning only).
    public var data: DataOptions?
    /// The stages in order.
    public var stages: [StageSpec]

    /// A recipe from its parts.
    public init(version: Int = 1, seed: UInt64 = 0, data: DataOptions? = nil, stages: [StageSpec]) {
        self.version = version
        self.seed = seed
        self.data = data
        self.stages = stages
    }

    /// Pretty, key-sorted JSON.
    public func jsonBytes() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [0x0A]
    }

    /// Parses recipe JSON; `path` names the file in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws -> Recipe {
        let recipe: Recipe
        do { recipe = try JSONDecoder().decode(Recipe.self, from: Data(bytes)) } catch let error as DecodingError {
            throw RecipeError.invalid(path: path, reason: describe(error))
        } catch {
            throw RecipeError.invalid(path: path, reason: "\(error)")
        }
        guard recipe.version <= 1 else { throw RecipeError.unsupportedVersion(path: path, version: recipe.version) }
        return recipe
    }

    /// Reads a recipe file.
    public static func read(path: String) throws -> Recipe {
        try decode(try FileIO.read(path), path: path)
    }

    /// Writes the recipe atomically.
    public func write(to path: String) throws {
        try FileIO.writeAtomically(try jsonBytes(), to: path)
    }

    private static func describe(_ error: DecodingError) -> String {
        func at(_ path: [CodingKey]) -> String {
            path.isEmpty ? "" : " at " + path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .dataCorrupted(let c): return c.debugDescription + at(c.codingPath)
        case .keyNotFound(let key, let c): return "missing '\(key.stringValue)'" + at(c.codingPath)
        case .typeMismatch(let type, let c): return "expected \(type)" + at(c.codingPath)
        case .valueNotFound(let type, let c): return "missing \(type) value" + at(c.codingPath)
        @unknown default: return "\(error)"
        }
    }
}
