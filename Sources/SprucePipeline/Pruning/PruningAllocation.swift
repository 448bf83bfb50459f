// How a target sparsity is shared among layers: uniform per layer (what tfmot does), one global
// magnitude threshold with a per-layer minimum density, or by measured sensitivity (each layer's
// validation-metric loss at several sparsities). The target counts the layers that take part
// (compress) or every conv/Gemm weight (pack); excluded layers keep every weight. The allocator is
// the one pruner: it computes per-layer sparsities, MagnitudeMask turns them into masks, and
// `prune` applies them at once (one-shot; gradual pruning is the fine-tune stage's schedule).
import SpruceCore

/// How the overall sparsity is divided among the layers that are pruned.
public enum AllocationStrategy: Sendable, Equatable, Codable {
    /// Every pruned layer loses the same fraction (tfmot's `prune_low_magnitude`).
    case uniform
    /// One magnitude threshold over all pruned layers; each keeps at least `minimumDensity`.
    case global(minimumDensity: Double)
    /// Layers that lose least validation AUC when pruned alone are pruned hardest; losses are
    /// measured at `sparsities` (one layer at a time) and interpolated.
    case sensitivity(sparsities: [Double])

    /// The name used in recipes and on the command line.
    public var name: String {
        switch self {
        case .uniform: "uniform"
        case .global: "global"
        case .sensitivity: "sensitivity"
        }
    }

    /// The default measurement grid of the sensitivity strategy.
    public static let defaultSensitivitySparsities = [0.5, 0.75, 0.9, 0.95]

    /// The strategy called `name` with default parameters.
    public init?(name: String) {
        switch name {
        case "uniform": self = .uniform
        case "global": self = .global(minimumDensity: 0.05)
        case "sensitivity": self = .sensitivity(sparsities: Self.defaultSensitivitySparsities)
        default: return nil
        }
    }

    private enum CodingKeys: String, CodingKey { case strategy, minimumDensity, sparsities }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .strategy)
        switch name {
        case "uniform": self = .uniform
        case "global": self = .global(minimumDensity: try c.decodeIfPresent(Double.self, forKey: .minimumDensity) ?? 0.05)
        case "sensitivity":
            self = .sensitivity(sparsities: try c.decodeIfPresent([Double].self, forKey: .sparsities)
                                ?? Self.defaultSensitivitySparsities)
        default:
            throw DecodingError.dataCorruptedError(forKey: .strategy, in: c,
                                                   debugDescription: "unknown allocation '\(name)' (uniform, global, sensitivity)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .strategy)
        switch self {
        case .uniform: break
        case .global(let d): try c.encode(d, forKey: .minimumDensity)
        case .sensitivity(let s): try c.encode(s, forKey: .sparsities)
        }
    }
}

/// What a target sparsity is a fraction of.
public enum SparsityScope: String, Sendable, Codable, CaseIterable {
    /// The weights of the layers that are pruned (`spruce compress`).
    case prunedLayers = "pruned_layers"
    /// Every conv/Gemm weight, layers left dense included (`spruce pack`): the pruned layers prune
    /// harder to make up for the dense ones.
    case allWeights = "all_weights"
}

/// Which layers are pruned, how the sparsity is shared, and in what units.
public struct PruningOptions: Sendable, Equatable, Codable {
    /// How the target is divided among layers.
    public var allocation: AllocationStrategy
    /// Layer roles left dense.
    public var exclude: Set<LayerRole>
    /// Single weights or 1×4 / 4×1 blocks.
    public var block: PruningBlock
    /// No layer loses more than this fraction.
    public var maxLayerSparsity: Double
    /// What the target is a fraction of.
    public var scope: SparsityScope
    /// A layer with an excluded role is left dense only when it holds at most this fraction of all
    /// conv/Gemm weights (1: always).
    public var excludeUpTo: Double

