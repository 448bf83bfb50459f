// One-shot global magnitude pruning of conv and Gemm weights to an exact overall sparsity: the
// "quick path" of `spruce pack` (no data, no fine-tuning, no schedule). Small sensitive layers are
// left dense by default, and no layer is emptied. It does not fine-tune or keep masks for training.
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
}

/// Global magnitude pruning to an overall sparsity.
///
/// Every conv and Gemm weight (input 1, rank ≥ 2) counts towards the sparsity. One magnitude
/// threshold is shared by all layers that take part, so the smallest weights of the whole model go
/// first, except that no layer loses more than `maxLayerSparsity` of its weights. Unless `pruneAll`
/// is set, three kinds of layer are protected when they are small (at most `smallLayerFraction` of
/// all conv/Gemm weights): the first convolution (it sees raw pixels), depthwise convolutions (one
/// filter per channel: each zero removes a whole tap) and the classifier Gemm (the last Gemm). They
/// cost little to keep and are the most sensitive; the others prune harder to make up for them.
///
/// ```swift
/// let (pruned, report) = try MagnitudePruner(sparsity: 0.9).prune(try graph.lowered())
/// ```
public struct MagnitudePruner: Sendable {
    /// Target fraction of zeros over all conv and Gemm weights, in [0, 1).
    public var sparsity: Double
    /// Prune the protected layers too.
    public var pruneAll: Bool
    /// Largest fraction of any one layer that may be zero.
    public var maxLayerSparsity: Double
    /// A layer of at most this fraction of all conv/Gemm weights counts as small.
    public var smallLayerFraction: Double

    /// A pruner with the documented defaults: protected small layers, a 98 % per-layer cap, "small" = ≤ 2 %.
    public init(sparsity: Double, pruneAll: Bool = false, maxLayerSparsity: Double = 0.98, smallLayerFraction: Double = 0.02) {
        self.sparsity = sparsity
        self.pruneAll = pruneAll
        self.maxLayerSparsity = maxLayerSparsity
        self.smallLayerFraction = smallLayerFraction
    }

    /// A conv/Gemm weight with the node that reads it.
    struct Candidate {
        var tensor: String
        var node: String
        var protectedReason: String?
    }

    /// Conv and Gemm weights in graph order, with the protection rule applied.
    func candidates(in graph: Graph) -> [Candidate] {
        var seen = Set<String>()
        var list: [(node: Node, weight: String)] = []
        for node in graph.nodes where node.inputs.count > 1 {
            switch node.op {
            case .conv, .gemm:
                let w = node.inputs[1]
                if let t = graph.initializers[w], t.rank >= 2, seen.insert(w).inserted { list.append((node, w)) }
            default: break
            }
        }
        let total = list.reduce(0) { $0 + (graph.initializers[$1.weight]?.count ?? 0) }
        let firstConv = list.first { if case .conv = $0.node.op { true } else { false } }?.node.name
        let lastGemm = list.last { if case .gemm = $0.node.op { true } else { false } }?.node.name
        return list.map { node, w in
            var reason: String?
            let count = graph.initializers[w]?.count ?? 0
            let small = Double(count) <= smallLayerFraction * Double(total)
            if !pruneAll && small {
                if node.name == firstConv {
                    reason = "first conv"
                } else if case .conv(let a) = node.op, a.groups > 1, let t = graph.initializers[w], t.shape[1] == 1 {
                    reason = "depthwise conv"
                } else if node.name == lastGemm {
                    reason = "classifier gemm"
                }
            }
            return Candidate(tensor: w, node: node.name, protectedReason: reason)
        }
    }

    /// The graph with its weights pruned, and what was done.
    public func prune(_ graph: Graph) throws(PruningError) -> (Graph, PruningReport) {
        guard sparsity >= 0, sparsity < 1, sparsity.isFinite else { throw .invalidSparsity(sparsity) }
        let list = candidates(in: graph)
        guard !list.isEmpty else {
            if sparsity == 0 { return (graph, PruningReport(requested: 0, achieved: 0, layers: [])) }
            throw .noPrunableWeights
        }
        let tensors = list.map { graph.initializers[$0.tensor] ?? Tensor(shape: [0], data: []) }
        let zerosBefore = tensors.map(Self.zeroCount)
        let total = tensors.reduce(0) { $0 + $1.count }
        let currentZeros = zerosBefore.reduce(0, +)
        let target = Int((sparsity * Double(total)).rounded())
        if currentZeros > target {
            // Within the tolerance the request is already met; more zeros than asked is an error.
            if Double(currentZeros - target) / Double(total) > Self.allowedGap(weightCount: total) {
                throw .alreadySparser(requested: sparsity, current: Double(currentZeros) / Double(total))
            }
        }

        // Per-layer budget: at most `cap` zeros (never fewer than it already has).
        let active = list.indices.filter { list[$0].protectedReason == nil }
        var caps = [Int](repeating: 0, count: list.count)
        for i in list.indices {
            caps[i] = list[i].protectedReason == nil
                ? max(zerosBefore[i], Int((maxLayerSparsity * Double(tensors[i].count)).rounded(.down)))
                : zerosBefore[i]
        }
        let reachable = caps.reduce(0, +)
        if target > reachable {
            let hint = pruneAll || list.allSatisfy({ $0.protectedReason == nil })
                ? "with at most \(percent(maxLayerSparsity)) of each layer pruned"
                : "with the small first conv, depthwise convs and classifier left dense and at most \(percent(maxLayerSparsity)) of each layer pruned (try --prune-all)"
            throw .unreachable(requested: sparsity, reachable: Double(reachable) / Double(total), hint: hint)
        }

        // Zeros the active layers must hold, then the threshold that yields them under the caps.
        let protectedZeros = list.indices.filter { list[$0].protectedReason != nil }.reduce(0) { $0 + zerosBefore[$1] }
        let wanted = max(0, target - protectedZeros)
        let sorted = active.map { i in tensors[i].data.map(Self.magnitude).sorted() }
        let capsActive = active.map { caps[$0] }
        let counts = Self.zerosPerLayer(sortedMagnitudes: sorted, caps: capsActive, wanted: wanted)

        var out = graph
        var layers: [PrunedLayer] = []
        for i in list.indices {
            var after = zerosBefore[i]
            if let k = active.firstIndex(of: i) {
                let pruned = Self.zeroingSmallest(tensors[i], count: counts[k])
                out.initializers[list[i].tensor] = pruned
                after = Self.zeroCount(pruned)
            }
            layers.append(PrunedLayer(tensor: list[i].tensor, node: list[i].node, elements: tensors[i].count,
                                      zerosBefore: zerosBefore[i], zerosAfter: after, protectedReason: list[i].protectedReason))
        }
        let achieved = Double(layers.reduce(0) { $0 + $1.zerosAfter }) / Double(total)
        // Exact by construction; checked so a mistake can never pass silently.
        guard abs(achieved - sparsity) <= Self.allowedGap(weightCount: total) else {
            throw .unreachable(requested: sparsity, reachable: achieved, hint: "(internal: pruning missed its count)")
        }
        return (out, PruningReport(requested: sparsity, achieved: achieved, layers: layers))
    }

