// Mixed precision under a byte budget (`spruce compress --target-size … --bits mixed`): the
// target-size search chooses each layer's sparsity (the allocation strategy at one overall
// sparsity) and each quantized layer's value width, judged by the mean squared change of the
// model's outputs on validation images from the float model's. Each quantized layer is measured
// alone rounded to 2, 3 and 4 bits (wider widths extrapolated: rounding noise power falls 4× per
// bit). At each of six candidate sparsities a greedy allocation narrows, one step at a time, the
// layer whose next narrower width adds the least predicted change per byte it saves, until the
// exact packed size fits; then the model pruned one-shot and rounded at those widths is measured
// as a whole, and the candidate that changes the outputs least wins.
import Foundation
import SpruceCore
import SpruceFormat
import SpruceTrain

/// Per-layer predicted output change of narrower values.
public struct WidthSensitivity: Sendable, Equatable, Codable {
    /// Widths measured, increasing.
    public var widths: [Int]
    /// Per layer node: the mean squared change of the outputs with that layer alone rounded at
    /// each measured width.
    public var changes: [String: [Double]]

    /// The widths `measure` rounds each layer to.
    public static let measured = [2, 3, 4]
    /// The widths an allocation chooses from, narrowest first.
    public static let candidates = [2, 3, 4, 5, 6, 8]

    /// A table from its parts.
    public init(widths: [Int], changes: [String: [Double]]) {
        self.widths = widths
        self.changes = changes
    }

    /// Mean squared difference of two output vectors.
    public static func change(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return .infinity }
        return zip(a, b).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / Double(a.count)
    }

    /// Measures each layer of `layers` (conv/Gemm node and its weight tensor in the session's
    /// training-form model): rounded alone, per row as the writer stores it, to each of `widths`;
    /// `outputs` runs the session on the validation images, `reference` is what it gave unrounded.
    /// The session is left without rounding. `progress` is told each layer done.
    public static func measure(session: TrainingSession, reference: [Float], layers: [(node: String, tensor: String)],
                               widths: [Int] = measured, outputs: (TrainingSession) throws -> [Float],
                               progress: (Int, Int) -> Void = { _, _ in }) throws -> WidthSensitivity {
        defer { try? session.setRoundedWeights([:]) }
        var changes: [String: [Double]] = [:]
        for (k, layer) in layers.enumerated() {
            changes[layer.node] = try widths.map { bits in
                try session.setRoundedWeights([layer.tensor: bits])
                return change(reference, try outputs(session))
            }
            progress(k + 1, layers.count)
        }
        return WidthSensitivity(widths: widths.sorted(), changes: changes)
    }

    /// Predicted output change of `node`'s values at `bits`: never less than at a wider width (the
    /// largest measured at this width or a wider one); above the widest width measured, its change
    /// divided by 4 per extra bit; 0 at 8 bits (int8 rounding is the reference's, below the
    /// measurement's resolution) and for a layer not measured.
    public func predicted(_ node: String, bits: Int) -> Double {
        guard bits < 8, let row = changes[node], let top = widths.last else { return 0 }
        if bits > top { return max(0, row.last ?? 0) * pow(0.25, Double(bits - top)) }
        var worst = 0.0
        for (b, l) in zip(widths, row) where b >= bits { worst = max(worst, l) }
        return worst
    }

    /// Stored bytes of one value at `bits`, for estimates: packed values do not compress, int8
    /// values take about 7 bits after zstd (docs/RESULTS.md).
    static func bytesPerValue(_ bits: Int) -> Double { bits == 8 ? 7.0 / 8 : Double(bits) / 8 }

    /// Widths from `candidates` per layer node of `values` (the values each layer stores: its
    /// non-zeros) whose estimated bytes are at least `saving` below all int8: each step narrows
    /// the layer whose next narrower width adds the least predicted change per byte saved (ties:
    /// the larger saving). nil when every layer at the narrowest width saves less.
    public func allocate(values: [String: Int], saving: Double) -> [String: Int]? {
        var width = values.mapValues { _ in 8 }
        var saved = 0.0
        let nodes = values.keys.sorted()
        while saved < saving {
            var best: (node: String, bits: Int, bytes: Double, cost: Double)?
            for node in nodes {
                guard let current = width[node], let next = Self.candidates.last(where: { $0 < current }) else { continue }
                let bytes = Double(values[node] ?? 0) * (Self.bytesPerValue(current) - Self.bytesPerValue(next))
                guard bytes > 0 else { continue }
                let cost = (predicted(node, bits: next) - predicted(node, bits: current)) / bytes
                if let b = best, cost > b.cost || (cost == b.cost && bytes <= b.bytes) { continue }
                best = (node, next, bytes, cost)
            }
            guard let step = best else { return nil }
            width[step.node] = step.bits
            saved += step.bytes
        }
        return width
    }

    /// Predicted output change of a whole allocation.
    public func predicted(of widths: [String: Int]) -> Double {
        widths.reduce(0) { $0 + predicted($1.key, bits: $1.value) }
    }
}

/// What a mixed-precision target-size search chose.
public struct MixedWidthResult: Sendable {
    /// Sparsity of the participating layers.
    public var sparsity: Double
    /// Value width per quantized layer node.
    public var widths: [String: Int]
    /// Exact artifact bytes at that point (before fine-tuning).
    public var bytes: Int
    /// Measured output change (mean squared) of the model pruned one-shot and rounded at `widths`.
    public var change: Double
    /// The rounding's part of it as the per-layer measurements predict it.
    public var roundingChange: Double
    /// Every candidate tried: sparsity and measured change (nil: no widths fit there).
    public var candidates: [(sparsity: Double, change: Double?)]

