// A recipe: the stages of a compression run and their parameters, as a JSON file. `spruce compress`
// builds the common ones from flags (`--save-recipe` writes it) and runs any with `--recipe`.
// Decoding checks field types; the Pipeline checks stage order and values before anything runs.
import Foundation
import SpruceCore
import SpruceTrain

/// One stage of a recipe with its parameters.
public enum StageSpec: Sendable, Equatable, Codable {
    case load(ModelSource)
    case train(epochs: Int, learningRate: Double, optimizer: OptimizerName = .adam)
    case prune(PruneSpec)
    case finetune(epochs: Int, learningRate: Double, decay: RateDecay = .cosine, optimizer: OptimizerName = .adam)
    case fold
    case quantize(int8: Bool, calibrationImages: [String] = [], bits: Int = 8, quantizationAware: Bool = false)
    case encode
    case pack(zstdLevel: Int)

    /// The stage's name.
    public var name: String {
        switch self {
        case .load: "load"
        case .train: "train"
        case .prune: "prune"
        case .finetune: "finetune"
        case .fold: "fold"
        case .quantize: "quantize"
        case .encode: "encode"
        case .pack: "pack"
        }
    }

    private enum CodingKeys: String, CodingKey {
        case stage, model, epochs, learningRate, decay, optimizer, int8, zstdLevel, calibrationImages, bits, quantizationAware
        case sparsity, targetBytes, allocation, exclude, block, maxLayerSparsity, scope, excludeUpTo, schedule, mixedWidths
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
                             learningRate: try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? 3e-4,
                             // Recipes saved before the decay existed ran at a constant rate.
                             decay: try c.decodeIfPresent(RateDecay.self, forKey: .decay) ?? .constant,
                             optimizer: try c.decodeIfPresent(OptimizerName.self, forKey: .optimizer) ?? .adam)
        case "prune":
            let defaults = PruningOptions()
            let options = PruningOptions(
                allocation: try c.decodeIfPresent(AllocationStrategy.self, forKey: .allocation) ?? defaults.allocation,
                exclude: try c.decodeIfPresent(Set<LayerRole>.self, forKey: .exclude) ?? defaults.exclude,
                block: try c.decodeIfPresent(PruningBlock.self, forKey: .block) ?? defaults.block,
                maxLayerSparsity: try c.decodeIfPresent(Double.self, forKey: .maxLayerSparsity) ?? defaults.maxLayerSparsity,
                scope: try c.decodeIfPresent(SparsityScope.self, forKey: .scope) ?? defaults.scope,
                excludeUpTo: try c.decodeIfPresent(Double.self, forKey: .excludeUpTo) ?? defaults.excludeUpTo)
            self = .prune(PruneSpec(sparsity: try c.decodeIfPresent(Double.self, forKey: .sparsity),
                                    targetBytes: try c.decodeIfPresent(Int.self, forKey: .targetBytes),
                                    options: options,
                                    schedule: try c.decodeIfPresent(ScheduleSpec.self, forKey: .schedule),
                                    int8: try c.decodeIfPresent(Int8Policy.self, forKey: .int8) ?? .auto,
                                    mixedWidths: try c.decodeIfPresent(Bool.self, forKey: .mixedWidths) ?? false))
        case "fold": self = .fold
        case "encode": self = .encode
        case "quantize":
            self = .quantize(int8: try c.decodeIfPresent(Bool.self, forKey: .int8) ?? true,
                             calibrationImages: try c.decodeIfPresent([String].self, forKey: .calibrationImages) ?? [],
                             bits: try c.decodeIfPresent(Int.self, forKey: .bits) ?? 8,
                             quantizationAware: try c.decodeIfPresent(Bool.self, forKey: .quantizationAware) ?? false)
        case "pack": self = .pack(zstdLevel: try c.decodeIfPresent(Int.self, forKey: .zstdLevel) ?? 6)
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .stage, in: c,
                debugDescription: "unknown stage '\(stage)' (load, train, prune, finetune, fold, quantize, encode, pack)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .stage)
        switch self {
        case .load(let source): try c.encode(source, forKey: .model)
        case .train(let epochs, let lr, let optimizer):
            try c.encode(epochs, forKey: .epochs)
            try c.encode(lr, forKey: .learningRate)
            try c.encode(optimizer, forKey: .optimizer)
        case .finetune(let epochs, let lr, let decay, let optimizer):
            try c.encode(epochs, forKey: .epochs)
            try c.encode(lr, forKey: .learningRate)
            try c.encode(decay, forKey: .decay)
            try c.encode(optimizer, forKey: .optimizer)
        case .prune(let p):
            try c.encodeIfPresent(p.sparsity, forKey: .sparsity)
            try c.encodeIfPresent(p.targetBytes, forKey: .targetBytes)
            try c.encode(p.options.allocation, forKey: .allocation)
            try c.encode(p.options.exclude.sorted { $0.rawValue < $1.rawValue }, forKey: .exclude)
            try c.encode(p.options.block, forKey: .block)
            try c.encode(p.options.maxLayerSparsity, forKey: .maxLayerSparsity)
            if p.options.scope != .prunedLayers { try c.encode(p.options.scope, forKey: .scope) }
            if p.options.excludeUpTo < 1 { try c.encode(p.options.excludeUpTo, forKey: .excludeUpTo) }
            try c.encodeIfPresent(p.schedule, forKey: .schedule)
            try c.encode(p.int8, forKey: .int8)
            if p.mixedWidths { try c.encode(true, forKey: .mixedWidths) }
        case .fold, .encode: break
        case .quantize(let int8, let images, let bits, let aware):
            try c.encode(int8, forKey: .int8)
            if !images.isEmpty { try c.encode(images, forKey: .calibrationImages) }
            if bits != 8 { try c.encode(bits, forKey: .bits) }
            if aware { try c.encode(aware, forKey: .quantizationAware) }
        case .pack(let level): try c.encode(level, forKey: .zstdLevel)
        }
    }
}

/// A recipe's prune step is the prune stage itself (its parameters are all it holds).
public typealias PruneSpec = PruneStage

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
        // Recipes saved before quantize moved ahead of encode list encode first; read them in the
        // order the stages now run (the value type decides the storage).
        var migrated = recipe
        for i in migrated.stages.indices.dropLast() where migrated.stages[i] == .encode && migrated.stages[i + 1].name == "quantize" {
            migrated.stages.swapAt(i, i + 1)
        }
        return migrated
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
