// What pruning did (per layer, before and after) and why it could not, shared by every road to
// an artifact. The pruning itself is PruningAllocator's.
import SpruceCore

/// Why pruning could not reach the requested sparsity.
public enum PruningError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The sparsity is outside [0, 1).
    case invalidSparsity(Double)
    /// The model has no conv or Gemm weights to prune.
    case noPrunableWeights
    /// The protected layers and the per-layer cap keep too many weights for the target.
    case unreachable(requested: Double, reachable: Double, hint: String)
    /// The model's weights already hold more zeros than requested (zeros are never filled back in).
    case alreadySparser(requested: Double, current: Double)

    public var description: String {
        switch self {
        case .invalidSparsity(let s): "sparsity \(s) is outside [0, 1)"
        case .noPrunableWeights: "the model has no conv or Gemm weights to prune"
        case .unreachable(let requested, let reachable, let hint):
            "sparsity \(percent(requested)) cannot be reached: at most \(percent(reachable)) \(hint)"
        case .alreadySparser(let requested, let current):
            "the conv/Gemm weights are already \(percent(current)) sparse, more than the requested \(percent(requested))"
        }
    }
}

/// What pruning did to one weight tensor.
public struct PrunedLayer: Sendable, Equatable {
    /// Weight initializer name.
    public var tensor: String
    /// The node reading it.
    public var node: String
    /// Elements in the tensor.
    public var elements: Int
    /// Exact zeros before pruning.
    public var zerosBefore: Int
    /// Exact zeros after pruning.
    public var zerosAfter: Int
    /// Why the layer was left as it was, when it was protected (`nil`: it took part).
    public var protectedReason: String?
}

/// The outcome of pruning a graph.
public struct PruningReport: Sendable, Equatable {
    /// Requested overall sparsity.
    public var requested: Double
    /// Achieved fraction of zeros over all conv and Gemm weights.
    public var achieved: Double
    /// One entry per conv/Gemm weight, in graph order.
    public var layers: [PrunedLayer]

    /// Conv and Gemm weight elements.
    public var weightCount: Int { layers.reduce(0) { $0 + $1.elements } }
    /// Layers left untouched because they are protected.
    public var protectedLayers: [PrunedLayer] { layers.filter { $0.protectedReason != nil } }

    /// What pruning `before` into `after` with `options` did, `requested` being the target.
    /// `achieved` counts every conv/Gemm weight.
    public init(requested: Double, before: Graph, after: Graph, options: PruningOptions) {
        let all = before.prunableLayers()
        let total = all.reduce(0) { $0 + $1.elements }
        self.requested = requested
        self.layers = all.map { layer in
            var reason: String?
            if options.isExcluded(layer, totalWeights: total) {
                let roles = layer.roles.intersection(options.exclude)
                reason = roles.contains(.firstConv) ? "first conv" : roles.contains(.depthwise) ? "depthwise conv" : "classifier gemm"
            }
            return PrunedLayer(tensor: layer.tensor, node: layer.node, elements: layer.elements,
                               zerosBefore: PruningAllocator.zeroCount(before.initializers[layer.tensor]),
                               zerosAfter: PruningAllocator.zeroCount(after.initializers[layer.tensor]), protectedReason: reason)
        }
        self.achieved = total == 0 ? 0 : Double(layers.reduce(0) { $0 + $1.zerosAfter }) / Double(total)
    }

    /// The promised gap between requested and achieved sparsity: 0.5 percentage points.
    public static let tolerance = 0.005

    /// The gap achievable with `weightCount` weights: 0.5 points, or half a weight when the model
    /// is so small that one weight is more than a point (the count of zeros is a whole number).
    public static func allowedGap(weightCount: Int) -> Double {
        max(tolerance, weightCount > 0 ? 0.5 / Double(weightCount) + 1e-12 : 0)
    }
}

/// `90.00%`.
func percent(_ fraction: Double) -> String {
    let hundredths = Int((fraction * 10000).rounded())
    let whole = hundredths / 100, rest = hundredths % 100
    return "\(whole).\(rest < 10 ? "0" : "")\(rest)%"
}