    /// `3-bit ×20, 4-bit ×12, int8 ×3` (narrowest first).
    public var widthCounts: String {
        Dictionary(grouping: widths.values, by: { $0 }).sorted { $0.key < $1.key }
            .map { "\($0.key == 8 ? "int8" : "\($0.key)-bit") ×\($0.value.count)" }.joined(separator: ", ")
    }
}

extension TargetSizeSearch {
    /// Candidate sparsities tried between the least that fits with 2-bit values everywhere and
    /// the least that fits with int8 everywhere.
    static let mixedCandidates = 6

    /// The sparsity and per-layer widths whose packed artifact fits the budget with the least
    /// measured output change, or `StageError.budgetUnreachable`. `change(graph, widths)` measures
    /// the training-form model pruned one-shot (`graph`) with its layers rounded to `widths` (by
    /// node); `widths` predicts each layer's rounding to choose them.
    func runMixed(model: Model, sourceName: String, widths: WidthSensitivity, sensitivity: SensitivityTable? = nil,
                  change: (Graph, [String: Int]) throws -> Double, describe: @escaping (Double) -> String = { _ in "none" },
                  events: @Sendable (PipelineEvent) -> Void = { _ in }) throws -> MixedWidthResult {
        let sizer = try Sizer(search: self, model: model, sourceName: sourceName, sensitivity: sensitivity, describe: describe)
        let graph = model.graph
        let quantized = ArtifactWriter.quantizedWeights(in: graph)
        let layers = graph.prunableLayers().filter { quantized.contains($0.tensor) }
        let narrowest = Dictionary(uniqueKeysWithValues: layers.map { ($0.node, WidthSensitivity.candidates[0]) })
        let maxSparsity = sizer.allocator.reachableSparsity(graph: graph)

        /// Least sparsity at which `widths` fit, nil when not even at the most.
        func least(_ widths: [String: Int]) throws -> Double? {
            try leastFitting(upTo: maxSparsity) { try sizer.bytes(sparsity: $0, int8: true, widths: widths) }?.sparsity
        }
        events(.progress(stage: "prune", done: 0, total: 0, detail: "mixed widths: the sparsity range"))
        guard let low = try least(narrowest) else {
            let smallest = try sizer.bytes(sparsity: maxSparsity, int8: true, widths: narrowest)
            throw StageError.budgetUnreachable(budget: budget, smallest: smallest,
                                               how: "2-bit values, \(percent(maxSparsity)) of the pruned layers' weights")
        }
        let high = try least([:]) ?? maxSparsity
        let steps = high - low < resolution ? 1 : Self.mixedCandidates
        let grid = (0..<steps).map { i in steps == 1 ? low : low + (high - low) * Double(i) / Double(steps - 1) }

        var best: MixedWidthResult?
        var tried: [(sparsity: Double, change: Double?)] = []
        for (i, s) in grid.enumerated() {
            events(.progress(stage: "prune", done: i + 1, total: grid.count, detail: "mixed widths at sparsity \(percent(s))"))
            let masks = try sizer.masks(sparsity: s)
            let pruned = graph.applyingMasks(masks)
            // Values each layer stores: its non-zeros.
            var values: [String: Int] = [:]
            for layer in layers {
                values[layer.node] = StageReport.nonzeros(pruned.initializers[layer.tensor]?.data ?? [])
            }
            // The estimate of each width's bytes is close, not exact: ask for a larger saving until
            // it fits (the narrowest widths everywhere when the estimate runs out of layers).
            let allInt8 = try sizer.bytes(sparsity: s, int8: true)
            var fit: (saving: Double, widths: [String: Int], bytes: Int)? = allInt8 <= budget ? (0, [:], allInt8) : nil
            var short = 0.0  // a saving known not to fit
            var saving = Double(allInt8 - budget)
            for _ in 0..<8 where fit == nil {
                let w = widths.allocate(values: values, saving: saving) ?? narrowest
                let b = try sizer.bytes(sparsity: s, int8: true, widths: w)
                if b <= budget { fit = (saving, w, b) } else if w == narrowest { break } else {
                    short = saving
                    saving += Double(b - budget) * 1.25 + 64
                }
            }
            guard var found = fit else { tried.append((s, nil)); continue }
            // Spend what the overshoot left of the budget: a smaller saving narrows a shorter prefix
            // of the same greedy order, so bisect between the saving that fails and the one that fits.
            for _ in 0..<5 where found.saving - short > 64 {
                let mid = (short + found.saving) / 2
                let w = widths.allocate(values: values, saving: mid) ?? narrowest
                let b = try sizer.bytes(sparsity: s, int8: true, widths: w)
                if b <= budget { found = (mid, w, b) } else { short = mid }
            }
            let (w, bytes) = (found.widths.isEmpty ? narrowest.mapValues { _ in 8 } : found.widths, found.bytes)
            let measured = try change(pruned, w)
            tried.append((s, measured))
            if best == nil || measured < best!.change {
                best = MixedWidthResult(sparsity: s, widths: w, bytes: bytes, change: measured,
                                        roundingChange: widths.predicted(of: w), candidates: [])
            }
        }
        guard var result = best else {
            throw StageError.budgetUnreachable(budget: budget, smallest: try sizer.bytes(sparsity: maxSparsity, int8: true, widths: narrowest),
                                               how: "mixed widths from 2 bits at sparsities \(percent(low))–\(percent(high))")
        }
        result.candidates = tried
        return result
    }
}