    /// The documented defaults: uniform allocation (tfmot's); first conv, depthwise convs and
    /// classifier left dense; single weights; at most 98 % of any layer; the target counts the
    /// pruned layers. `spruce compress` uses `.global(minimumDensity: 0.05)` (`CompressOptions`).
    public init(allocation: AllocationStrategy = .uniform, exclude: Set<LayerRole> = Set(LayerRole.allCases),
                block: PruningBlock = .single, maxLayerSparsity: Double = 0.98, scope: SparsityScope = .prunedLayers,
                excludeUpTo: Double = 1) {
        self.allocation = allocation
        self.exclude = exclude
        self.block = block
        self.maxLayerSparsity = maxLayerSparsity
        self.scope = scope
        self.excludeUpTo = excludeUpTo
    }

    /// `spruce pack --sparsity`: a fraction of all conv/Gemm weights, one global magnitude
    /// threshold, at most 98 % of any layer; unless `pruneAll`, the first conv, depthwise convs and
    /// classifier are left dense when each holds at most 2 % of the weights.
    public static func oneShot(pruneAll: Bool = false, uniform: Bool = false) -> PruningOptions {
        PruningOptions(allocation: uniform ? .uniform : .global(minimumDensity: 0.02),
                       exclude: pruneAll ? [] : Set(LayerRole.allCases),
                       maxLayerSparsity: 0.98, scope: .allWeights, excludeUpTo: 0.02)
    }

    /// Whether `layer` is left dense, in a graph of `totalWeights` conv/Gemm weights.
    func isExcluded(_ layer: PrunableLayer, totalWeights: Int) -> Bool {
        !layer.roles.isDisjoint(with: exclude) && Double(layer.elements) <= excludeUpTo * Double(totalWeights)
    }

    /// The layers of `graph` that take part (not excluded).
    public func participating(in graph: Graph) -> [PrunableLayer] {
        let layers = graph.prunableLayers()
        let total = layers.reduce(0) { $0 + $1.elements }
        return layers.filter { !isExcluded($0, totalWeights: total) }
    }

    /// The layers of `graph` left dense.
    func excludedLayers(in graph: Graph) -> [PrunableLayer] {
        let layers = graph.prunableLayers()
        let total = layers.reduce(0) { $0 + $1.elements }
        return layers.filter { isExcluded($0, totalWeights: total) }
    }
}

/// Each layer's metric loss when it alone is pruned to each measured sparsity.
public struct SensitivityTable: Sendable, Equatable, Codable {
    /// The metric (validation AUC) of the unpruned model.
    public var baseline: Double
    /// Sparsities measured, increasing.
    public var sparsities: [Double]
    /// Per weight tensor: baseline − metric at each sparsity.
    public var losses: [String: [Double]]

    /// A table from its parts.
    public init(baseline: Double, sparsities: [Double], losses: [String: [Double]]) {
        self.baseline = baseline
        self.sparsities = sparsities
        self.losses = losses
    }

    /// Measures `layers` of `graph` one at a time: each pruned alone by magnitude at each sparsity,
    /// scored with `evaluate` (higher is better). `progress` is told each layer done.
    public static func measure(graph: Graph, layers: [PrunableLayer], sparsities: [Double], block: PruningBlock,
                               evaluate: (Graph) throws -> Double,
                               progress: (Int, Int) -> Void = { _, _ in }) throws -> SensitivityTable {
        let grid = sparsities.filter { $0 > 0 && $0 < 1 }.sorted()
        let baseline = try evaluate(graph)
        var losses: [String: [Double]] = [:]
        for (k, layer) in layers.enumerated() {
            guard let w = graph.initializers[layer.tensor] else { continue }
            var row: [Double] = []
            for s in grid {
                var g = graph
                let mask = MagnitudeMask.mask(w.data, rows: layer.rows, columns: layer.columns, sparsity: s, block: block)
                g.initializers[layer.tensor] = MagnitudeMask.apply(mask, to: w)
                row.append(baseline - (try evaluate(g)))
            }
            losses[layer.tensor] = row
            progress(k + 1, layers.count)
        }
        return SensitivityTable(baseline: baseline, sparsities: grid, losses: losses)
    }
}

