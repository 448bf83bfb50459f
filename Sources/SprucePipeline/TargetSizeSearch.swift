// The byte-budget search, one component for the stages that need it. Before fine-tuning (`run`,
// for prune) it finds the sparsity (and whether int8 is needed) whose packed artifact fits: each
// candidate is pruned one-shot from the current weights, folded, and encoded in memory with the
// same writer and metadata as `pack`, so the size is exact; a bisection over sparsity finds the
// least pruning that fits. After fine-tuning (`fit`, for encode) it prunes every pruned layer a
// little further when fine-tuning moved the size over the budget. Also parses and prints sizes
// (B, KB, MB, KiB, MiB; KB = 1000 bytes).
import Foundation
import SpruceCore
import SpruceFormat

/// The outcome of a target-size search.
public struct TargetSizeResult: Sendable, Equatable {
    /// Sparsity of the participating layers.
    public var sparsity: Double
    /// Whether int8 is needed.
    public var int8: Bool
    /// Exact artifact bytes at that point (before fine-tuning).
    public var bytes: Int
}

/// Bisection over sparsity for a byte budget.
///
/// ```swift
/// let r = try TargetSizeSearch(budget: 300_000, options: PruningOptions()).run(model: model, sourceName: "m.onnx")
/// ```
public struct TargetSizeSearch: Sendable {
    /// The budget in bytes.
    public var budget: Int
    /// Allocation, exclusions, block shape and per-layer cap.
    public var options: PruningOptions
    /// Whether int8 may or must be used.
    public var int8: Int8Policy
    /// Bits per quantized value when int8 is used: 8, or 2…7 packed.
    public var valueBits = 8
    /// zstd level of the writer.
    public var zstdLevel: Int
    /// Sparsity resolution of the bisection.
    public var resolution: Double

    /// With `.auto`, float32 is kept when it fits at or below this sparsity; above it int8 is used
    /// (int8 costs far less accuracy than pruning the last few percent).
    public static let preferFloatUpTo = 0.9

    /// A search with the default resolution of 0.001.
    public init(budget: Int, options: PruningOptions, int8: Int8Policy = .auto, zstdLevel: Int = 6, resolution: Double = 0.001) {
        self.budget = budget
        self.options = options
        self.int8 = int8
        self.zstdLevel = zstdLevel
        self.resolution = resolution
    }

    /// The least sparsity (and int8 choice) that fits, or `StageError.budgetUnreachable`.
    /// `describe(sparsity)` is the pruning description `pack` will write (it is part of the size).
    public func run(model: Model, sourceName: String, sensitivity: SensitivityTable? = nil,
                    describe: @escaping (Double) -> String = { _ in "none" },
                    events: @Sendable (PipelineEvent) -> Void = { _ in }) throws -> TargetSizeResult {
        let sizer = try Sizer(search: self, model: model, sourceName: sourceName, sensitivity: sensitivity, describe: describe)
        let maxSparsity = sizer.allocator.reachableSparsity(graph: model.graph)
        var evaluations = 0
        func size(_ s: Double, _ int8: Bool) throws -> Int {
            evaluations += 1
            events(.progress(stage: "prune", done: evaluations, total: 0,
                             detail: "size search: \(percent(s))\(int8 ? " int8" : "")"))
            return try sizer.bytes(sparsity: s, int8: int8)
        }
        /// Least sparsity in [0, maxSparsity] that fits with `int8`, or nil.
        func search(_ int8: Bool) throws -> (Double, Int)? {
            try leastFitting(upTo: maxSparsity) { try size($0, int8) }
        }
        switch int8 {
        case .always:
            if let (s, b) = try search(true) { return TargetSizeResult(sparsity: s, int8: true, bytes: b) }
        case .never:
            if let (s, b) = try search(false) { return TargetSizeResult(sparsity: s, int8: false, bytes: b) }
        case .auto:
            if let (s, b) = try search(false), s <= Self.preferFloatUpTo {
                return TargetSizeResult(sparsity: s, int8: false, bytes: b)
            }
            if let (s, b) = try search(true) { return TargetSizeResult(sparsity: s, int8: true, bytes: b) }
        }
        let useInt8 = int8 != .never
        let smallest = try size(maxSparsity, useInt8)
        let values = useInt8 ? (valueBits == 8 ? "int8" : "\(valueBits)-bit values") : "float32"
        let excluded = options.exclude.map(\.rawValue).sorted()
        var how: String
        switch options.allocation {
        case .global(let minimumDensity):
            how = "\(values), \(percent(maxSparsity)) of the pruned layers' weights with every layer keeping at least \(percent(max(minimumDensity, 1 - options.maxLayerSparsity)))"
        case .uniform, .sensitivity:
            how = "\(values), \(percent(maxSparsity)) of every pruned layer"
        }
        if !excluded.isEmpty { how += ", \(excluded.joined(separator: "/")) left dense" }
        throw StageError.budgetUnreachable(budget: budget, smallest: smallest, how: how)
    }

    /// The least sparsity in [0, `top`] (to `resolution`, by bisection) whose `bytes` fit the
    /// budget, with those bytes; nil when not even `top` fits.
    func leastFitting(upTo top: Double, _ bytes: (Double) throws -> Int) throws -> (sparsity: Double, bytes: Int)? {
        let topBytes = try bytes(top)
        guard topBytes <= budget else { return nil }
        let zero = try bytes(0)
        if zero <= budget { return (0, zero) }
        var lo = 0.0, hi = top, hiBytes = topBytes
        while hi - lo > resolution {
            let mid = (lo + hi) / 2
            let b = try bytes(mid)
            if b <= budget { (hi, hiBytes) = (mid, b) } else { lo = mid }
        }
        return (hi, hiBytes)
    }