    /// The promised gap between requested and achieved sparsity: 0.5 percentage points.
    public static let tolerance = 0.005

    /// The gap achievable with `weightCount` weights: 0.5 points, or half a weight when the model
    /// is so small that one weight is more than a point (the count of zeros is a whole number).
    public static func allowedGap(weightCount: Int) -> Double {
        max(tolerance, weightCount > 0 ? 0.5 / Double(weightCount) + 1e-12 : 0)
    }

    /// |v|, with NaN ordered last so sorting stays a strict weak order.
    static func magnitude(_ v: Float) -> Float { v.isNaN ? .infinity : abs(v) }

    /// Exact zeros in a tensor.
    static func zeroCount(_ t: Tensor) -> Int {
        t.data.withUnsafeBufferPointer { p in p.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }
    }

    /// How many weights each layer zeroes so that the total is `wanted`: the smallest magnitude
    /// threshold `t` whose capped count reaches `wanted`; weights equal to `t` fill the remainder
    /// in layer order, so the count is exact.
    static func zerosPerLayer(sortedMagnitudes: [[Float]], caps: [Int], wanted: Int) -> [Int] {
        func below(_ m: [Float], _ t: Float) -> Int {  // elements < t
            var lo = 0, hi = m.count
            while lo < hi { let mid = (lo + hi) / 2; if m[mid] < t { lo = mid + 1 } else { hi = mid } }
            return lo
        }
        func atMost(_ m: [Float], _ t: Float) -> Int {  // elements ≤ t
            var lo = 0, hi = m.count
            while lo < hi { let mid = (lo + hi) / 2; if m[mid] <= t { lo = mid + 1 } else { hi = mid } }
            return lo
        }
        func capped(_ t: Float) -> Int {
            zip(sortedMagnitudes, caps).reduce(0) { $0 + min($1.1, atMost($1.0, t)) }
        }
        guard wanted > 0 else { return caps.map { _ in 0 } }
        // Non-negative floats order like their bit patterns: bisect on those (finite values only).
        var lo: UInt32 = 0, hi = Float.greatestFiniteMagnitude.bitPattern
        if capped(Float(bitPattern: hi)) < wanted {
            // Only infinities/NaNs left: take everything the caps allow.
            return zip(sortedMagnitudes, caps).map { min($0.count, $1) }
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if capped(Float(bitPattern: mid)) >= wanted { hi = mid } else { lo = mid + 1 }
        }
        let t = Float(bitPattern: lo)
        var counts = zip(sortedMagnitudes, caps).map { min($1, below($0, t)) }
        var remaining = wanted - counts.reduce(0, +)
        for k in counts.indices where remaining > 0 {
            let extra = min(remaining, min(caps[k], atMost(sortedMagnitudes[k], t)) - counts[k])
            counts[k] += extra
            remaining -= extra
        }
        return counts
    }

    /// `t` with its `count` smallest-magnitude elements set to zero (ties: lower index first).
    static func zeroingSmallest(_ t: Tensor, count: Int) -> Tensor {
        guard count > 0 else { return t }
        var out = t
        let order = t.data.indices.sorted { a, b in
            let x = magnitude(t.data[a]), y = magnitude(t.data[b])
            return x != y ? x < y : a < b
        }
        for i in order.prefix(count) { out.data[i] = 0 }
        return out
    }
}

/// `90.00%`.
func percent(_ fraction: Double) -> String {
    let hundredths = Int((fraction * 10000).rounded())
    let whole = hundredths / 100, rest = hundredths % 100
    return "\(whole).\(rest < 10 ? "0" : "")\(rest)%"
}