/// Shares a target sparsity among layers.
///
/// ```swift
/// let perLayer = try PruningAllocator(options: PruningOptions()).allocate(target: 0.9, graph: graph)
/// ```
public struct PruningAllocator: Sendable {
    /// Strategy, exclusions, block shape and per-layer cap.
    public var options: PruningOptions

    /// An allocator with `options`.
    public init(options: PruningOptions) {
        self.options = options
    }

    /// The layers of `graph` split into those that take part and those left dense, with counts.
    private struct Layout {
        var participating: [PrunableLayer]
        var excluded: [PrunableLayer]
        /// Weights of the participating layers.
        var participatingWeights: Int
        /// Weights of every conv/Gemm layer.
        var totalWeights: Int
        /// Exact zeros already in the excluded layers (they count under `.allWeights`).
        var excludedZeros: Int
        /// Exact zeros already in every conv/Gemm layer.
        var totalZeros: Int
    }

    private func layout(_ graph: Graph) -> Layout {
        let all = graph.prunableLayers()
        let total = all.reduce(0) { $0 + $1.elements }
        var l = Layout(participating: [], excluded: [], participatingWeights: 0, totalWeights: total, excludedZeros: 0, totalZeros: 0)
        for layer in all {
            let zeros = Self.zeroCount(graph.initializers[layer.tensor])
            l.totalZeros += zeros
            if options.isExcluded(layer, totalWeights: total) {
                l.excluded.append(layer)
                l.excludedZeros += zeros
            } else {
                l.participating.append(layer)
                l.participatingWeights += layer.elements
            }
        }
        return l
    }

    /// Per participating weight tensor, the fraction to prune so that a fraction `target` of the
    /// weights `options.scope` names is pruned. `sensitivity` is required by the sensitivity strategy.
    public func allocate(target: Double, graph: Graph, sensitivity: SensitivityTable? = nil) throws(PruningError) -> [String: Double] {
        guard target >= 0, target < 1, target.isFinite else { throw .invalidSparsity(target) }
        let l = layout(graph)
        guard !l.participating.isEmpty else {
            if target == 0 { return [:] }
            throw .noPrunableWeights
        }
        let cap = min(max(options.maxLayerSparsity, 0), 1)
        // Zeros wanted in the participating layers.
        let wanted: Int
        switch options.scope {
        case .prunedLayers:
            wanted = Int((target * Double(l.participatingWeights)).rounded())
        case .allWeights:
            let all = Int((target * Double(l.totalWeights)).rounded())
            // Zeros are never filled back in: more than asked (beyond the tolerance) is an error.
            if l.totalZeros > all, Double(l.totalZeros - all) / Double(l.totalWeights) > PruningReport.allowedGap(weightCount: l.totalWeights) {
                throw .alreadySparser(requested: target, current: Double(l.totalZeros) / Double(l.totalWeights))
            }
            wanted = max(0, all - l.excludedZeros)
        }
        let share = Double(wanted) / Double(l.participatingWeights)
        let reachable = reachableCount(l, cap: cap)
        if share > cap + 1e-12 || wanted > reachable {
            throw .unreachable(requested: target, reachable: fraction(ofParticipatingZeros: reachable, l), hint: unreachableHint(l, cap: cap))
        }
        switch options.allocation {
        case .uniform:
            return Dictionary(uniqueKeysWithValues: l.participating.map { ($0.tensor, share) })
        case .global(let minimumDensity):
            let caps = Self.globalCaps(l.participating, cap: cap, minimumDensity: minimumDensity)
            let sorted = l.participating.map { (graph.initializers[$0.tensor]?.data ?? []).map(MagnitudeMask.magnitude).sorted() }
            let counts = Self.zerosPerLayer(sortedMagnitudes: sorted, caps: caps, wanted: wanted)
            return Dictionary(uniqueKeysWithValues: zip(l.participating, counts).map {
                ($0.tensor, $0.elements == 0 ? 0 : Double($1) / Double($0.elements))
            })
        case .sensitivity:
            guard let sensitivity else { throw .unreachable(requested: target, reachable: 0, hint: "(sensitivity allocation needs measured losses)") }
            return Self.sensitivityAllocation(target: share, layers: l.participating, table: sensitivity, cap: cap)
        }
    }