    /// Exact packed sizes of one model pruned one-shot to a sparsity (allocated by the search's
    /// options), lowered and encoded with the same writer and metadata as `pack`.
    struct Sizer {
        let search: TargetSizeSearch
        let model: Model
        let lowered: Graph
        let sourceName: String
        let allocator: PruningAllocator
        let sensitivity: SensitivityTable?
        let describe: (Double) -> String

        init(search: TargetSizeSearch, model: Model, sourceName: String, sensitivity: SensitivityTable?,
             describe: @escaping (Double) -> String) throws {
            do { lowered = try model.graph.lowered() } catch {
                throw StageError.failed(stage: "prune", reason: "\(sourceName): cannot lower for inference: \(error)")
            }
            (self.search, self.model, self.sourceName, self.sensitivity, self.describe) = (search, model, sourceName, sensitivity, describe)
            allocator = PruningAllocator(options: search.options)
        }

        /// Keep-masks of the training-form weights at `sparsity`.
        func masks(sparsity: Double) throws -> [String: [Bool]] {
            allocator.masks(for: model.graph, sparsities: try allocator.allocate(target: sparsity, graph: model.graph, sensitivity: sensitivity))
        }

        /// Bytes at `sparsity`, with `widths` per layer node (mixed precision) over `search.valueBits`.
        func bytes(sparsity: Double, int8: Bool, widths: [String: Int] = [:]) throws -> Int {
            let masks = lowered.carrying(try masks(sparsity: sparsity), from: model.graph)
            var state = PipelineState(model: Model(graph: lowered.applyingMasks(masks), metadata: model.metadata,
                                                   producer: model.producer), sourceName: sourceName)
            state.int8 = int8
            state.valueWidths = widths
            state.pruningDescription = describe(sparsity)
            return try ArtifactContents.bytes(state, zstdLevel: search.zstdLevel, valueBits: search.valueBits).count
        }
    }

    /// After fine-tuning: the folded `state` with every pruned layer raised to min(cap, its
    /// sparsity + δ), δ the least (to 0.001) whose artifact fits the budget, one-shot without
    /// further fine-tuning; or `StageError.budgetUnreachable`.
    func fit(_ state: PipelineState, cancellation: CancellationFlag) throws -> (graph: Graph, delta: Double) {
        let base = state.model.graph
        let layers = options.participating(in: base)
        let current = Dictionary(uniqueKeysWithValues: layers.map { layer -> (String, Double) in
            let t = base.initializers[layer.tensor]
            return (layer.tensor, 1 - Double(StageReport.nonzeros(t?.data ?? [])) / Double(max(t?.count ?? 1, 1)))
        })
        let allocator = PruningAllocator(options: options)
        func trial(_ delta: Double) throws -> (Graph, Int) {
            try cancellation.check()
            let raised = current.mapValues { min(options.maxLayerSparsity, max($0, $0 + delta)) }
            var t = state
            t.model.graph = base.applyingMasks(allocator.masks(for: base, sparsities: raised))
            return (t.model.graph, try ArtifactContents.bytes(t, zstdLevel: zstdLevel, valueBits: valueBits).count)
        }
        var lo = 0.0, hi = options.maxLayerSparsity
        var best = try trial(hi)
        guard best.1 <= budget else {
            throw StageError.budgetUnreachable(budget: budget, smallest: best.1,
                                               how: "after fine-tuning, with every pruned layer at its \(percent(options.maxLayerSparsity)) cap")
        }
        while hi - lo > resolution {
            let mid = (lo + hi) / 2
            let t = try trial(mid)
            if t.1 <= budget { (hi, best) = (mid, t) } else { lo = mid }
        }
        return (best.0, hi)
    }
}

/// Byte sizes as people write them.
public enum ByteSize {
    /// Why a size did not parse.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The text given.
        public var text: String
        public var description: String {
            "'\(text)' is not a size (a number with B, KB, MB, GB, KiB, MiB or GiB; KB = 1000 bytes, KiB = 1024)"
        }
    }

    /// Bytes in `text`: `300KB`, `1.5 MB`, `256KiB`, `4096`, `4096B` (rounded down to whole bytes).
    public static func parse(_ text: String) throws(ParseError) -> Int {
        let t = text.trimmingCharacters(in: .whitespaces)
        let digits = t.prefix { $0.isNumber || $0 == "." }
        let unit = t.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        let factors: [String: Double] = ["": 1, "b": 1, "kb": 1e3, "k": 1e3, "mb": 1e6, "m": 1e6, "gb": 1e9,
                                         "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824]
        guard let number = Double(digits), number.isFinite, let factor = factors[unit] else { throw ParseError(text: text) }
        let bytes = (number * factor).rounded(.down)
        guard bytes >= 1, bytes < 1e15 else { throw ParseError(text: text) }
        return Int(bytes)
    }

    /// `1,234,567` (`-1,234` for negative numbers).
    public static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude).reversed().enumerated().reduce(into: "") { s, e in
            if e.offset > 0 && e.offset % 3 == 0 { s.append(",") }
            s.append(e.element)
        }
        return (n < 0 ? "-" : "") + String(digits.reversed())
    }

    /// `123,456 bytes (123.5 KB)`.
    public static func format(_ bytes: Int) -> String {
        let plain = grouped(bytes) + " bytes"
        if bytes >= 1_000_000 { return plain + String(format: " (%.2f MB)", Double(bytes) / 1e6) }
        if bytes >= 1_000 { return plain + String(format: " (%.1f KB)", Double(bytes) / 1e3) }
        return plain
    }
}