    /// The most zeros the participating layers may hold.
    private func reachableCount(_ l: Layout, cap: Double) -> Int {
        if case .global(let minimumDensity) = options.allocation {
            return Self.globalCaps(l.participating, cap: cap, minimumDensity: minimumDensity).reduce(0, +)
        }
        return Int((cap * Double(l.participatingWeights)).rounded())
    }

    /// `zeros` in the participating layers as a sparsity in `options.scope`'s units.
    private func fraction(ofParticipatingZeros zeros: Int, _ l: Layout) -> Double {
        switch options.scope {
        case .prunedLayers: Double(zeros) / Double(max(l.participatingWeights, 1))
        case .allWeights: Double(zeros + l.excludedZeros) / Double(max(l.totalWeights, 1))
        }
    }

    private func unreachableHint(_ l: Layout, cap: Double) -> String {
        var limit: String
        if case .global(let minimumDensity) = options.allocation, minimumDensity > 1 - cap {
            limit = "with every layer keeping at least \(percent(min(1, max(0, minimumDensity)))) of its weights"
        } else {
            limit = "with at most \(percent(cap)) of each layer pruned"
        }
        if options.scope == .allWeights && !l.excluded.isEmpty {
            limit = "with the small first conv, depthwise convs and classifier left dense and " + limit.dropFirst("with ".count) + " (try --prune-all)"
        }
        return limit
    }

    /// The largest overall sparsity `allocate` accepts for `graph`: the per-layer cap, and under
    /// global allocation also each layer's minimum density (0 when no layer takes part).
    public func reachableSparsity(graph: Graph) -> Double {
        let l = layout(graph)
        guard !l.participating.isEmpty else { return 0 }
        let cap = min(max(options.maxLayerSparsity, 0), 1)
        if case .global = options.allocation {} else if options.scope == .prunedLayers { return cap }
        let count = reachableCount(l, cap: cap)
        var s = min(fraction(ofParticipatingZeros: count, l), options.scope == .prunedLayers ? cap : 1)
        // The largest fraction whose rounded count `allocate` still accepts.
        let units = options.scope == .prunedLayers ? l.participatingWeights : l.totalWeights
        let offset = options.scope == .prunedLayers ? 0 : l.excludedZeros
        while s > 0 && Int((s * Double(units)).rounded()) - offset > count { s = s.nextDown }
        return s
    }

    /// One-shot pruning: `graph` with a fraction `target` of its weights (in `options.scope`'s
    /// units) pruned as allocated, and what was done.
    public func prune(_ graph: Graph, target: Double, sensitivity: SensitivityTable? = nil) throws(PruningError) -> (Graph, PruningReport) {
        let perLayer = try allocate(target: target, graph: graph, sensitivity: sensitivity)
        let pruned = graph.applyingMasks(masks(for: graph, sparsities: perLayer))
        return (pruned, PruningReport(requested: target, before: graph, after: pruned, options: options))
    }

    /// Per layer, the most weights global allocation may prune.
    private static func globalCaps(_ layers: [PrunableLayer], cap: Double, minimumDensity: Double) -> [Int] {
        let layerCap = min(cap, 1 - max(0, minimumDensity))
        return layers.map { Int((layerCap * Double($0.elements)).rounded(.down)) }
    }

    /// Exact zeros in a tensor.
    static func zeroCount(_ t: Tensor?) -> Int {
        guard let t else { return 0 }
        return t.data.withUnsafeBufferPointer { p in p.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }
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

    /// Per-layer sparsities where every layer sits at the same interpolated loss τ, τ chosen by
    /// bisection so the weighted mean sparsity equals `target`.
    static func sensitivityAllocation(target: Double, layers: [PrunableLayer], table: SensitivityTable,
                                      cap: Double) -> [String: Double] {
        // Loss curves through (0, 0), made increasing (running max plus a tiny slope) so the
        // inverse is a continuous function of τ.
        let curves: [[(x: Double, y: Double)]] = layers.map { layer in
            var points: [(Double, Double)] = [(0, 0)]
            let row = table.losses[layer.tensor] ?? table.sparsities.map { _ in 0 }
            var running = 0.0
            for (s, loss) in zip(table.sparsities, row) where s <= cap {
                running = max(running, loss.isFinite ? loss : 1)
                points.append((s, running + 1e-6 * s))
            }
            if let last = points.last, last.0 < cap {
                // Beyond the grid: continue with the last slope (at least the tiny one).
                let prev = points.count > 1 ? points[points.count - 2] : (0, 0)
                let slope = max((last.1 - prev.1) / max(last.0 - prev.0, 1e-9), 1e-6)
                points.append((cap, last.1 + slope * (cap - last.0)))
            }
            return points.map { (x: $0.0, y: $0.1) }
        }
        func sparsity(_ curve: [(x: Double, y: Double)], at tau: Double) -> Double {
            guard let last = curve.last else { return 0 }
            if tau >= last.y { return last.x }
            for k in 1..<curve.count where tau < curve[k].y {
                let a = curve[k - 1], b = curve[k]
                return a.x + (b.x - a.x) * max(0, tau - a.y) / max(b.y - a.y, 1e-12)
            }
            return last.x
        }
        let total = Double(layers.reduce(0) { $0 + $1.elements })
        func mean(_ tau: Double) -> Double {
            zip(layers, curves).reduce(0) { $0 + Double($1.0.elements) * sparsity($1.1, at: tau) } / total
        }
        var lo = 0.0, hi = (curves.compactMap { $0.last?.y }.max() ?? 1) + 1
        for _ in 0..<100 {
            let mid = (lo + hi) / 2
            if mean(mid) >= target { hi = mid } else { lo = mid }
        }
        return Dictionary(uniqueKeysWithValues: zip(layers, curves).map { ($0.tensor, min(cap, sparsity($1, at: hi))) })
    }

    /// `masks` with every weight `earlier` pruned pruned too: an earlier prune stage's zeros stay.
    static func keepingEarlier(_ masks: [String: [Bool]], _ earlier: [String: [Bool]]) -> [String: [Bool]] {
        var out = masks
        for (name, old) in earlier {
            if let new = out[name], new.count == old.count { out[name] = zip(new, old).map { $0 && $1 } } else { out[name] = old }
        }
        return out
    }

    /// Keep-masks for every participating layer at the given per-layer sparsities.
    public func masks(for graph: Graph, sparsities: [String: Double]) -> [String: [Bool]] {
        var out: [String: [Bool]] = [:]
        for layer in graph.prunableLayers() {
            guard let s = sparsities[layer.tensor], let w = graph.initializers[layer.tensor] else { continue }
            out[layer.tensor] = MagnitudeMask.mask(w.data, rows: layer.rows, columns: layer.columns, sparsity: s,
                                                   block: options.block)
        }
        return out
    }
}

extension Graph {
    /// This graph with every masked-out weight set to exactly zero.
    public func applyingMasks(_ masks: [String: [Bool]]) -> Graph {
        var g = self
        for (name, mask) in masks {
            if let t = g.initializers[name] { g.initializers[name] = MagnitudeMask.apply(mask, to: t) }
        }
        return g
    }
}
