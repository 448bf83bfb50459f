// One executable step of a plan: a kernel call with its weights in kernel-ready form and the
// arena slots it reads and writes. Steps hold slot ids, not pointers; `Buffers` resolves them
// against the arena at run time. Steps never allocate while running.
import SpruceCore
import _SpruceSupport

/// The arena and the offset of each slot, handed to every step.
struct Buffers {
    let arena: UnsafeMutablePointer<Float>
    let offsets: UnsafePointer<Int>
    /// This thread's own scratch (`workspaceBytes`).
    let workspace: UnsafeMutableRawPointer
    /// Scratch every thread of a step sees (`sharedWorkspaceBytes`).
    let shared: UnsafeMutableRawPointer

    /// Start of slot `slot`.
    @inline(__always)
    subscript(slot: Int) -> UnsafeMutablePointer<Float> { arena + offsets[slot] }
}

/// A kernel call of the plan.
protocol PlanStep: Sendable {
    /// The node this step computes (for errors and profiles).
    var node: String { get }
    /// Scratch bytes the kernel needs (per thread).
    var workspaceBytes: Int { get }
    /// Scratch bytes all threads of the step share (see `prepareUnits`).
    var sharedWorkspaceBytes: Int { get }
    /// Runs the whole step.
    func run(_ buffers: Buffers)
    /// Output channels (or rows) the step can be split over between threads; 1: not splittable.
    var parallelUnits: Int { get }
    /// Split points are multiples of this (a GEMM panel height, so no thread gets edge tiles).
    var parallelGranularity: Int { get }
    /// Multiply-adds of the whole step: splitting a step much smaller than a thread wake-up is a loss.
    var workEstimate: Int { get }
    /// The units of `parallelUnits` part `part` of `parts` runs: consecutive, disjoint, covering all.
    func units(part: Int, of parts: Int) -> Range<Int>
    /// Units of a preparation phase whose result (in `buffers.shared`) every part reads, e.g. an
    /// input transform; 0: none. A split step runs `prepare` on its share of these units in each
    /// thread, waits until every thread has, then runs its `units`.
    var prepareUnits: Int { get }
    /// Prepares units `units` of the shared scratch.
    func prepare(_ buffers: Buffers, units: Range<Int>)
    /// Runs output channels (rows) `units` only, with this thread's workspace in `buffers`; the
    /// whole preparation phase must be done.
    func run(_ buffers: Buffers, units: Range<Int>)
    /// A short description for profiles (geometry, non-zeros).
    var detail: String { get }
}

extension PlanStep {
    /// Whether a worker pool splits this step between threads: it can be split, and it does
    /// enough work to pay for the hand-off (`Engine.parallelWorkThreshold`). The engine and the
    /// planner (which fuses an Add only into a step that runs whole) ask this one rule.
    var isSplitAcrossThreads: Bool {
        parallelUnits > 1 && workEstimate >= Engine.parallelWorkThreshold
    }

    var sharedWorkspaceBytes: Int { 0 }
    var parallelUnits: Int { 1 }
    var parallelGranularity: Int { 1 }
    var workEstimate: Int { 0 }
    func units(part: Int, of parts: Int) -> Range<Int> {
        splitUnits(parallelUnits, part: part, of: parts, granularity: parallelGranularity)
    }
    var prepareUnits: Int { 0 }
    func prepare(_ buffers: Buffers, units: Range<Int>) {}
    func run(_ buffers: Buffers, units: Range<Int>) { run(buffers) }
    var detail: String { "" }
}

extension ConvGeometry {
    /// "C×H×W→M k×k/s g" for profiles.
    var summary: String {
        "\(inChannels)x\(inHeight)x\(inWidth)->\(outChannels) k\(kernelHeight)x\(kernelWidth) s\(strideHeight) g\(groups)"
    }
}

/// Calls `body` with a pointer to `array` (nil when `array` is nil).
@inline(__always)
func withOptionalPointer<R>(_ array: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Calls `body` with the base address of a non-empty array (plans pad weight arrays to ≥ 1 element).
@inline(__always)
func withBase<T, R>(_ array: [T], _ body: (UnsafePointer<T>) -> R) -> R {
    array.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Calls `body(offset, count)` for the contiguous runs of an output laid out as per-sample
/// [C × plane] blocks that cover channels `channelRange` × positions `positions` of every sample:
/// the part of the output a conv step's call has just written.
@inline(__always)
func forEachOutputRun(batch: Int, channels: Int, plane: Int, channelRange: Range<Int>, positions: Range<Int>,
                      _ body: (_ offset: Int, _ count: Int) -> Void) {
    guard !channelRange.isEmpty, !positions.isEmpty else { return }
    for n in 0..<batch {
        let sample = n * channels * plane
        if positions.count == plane {
            body(sample + channelRange.lowerBound * plane, channelRange.count * plane)
        } else {
            for c in channelRange { body(sample + c * plane + positions.lowerBound, positions.count) }
        }
    }
}

/// out[n, c, p] = clamp(out[n, c, p] + residual[n, c, p]) over the region `forEachOutputRun` names:
/// an Add fused into the convolution that feeds it, and the ReLU after it (see
/// `PlanBuilder.fusingResidualAdd`).
@inline(__always)
func addResidual(_ b: Buffers, residual: Int?, bounds: ActivationBounds, output: Int, batch: Int, channels: Int, plane: Int,
                 channelRange: Range<Int>, positions: Range<Int>) {
    guard let residual else { return }
    let y = b[output], r = b[residual]
    forEachOutputRun(batch: batch, channels: channels, plane: plane, channelRange: channelRange, positions: positions) {
        f32Add(count: $1, a: y + $0, b: r + $0, bounds: bounds, y: y + $0)
    }
}

/// ` +residual`, with ` +clip` when the sum is clamped; empty without a residual.
func residualDetail(_ residual: Int?, _ bounds: ActivationBounds) -> String {
    residual == nil ? "" : bounds == .identity ? " +residual" : " +residual+clip"
}

/// An activation a conv step applies in place to its output after the epilogue (and after a
/// fused residual Add): a HardSwish or a Swish that read only the conv's output (see
/// `PlanBuilder.fusingActivation`).
enum OutputActivation: String, Sendable {
    case hardSwish = "hardswish", swish
}

/// `activation` in place over the region `forEachOutputRun` names (nothing when nil).
@inline(__always)
func activateInPlace(_ b: Buffers, _ activation: OutputActivation?, output: Int, batch: Int, channels: Int, plane: Int,
                     channelRange: Range<Int>, positions: Range<Int>) {
    guard let activation else { return }
    let y = b[output]
    forEachOutputRun(batch: batch, channels: channels, plane: plane, channelRange: channelRange, positions: positions) {
        switch activation {
        case .hardSwish: f32HardSwish(count: $1, x: y + $0, y: y + $0)
        case .swish: f32Swish(count: $1, x: y + $0, y: y + $0)
        }
    }
}

/// Sparse weight structure in kernel form (32-bit indices, 64-bit mask words).
enum SparseIndexStore: Sendable {
    case csr(rowPointers: [UInt32], columns: [UInt32])
    case bitmask(words: [UInt64], rowValueOffsets: [UInt32])
}

/// Stored values in kernel form.
enum SparseValueStore: Sendable {
    case f32([Float])
    case int8([Int8], scales: [Float])
    /// 2–7-bit values as the artifact packs them, plus `packedValueSlack` zero bytes. Only
    /// the row kernels (`SparseConvStep`, `SparseGemmStep`) take them; the plan widens them to
    /// int8 for the others.
    case packed([UInt8], bits: Int, scales: [Float])
}

extension SparseIndexStore {
    /// Calls `body` with the index as the row kernels read it (`wordsPerRow` for bitmask rows).
    @inline(__always)
    func withKernelForm(wordsPerRow: Int, _ body: (SparseIndexing) -> Void) {
        switch self {
        case .csr(let rp, let ci):
            withBase(rp) { rp in withBase(ci) { ci in body(.csr(rowPointers: rp, columnIndices: ci)) } }
        case .bitmask(let words, let offsets):
            withBase(words) { mw in withBase(offsets) { ro in
                body(.bitmask(words: mw, wordsPerRow: wordsPerRow, rowValueOffsets: ro))
            } }
        }
    }
}

extension SparseValueStore {
    /// Calls `body` with the values as the row kernels read them.
    @inline(__always)
    func withKernelForm(_ body: (SparseValues) -> Void) {
        switch self {
        case .f32(let v): withBase(v) { body(.f32($0)) }
        case .int8(let q, let s): withBase(q) { q in withBase(s) { body(.qc8w(q, scales: $0)) } }
        case .packed(let p, let bits, let s): withBase(p) { p in withBase(s) { body(.packed(p, bits: bits, scales: $0)) } }
        }
    }

    /// "f32", "int8" or "int4" (packed) for profiles.
    var summary: String {
        switch self {
        case .f32: "f32"
        case .int8: "int8"
        case .packed(_, let bits, _): "int\(bits)"
        }
    }
}

/// Dense convolution (im2col + GEMM) over packed f32 weights.
struct ConvDenseStep: PlanStep {
    let node: String
    let geometry: ConvGeometry
    let packedWeights: [Float]
    let bias: [Float]?
    let bounds: ActivationBounds
    let input: Int, output: Int
    var batch = 1
    /// Slot added to the output after the epilogue (a fused Add), if any.
    var residual: Int? = nil
    /// Clamp of the sum with the residual (a ReLU after the Add, fused too).
    var residualBounds = ActivationBounds.identity
    /// Applied to the output after the epilogue (a fused HardSwish or Swish).
    var activation: OutputActivation? = nil
    var workspaceBytes: Int { f32ConvDenseWorkspaceBytes(geometry) }
    /// Threads split im2col convolutions with enough output rows by rows (each builds only its
    /// rows' im2col), the others by output channels.
    var splitsRows: Bool {
        geometry.groups == 1 && !geometry.isPointwise && geometry.outHeight >= 8 && geometry.outPlane >= 256
    }
    var parallelUnits: Int { splitsRows ? geometry.outHeight : geometry.outChannels }
    var parallelGranularity: Int { splitsRows ? 1 : geometry.groups == 1 ? f32GemmMR : 1 }
    var workEstimate: Int { batch * geometry.outChannels * geometry.reduction * geometry.outPlane }
    var detail: String { geometry.summary + residualDetail(residual, residualBounds) + (activation.map { " +" + $0.rawValue } ?? "") }
    func run(_ b: Buffers) { run(b, units: 0..<parallelUnits) }
    func run(_ b: Buffers, units: Range<Int>) {
        convolve(b, units: units)
        let g = geometry
        let channels = splitsRows ? 0..<g.outChannels : units
        let positions = splitsRows ? units.lowerBound * g.outWidth..<units.upperBound * g.outWidth : 0..<g.outPlane
        addResidual(b, residual: residual, bounds: residualBounds, output: output, batch: batch, channels: g.outChannels,
                    plane: g.outPlane, channelRange: channels, positions: positions)
        activateInPlace(b, activation, output: output, batch: batch, channels: g.outChannels, plane: g.outPlane,
                        channelRange: channels, positions: positions)
    }
    private func convolve(_ b: Buffers, units: Range<Int>) {
        let g = geometry
        if splitsRows {
            withBase(packedWeights) { w in
                withOptionalPointer(bias) { bias in
                    for n in 0..<batch {
                        f32ConvDenseRows(g, input: b[input] + n * g.inChannels * g.inPlane, packedWeights: w, bias: bias,
                                         bounds: bounds, output: b[output] + n * g.outChannels * g.outPlane,
                                         outputRows: units, workspace: b.workspace)
                    }
                }
            }
            return
        }
        withBase(packedWeights) { w in
            withOptionalPointer(bias) { bias in
                for n in 0..<batch {
                    f32ConvDense(g, input: b[input] + n * g.inChannels * g.inPlane, packedWeights: w, bias: bias,
                                 bounds: bounds, output: b[output] + n * g.outChannels * g.outPlane,
                                 outputChannels: units, workspace: b.workspace)
                }
            }
        }
    }
}

/// Depthwise convolution over dense f32 weights.
struct DWConvStep: PlanStep {
    let node: String
    let geometry: ConvGeometry
    let weights: [Float]
    let bias: [Float]?
    let bounds: ActivationBounds
    let input: Int, output: Int
    var batch = 1
    /// Applied to the output after the epilogue (a fused HardSwish or Swish).
    var activation: OutputActivation? = nil
    /// Slot of the per-channel means of the (activated) output: a GlobalAveragePool of it fused in
    /// (squeeze-and-excitation's squeeze).
    var channelMeans: Int? = nil
    var workspaceBytes: Int { f32DWConvWorkspaceBytes(geometry) }
    var parallelUnits: Int { geometry.outChannels }
    var workEstimate: Int { batch * geometry.outChannels * geometry.kernelArea * geometry.outPlane }
    func run(_ b: Buffers) { run(b, units: 0..<geometry.outChannels) }
    /// Channels in chunks of about 64 KiB of output, each convolved, activated and averaged
    /// while it is still in cache.
    func run(_ b: Buffers, units: Range<Int>) {
        let g = geometry
        let chunk = max(1, 16_384 / max(1, g.outPlane))
        withBase(weights) { w in
            withOptionalPointer(bias) { bias in
                var first = units.lowerBound
                while first < units.upperBound {
                    let part = first..<min(first + chunk, units.upperBound)
                    for n in 0..<batch {
                        f32DWConv(g, input: b[input] + n * g.inChannels * g.inPlane, weights: w, bias: bias, bounds: bounds,
                                  output: b[output] + n * g.outChannels * g.outPlane, outputChannels: part,
                                  workspace: b.workspace)
                    }
                    activateInPlace(b, activation, output: output, batch: batch, channels: g.outChannels, plane: g.outPlane,
                                    channelRange: part, positions: 0..<g.outPlane)
                    if let channelMeans {
                        for n in 0..<batch {
                            f32GAP(channels: part, plane: g.outPlane, input: b[output] + n * g.outChannels * g.outPlane,
                                   output: b[channelMeans] + n * g.outChannels)
                        }
                    }
                    first = part.upperBound
                }
            }
        }
    }
    var detail: String {
        geometry.summary + (activation.map { " +" + $0.rawValue } ?? "") + (channelMeans == nil ? "" : " +means")
    }
}

/// Direct sparse convolution from CSR or bitmask weights, f32 or int8 values.
///
/// Pointwise convolutions on planes of 64-column blocks are split between threads by columns:
/// each thread reads only its columns of the input. The others are split in two phases: the
/// input transform (phase planes, gathered im2col) is built once into shared scratch, each thread
/// doing a share of the input channels; then each thread computes a share of the output rows with
/// about equal non-zeros.
struct SparseConvStep: PlanStep {
    let node: String
    let geometry: ConvGeometry
    let index: SparseIndexStore
    let values: SparseValueStore
    let bias: [Float]?
    let bounds: ActivationBounds
    let input: Int, output: Int
    var batch = 1
    /// Stored non-zeros (for the work estimate).
    let nonZeros: Int
    /// Slot added to the output after the epilogue (a fused Add), if any.
    var residual: Int? = nil
    /// Clamp of the sum with the residual (a ReLU after the Add, fused too).
    var residualBounds = ActivationBounds.identity
    /// Applied to the output after the epilogue (a fused HardSwish or Swish).
    var activation: OutputActivation? = nil
    var workspaceBytes: Int { sparseSpconvPrivateBytes(geometry) }
    var sharedWorkspaceBytes: Int { sparseSpconvPrepares(geometry) ? batch * sparseSpconvSharedBytes(geometry) : 0 }
    var splitsColumns: Bool { sparseSplitsColumns(geometry) }
    var prepareUnits: Int { !splitsColumns && sparseSpconvPrepares(geometry) ? batch * geometry.inChannels : 0 }
    /// 64-column blocks of the plane when split by columns, else output rows.
    var parallelUnits: Int { splitsColumns ? geometry.outPlane / 64 : geometry.outChannels }
    var workEstimate: Int { batch * nonZeros * geometry.outPlane }
    var detail: String {
        let density = Double(nonZeros) / Double(max(1, geometry.outChannels * geometry.reduction))
        return geometry.summary + " density \(Int((density * 100).rounded()))% \(values.summary)" + residualDetail(residual, residualBounds)
            + (activation.map { " +" + $0.rawValue } ?? "")
    }

    /// Row split with about equal cost per part, a row costing its non-zeros plus a fixed
    /// overhead (epilogue, decode): pruned rows differ widely in non-zeros.
    func units(part: Int, of parts: Int) -> Range<Int> {
        if splitsColumns { return splitUnits(parallelUnits, part: part, of: parts, granularity: 1) }
        let rows = geometry.outChannels
        let prefix: [UInt32]
        switch index {
        case .csr(let rowPointers, _): prefix = rowPointers
        case .bitmask(_, let rowValueOffsets): prefix = rowValueOffsets
        }
        return prefix.withUnsafeBufferPointer { p in
            balancedSplit(prefix: p.baseAddress!, rows: rows, rowOverhead: 4, part: part, of: parts)
        }
    }

    func prepare(_ b: Buffers, units: Range<Int>) {
        let g = geometry, c = g.inChannels, bytes = sparseSpconvSharedBytes(g)
        var u = units.lowerBound
        while u < units.upperBound {
            let n = u / c, lo = u % c, hi = min(c, lo + units.upperBound - u)
            sparseSpconvPrepare(g, input: b[input] + n * c * g.inPlane, channels: lo..<hi, zeroSlackAt: c,
                                shared: b.shared + n * bytes)
            u += hi - lo
        }
    }

    func run(_ b: Buffers) {
        prepare(b, units: 0..<prepareUnits)
        run(b, units: 0..<parallelUnits)
    }

    func run(_ b: Buffers, units: Range<Int>) {
        convolve(b, units: units)
        let g = geometry
        let channels = splitsColumns ? 0..<g.outChannels : units
        let positions = splitsColumns ? units.lowerBound * 64..<min(g.outPlane, units.upperBound * 64) : 0..<g.outPlane
        addResidual(b, residual: residual, bounds: residualBounds, output: output, batch: batch, channels: g.outChannels,
                    plane: g.outPlane, channelRange: channels, positions: positions)
        activateInPlace(b, activation, output: output, batch: batch, channels: g.outChannels, plane: g.outPlane,
                        channelRange: channels, positions: positions)
    }

    private func convolve(_ b: Buffers, units: Range<Int>) {
        let g = geometry, bytes = sparseSpconvSharedBytes(g)
        withKernelForm { indexing, values in
            withOptionalPointer(bias) { bias in
                if splitsColumns {
                    for n in 0..<batch {
                        sparsePointwiseColumns(g, indexing, values, input: b[input] + n * g.inChannels * g.inPlane,
                                               copy: b.shared + n * bytes, bias: bias, bounds: bounds,
                                               output: b[output] + n * g.outChannels * g.outPlane, blocks: units,
                                               workspace: b.workspace)
                    }
                    return
                }
                for n in 0..<batch {
                    sparseSpconvRows(g, indexing, values, input: b[input] + n * g.inChannels * g.inPlane,
                                     shared: b.shared + n * bytes, bias: bias, bounds: bounds,
                                     output: b[output] + n * g.outChannels * g.outPlane, rows: units,
                                     workspace: b.workspace)
                }
            }
        }
    }

    /// Calls `body` with the weights as the row kernels read them.
    @inline(__always)
    private func withKernelForm(_ body: (SparseIndexing, SparseValues) -> Void) {
        index.withKernelForm(wordsPerRow: (geometry.reduction + 63) / 64) { indexing in
            values.withKernelForm { body(indexing, $0) }
        }
    }
}

/// Part `part` of `parts` of rows 0..<rows when row m costs prefix[m+1] − prefix[m] + rowOverhead:
/// each boundary is the first row whose cumulative cost reaches its share of the total.
func balancedSplit(prefix: UnsafePointer<UInt32>, rows: Int, rowOverhead: Int, part: Int, of parts: Int) -> Range<Int> {
    @inline(__always) func cost(_ m: Int) -> Int { Int(prefix[m]) - Int(prefix[0]) + m * rowOverhead }
    let total = cost(rows)
    func boundary(_ p: Int) -> Int {
        if p <= 0 { return 0 }
        if p >= parts { return rows }
        let target = total * p / parts
        var lo = 0, hi = rows
        while lo < hi {
            let mid = (lo + hi) / 2
            if cost(mid) < target { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
    return boundary(part)..<boundary(part + 1)
}

/// y[n] = W · x + bias with sparse W [N × K] (Gemm/MatMul for one sample): spmm with one column.
struct SparseGemmStep: PlanStep {
    let node: String
    let outputs: Int, depth: Int
    let index: SparseIndexStore
    let values: SparseValueStore
    /// Also a constant Add that follows (`PlanBuilder.fusingLinearBias`).
    var bias: [Float]?
    let input: Int, output: Int
    var rows = 1
    var workspaceBytes: Int { sparseSpmmWorkspaceBytes(k: depth) }
    func run(_ b: Buffers) {
        for r in 0..<rows { run(b, x: b[input] + r * depth, y: b[output] + r * outputs) }
    }
    private func run(_ b: Buffers, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let m = outputs, k = depth, ws = b.workspace
        withOptionalPointer(bias) { bias in
            index.withKernelForm(wordsPerRow: (k + 63) / 64) { indexing in
                values.withKernelForm { values in
                    sparseSpmm(indexing, values, m: m, k: k, n: 1, x: x, bias: bias, bounds: .identity, y: y,
                               rows: 0..<m, workspace: ws)
                }
            }
        }
    }
}

/// y[n] = W · x + bias with dense W [N × K], f32 or int8 rows.
struct DenseGemmStep: PlanStep {
    let node: String
    let outputs: Int, depth: Int
    let values: SparseValueStore
    /// Also a constant Add that follows (`PlanBuilder.fusingLinearBias`).
    var bias: [Float]?
    let input: Int, output: Int
    var rows = 1
    var workspaceBytes: Int { 0 }
    func run(_ b: Buffers) {
        for r in 0..<rows { run(b, x: b[input] + r * depth, y: b[output] + r * outputs) }
    }
    private func run(_ b: Buffers, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let k = depth
        withOptionalPointer(bias) { bias in
            switch values {
            case .f32(let w):
                withBase(w) { w in
                    f32GemmDense(k: k, weights: w, x: x, bias: bias, bounds: .identity, y: y, outputs: 0..<outputs)
                }
            case .int8(let q, let s):
                withBase(q) { q in withBase(s) { s in
                    f32QC8WGemmDense(k: k, weights: q, scales: s, x: x, bias: bias, bounds: .identity, y: y,
                                     outputs: 0..<outputs)
                } }
            case .packed:
                preconditionFailure("\(node): dense rows are planned as f32 or int8, never packed")
            }
        }
    }
}

/// Y = X · B + bias over many rows with dense f32 B [K × N] (tokens through a Linear layer, e.g.
/// ConvNeXt's pointwise MatMuls): the rows are a GEMM's A, so each weight is read once per block of
/// rows instead of once per row.
struct RowGemmStep: PlanStep {
    let node: String
    let outputs: Int, depth: Int, rows: Int
    /// B [K × N], row-major, padded by one element.
    let weights: [Float]
    /// Also a constant Add that follows (`PlanBuilder.fusingLinearBias`).
    var bias: [Float]?
    let input: Int, output: Int
    var workspaceBytes: Int { f32GemmRowsWorkspaceBytes(k: depth) }
    /// GEMM panels of rows.
    var parallelUnits: Int { (rows + f32GemmMR - 1) / f32GemmMR }
    var workEstimate: Int { rows * outputs * depth }
    func run(_ b: Buffers) { run(b, units: 0..<parallelUnits) }
    func run(_ b: Buffers, units: Range<Int>) {
        let lo = min(rows, units.lowerBound * f32GemmMR), hi = min(rows, units.upperBound * f32GemmMR)
        guard hi > lo else { return }
        withBase(weights) { w in
            withOptionalPointer(bias) { bias in
                f32GemmRows(rows: lo..<hi, n: outputs, k: depth, x: b[input], b: w, bias: bias, y: b[output],
                            workspace: b.workspace)
            }
        }
    }
    var detail: String { "\(rows)x\(depth)->\(outputs)" }
}

/// y = x · W + bias with W [K × N] as stored (MatMul's weight, Gemm's B without transB), sparse or
/// dense int8, one input row at a time.
struct VecMatStep: PlanStep {
    /// W in kernel form.
    enum Weights: Sendable {
        case sparse(SparseIndexStore, SparseValueStore)
        case denseInt8([Int8], scales: [Float])
    }
    let node: String
    let depth: Int, outputs: Int
    let weights: Weights
    /// Also a constant Add that follows (`PlanBuilder.fusingLinearBias`).
    var bias: [Float]?
    let input: Int, output: Int
    var rows = 1
    /// Eight rows or more run eight at a time (`f32VecMatRows`).
    var blocked: Bool { rows >= 8 }
    var workspaceBytes: Int { blocked ? f32VecMatRowsWorkspaceBytes(k: depth, n: outputs) : 0 }
    /// Blocks of eight rows.
    var parallelUnits: Int { blocked ? (rows + 7) / 8 : 1 }
    func run(_ b: Buffers) {
        if blocked { return run(b, units: 0..<parallelUnits) }
        for r in 0..<rows { run(x: b[input] + r * depth, y: b[output] + r * outputs) }
    }
    func run(_ b: Buffers, units: Range<Int>) {
        guard blocked else { return run(b) }
        let range = min(rows, units.lowerBound * 8)..<min(rows, units.upperBound * 8)
        let k = depth, n = outputs, x = b[input], y = b[output], ws = b.workspace
        withOptionalPointer(bias) { bias in
            switch weights {
            case .sparse(.csr(let rp, let ci), .f32(let v)):
                withBase(rp) { rp in withBase(ci) { ci in withBase(v) { v in
                    f32VecMatRows(CSRRowsF32(rowPointers: rp, columns: ci, values: v), k: k, n: n, rows: range, x: x,
                                  bias: bias, y: y, workspace: ws)
                } } }
            case .sparse(.csr(let rp, let ci), .int8(let q, let s)):
                withBase(rp) { rp in withBase(ci) { ci in withBase(q) { q in withBase(s) { s in
                    f32VecMatRows(CSRRowsQC8W(rowPointers: rp, columns: ci, values: q, scales: s), k: k, n: n, rows: range,
                                  x: x, bias: bias, y: y, workspace: ws)
                } } } }
            case .sparse(.bitmask(let words, let offsets), .f32(let v)):
                withBase(words) { mw in withBase(offsets) { ro in withBase(v) { v in
                    f32VecMatRows(MaskRowsF32(n: n, maskWords: mw, rowValueOffsets: ro, values: v), k: k, n: n, rows: range,
                                  x: x, bias: bias, y: y, workspace: ws)
                } } }
            case .sparse(.bitmask(let words, let offsets), .int8(let q, let s)):
                withBase(words) { mw in withBase(offsets) { ro in withBase(q) { q in withBase(s) { s in
                    f32VecMatRows(MaskRowsQC8W(n: n, maskWords: mw, rowValueOffsets: ro, values: q, scales: s), k: k, n: n,
                                  rows: range, x: x, bias: bias, y: y, workspace: ws)
                } } } }
            case .sparse(_, .packed):
                preconditionFailure("\(node): the plan widens packed values to int8 for vecmat kernels")
            case .denseInt8(let q, let s):
                withBase(q) { q in withBase(s) { s in
                    f32VecMatRows(DenseRowsQC8W(n: n, values: q, scales: s), k: k, n: n, rows: range, x: x, bias: bias, y: y,
                                  workspace: ws)
                } }
            }
        }
    }
    private func run(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let k = depth, n = outputs
        withOptionalPointer(bias) { bias in
            switch weights {
            case .sparse(.csr(let rp, let ci), .f32(let v)):
                withBase(rp) { rp in withBase(ci) { ci in withBase(v) { v in
                    f32VecMatCSR(k: k, n: n, rowPointers: rp, columnIndices: ci, values: v, x: x, bias: bias, y: y)
                } } }
            case .sparse(.csr(let rp, let ci), .int8(let q, let s)):
                withBase(rp) { rp in withBase(ci) { ci in withBase(q) { q in withBase(s) { s in
                    f32QC8WVecMatCSR(k: k, n: n, rowPointers: rp, columnIndices: ci, values: q, scales: s, x: x, bias: bias, y: y)
                } } } }
            case .sparse(.bitmask(let words, let offsets), .f32(let v)):
                withBase(words) { mw in withBase(offsets) { ro in withBase(v) { v in
                    f32VecMatBitmask(k: k, n: n, maskWords: mw, rowValueOffsets: ro, values: v, x: x, bias: bias, y: y)
                } } }
            case .sparse(.bitmask(let words, let offsets), .int8(let q, let s)):
                withBase(words) { mw in withBase(offsets) { ro in withBase(q) { q in withBase(s) { s in
                    f32QC8WVecMatBitmask(k: k, n: n, maskWords: mw, rowValueOffsets: ro, values: q, scales: s,
                                         x: x, bias: bias, y: y)
                } } } }
            case .sparse(_, .packed):
                preconditionFailure("\(node): the plan widens packed values to int8 for vecmat kernels")
            case .denseInt8(let q, let s):
                withBase(q) { q in withBase(s) { s in
                    f32QC8WVecMatDense(k: k, n: n, weights: q, scales: s, x: x, bias: bias, y: y)
                } }
            }
        }
    }
    var workEstimate: Int { rows * depth * outputs }
    var detail: String { "\(rows)x\(depth)->\(outputs) kn" }
}

/// Elementwise clamp (Relu, Clip).
struct ClipStep: PlanStep {
    let node: String
    let count: Int
    let bounds: ActivationBounds
    let input: Int, output: Int
    var workspaceBytes: Int { 0 }
    /// 16-float chunks (whole cache lines); elementwise, so any split gives the same bits.
    var parallelUnits: Int { (count + 15) / 16 }
    var workEstimate: Int { 2 * count }
    func run(_ b: Buffers) { run(b, units: 0..<parallelUnits) }
    func run(_ b: Buffers, units: Range<Int>) {
        let lo = min(count, units.lowerBound * 16), hi = min(count, units.upperBound * 16)
        if hi > lo { f32Clip(count: hi - lo, x: b[input] + lo, bounds: bounds, y: b[output] + lo) }
    }
}

/// HardSigmoid (alpha, beta) or, without them, HardSwish, elementwise.
struct HardActivationStep: PlanStep {
    let node: String
    let count: Int
    /// HardSigmoid's alpha and beta; nil for HardSwish.
    let hardSigmoid: (alpha: Float, beta: Float)?
    let input: Int, output: Int
    var workspaceBytes: Int { 0 }
    func run(_ b: Buffers) {
        if let h = hardSigmoid {
            f32HardSigmoid(count: count, alpha: h.alpha, beta: h.beta, x: b[input], y: b[output])
        } else {
            f32HardSwish(count: count, x: b[input], y: b[output])
        }
    }
}

/// Sigmoid, Swish (a Sigmoid and the Mul by its input, fused), Erf or GELU, elementwise.
struct SpecialFunctionStep: PlanStep {
    enum Function: String, Sendable { case sigmoid, swish, erf, gelu, geluTanh }
    let node: String
    var function: Function
    let count: Int
    let input: Int, output: Int
    var workspaceBytes: Int { 0 }
    /// 16-float chunks (whole cache lines); elementwise, so any split gives the same bits.
    var parallelUnits: Int { (count + 15) / 16 }
    /// A polynomial and a division per element: about as much as a dozen multiply-adds.
    var workEstimate: Int { 12 * count }
    func run(_ b: Buffers) { run(b, units: 0..<parallelUnits) }
    func run(_ b: Buffers, units: Range<Int>) {
        let lo = min(count, units.lowerBound * 16), hi = min(count, units.upperBound * 16)
        guard hi > lo else { return }
        switch function {
        case .sigmoid: f32Sigmoid(count: hi - lo, x: b[input] + lo, y: b[output] + lo)
        case .swish: f32Swish(count: hi - lo, x: b[input] + lo, y: b[output] + lo)
        case .erf: f32Erf(count: hi - lo, x: b[input] + lo, y: b[output] + lo)
        case .gelu, .geluTanh: f32Gelu(count: hi - lo, tanhApproximation: function == .geluTanh, x: b[input] + lo, y: b[output] + lo)
        }
    }
    var detail: String { function.rawValue }
}

/// LayerNormalization over rows of `width` contiguous values (the normalized trailing axes).
struct LayerNormStep: PlanStep {
    let node: String
    let rows: Int, width: Int
    let epsilon: Float
    /// One value per position of a row, each padded by one element (never empty).
    let scale: [Float], bias: [Float]
    let input: Int, output: Int
    var workspaceBytes: Int { 0 }
    var parallelUnits: Int { rows }
    var workEstimate: Int { 4 * rows * width }
    func run(_ b: Buffers) { run(b, units: 0..<rows) }
    func run(_ b: Buffers, units: Range<Int>) {
        withBase(scale) { scale in
            withBase(bias) { bias in
                f32LayerNorm(rows: units, width: width, epsilon: epsilon, scale: scale, bias: bias, x: b[input], y: b[output])
            }
        }
    }
    var detail: String { "\(rows)x\(width)" }
}

/// Softmax over the middle axis of [outer, axis, inner].
struct SoftmaxStep: PlanStep {
    let node: String
    let outer: Int, axis: Int, inner: Int
    let input: Int, output: Int
    var workspaceBytes: Int { 0 }
    func run(_ b: Buffers) { f32Softmax(outer: outer, axis: axis, inner: inner, x: b[input], y: b[output]) }
}

/// Global average pooling over [C, plane].
struct GAPStep: PlanStep {
    let node: String
    let channels: Int, plane: Int
    let input: Int, output: Int
    var workspaceBytes: Int { 0 }
    func run(_ b: Buffers) { f32GAP(channels: 0..<channels, plane: plane, input: b[input], output: b[output]) }
}

/// Max or average pooling.
struct PoolStep: PlanStep {
    let node: String
    let geometry: PoolGeometry
    /// nil: max pooling; otherwise average pooling with this count_include_pad.
    let averageIncludingPad: Bool?
    let input: Int, output: Int
    var workspaceBytes: Int { 0 }
    var parallelUnits: Int { geometry.channels }
    /// A pooled output costs about as much as several sparse multiply-adds (strided, scalar
    /// reads: ResNet v2's 1×1 stride-2 pools take ~1 ns per output).
    var workEstimate: Int {
        geometry.channels * geometry.outHeight * geometry.outWidth * (geometry.kernelHeight * geometry.kernelWidth + 8)
    }
    func run(_ b: Buffers) { run(b, units: 0..<geometry.channels) }
    func run(_ b: Buffers, units: Range<Int>) {
        if let include = averageIncludingPad {
            f32AvgPool(geometry, countIncludePad: include, input: b[input], output: b[output], channels: units)
        } else {
            f32MaxPool(geometry, input: b[input], output: b[output], channels: units)
        }
    }
}

/// Elementwise arithmetic with numpy broadcasting; same-shape, per-channel, last-axis and scalar
/// operands take the SIMD kernels.
struct BinaryStep: PlanStep {
    enum Operation: Sendable { case add, sub, mul, div }
    let node: String
    let operation: Operation
    let shape: [Int]
    /// Element strides of each operand over `shape` (0 along broadcast axes).
    let aStrides: [Int], bStrides: [Int]
    let a: Int, b: Int, output: Int
    var workspaceBytes: Int { 0 }

    /// Add or Mul with both operands full-shape, or one of them one value per channel of an NCHW
    /// sample (a residual bias, a squeeze-and-excitation scale) or one value per position of the
    /// last axis (a Linear layer's bias on NHWC rows); any of the four with one operand a single
    /// value (a decomposed activation's constants): SIMD kernels.
    enum FastPath: Sendable {
        case none, sameShape, channelBroadcast, channelBroadcastFirst, scalar, scalarFirst, lastAxisBroadcast, lastAxisBroadcastFirst
    }
    /// Set by the plan from `classify()`.
    var fastPath: FastPath = .none

    func classify() -> FastPath {
        // Operand strides are 0 along every size-1 axis (the batch of one sample included).
        let full = zip(shape.rowMajorStrides, shape).map { $1 == 1 ? 0 : $0 }
        let zero = [Int](repeating: 0, count: shape.count)
        if full != zero {
            if aStrides == full && bStrides == zero { return .scalar }
            if aStrides == zero && bStrides == full { return .scalarFirst }
        }
        guard operation == .add || operation == .mul else { return .none }
        if aStrides == full && bStrides == full { return .sameShape }
        if let last = shape.last, last > 1 {
            let perPosition = Array(zero.dropLast()) + [1]
            // Both operations commute, so a vector first operand is the same kernel.
            if aStrides == full && bStrides == perPosition { return .lastAxisBroadcast }
            if aStrides == perPosition && bStrides == full { return .lastAxisBroadcastFirst }
        }
        guard shape.count == 4 && shape[0] == 1 && shape[1] > 1 else { return .none }
        let perChannel = [0, 1, 0, 0]
        if aStrides == full && bStrides == perChannel { return .channelBroadcast }
        // Both operations commute, so a per-channel first operand is the same kernel.
        if aStrides == perChannel && bStrides == full { return .channelBroadcastFirst }
        return .none
    }

    /// The SIMD paths split between threads: same-shape by 16-float chunks (whole cache lines),
    /// channel broadcast by channels. Elementwise, so any split gives the same bits.
    var parallelUnits: Int {
        switch fastPath {
        case .sameShape, .scalar, .scalarFirst: (shape.elementCount + 15) / 16
        case .channelBroadcast, .channelBroadcastFirst: shape[1]
        case .lastAxisBroadcast, .lastAxisBroadcastFirst: shape.elementCount / max(1, shape.last ?? 1)
        case .none: 1
        }
    }
    /// An Add moves three floats per element; about what two sparse multiply-adds take.
    var workEstimate: Int { fastPath == .none ? 0 : 2 * shape.elementCount }

    func run(_ buffers: Buffers, units: Range<Int>) {
        let pa = buffers[a], pb = buffers[b], py = buffers[output]
        let multiply = operation == .mul
        switch fastPath {
        case .sameShape:
            let count = shape.elementCount
            let lo = min(count, units.lowerBound * 16), hi = min(count, units.upperBound * 16)
            guard hi > lo else { return }
            if multiply {
                f32Mul(count: hi - lo, a: pa + lo, b: pb + lo, y: py + lo)
            } else {
                f32Add(count: hi - lo, a: pa + lo, b: pb + lo, bounds: .identity, y: py + lo)
            }
        case .channelBroadcast, .channelBroadcastFirst:
            let (full, perChannel) = fastPath == .channelBroadcast ? (pa, pb) : (pb, pa)
            if multiply {
                f32MulChannelBroadcast(channels: units, plane: shape[2] * shape[3], a: full, b: perChannel, y: py)
            } else {
                f32AddChannelBroadcast(channels: units, plane: shape[2] * shape[3], a: full, b: perChannel,
                                       bounds: .identity, y: py)
            }
        case .scalar, .scalarFirst:
            let count = shape.elementCount
            let lo = min(count, units.lowerBound * 16), hi = min(count, units.upperBound * 16)
            guard hi > lo else { return }
            let first = fastPath == .scalarFirst
            let (tensor, value) = first ? (pb, pa[0]) : (pa, pb[0])
            f32BinaryScalar(count: hi - lo, operation: arithmetic, x: tensor + lo, scalar: value, scalarFirst: first, y: py + lo)
        case .lastAxisBroadcast, .lastAxisBroadcastFirst:
            let width = shape[shape.count - 1]
            let (full, vector) = fastPath == .lastAxisBroadcast ? (pa, pb) : (pb, pa)
            for row in units {
                let o = row * width
                if multiply {
                    f32Mul(count: width, a: full + o, b: vector, y: py + o)
                } else {
                    f32Add(count: width, a: full + o, b: vector, bounds: .identity, y: py + o)
                }
            }
        case .none:
            run(buffers)
        }
    }

    var arithmetic: F32Arithmetic {
        switch operation {
        case .add: .add
        case .sub: .sub
        case .mul: .mul
        case .div: .div
        }
    }

    func run(_ buffers: Buffers) {
        let count = shape.elementCount
        let pa = buffers[a], pb = buffers[b], py = buffers[output]
        switch fastPath {
        case .sameShape, .channelBroadcast, .channelBroadcastFirst, .scalar, .scalarFirst, .lastAxisBroadcast, .lastAxisBroadcastFirst:
            run(buffers, units: 0..<parallelUnits)
            return
        case .none:
            break
        }
        guard count > 0 else { return }
        let rank = shape.count
        var index = [Int](repeating: 0, count: rank)
        var ia = 0, ib = 0
        for i in 0..<count {
            let x = pa[ia], y = pb[ib]
            switch operation {
            case .add: py[i] = x + y
            case .sub: py[i] = x - y
            case .mul: py[i] = x * y
            case .div: py[i] = x / y
            }
            // Odometer over `shape`, moving both operand offsets.
            var axis = rank - 1
            while axis >= 0 {
                index[axis] += 1
                ia += aStrides[axis]
                ib += bStrides[axis]
                if index[axis] < shape[axis] { break }
                ia -= aStrides[axis] * shape[axis]
                ib -= bStrides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

/// Inference BatchNormalization that lowering could not fold: y = clamp(x · scale[c] + shift[c]).
struct ChannelAffineStep: PlanStep {
    let node: String
    let channels: Int, plane: Int
    let scale: [Float], shift: [Float]
    let input: Int, output: Int
    var batch = 1
    /// A following ReLU/Clip the plan fused in (identity otherwise).
    var bounds = ActivationBounds.identity
    var workspaceBytes: Int { 0 }
    var parallelUnits: Int { channels }
    var workEstimate: Int { 2 * batch * channels * plane }
    func run(_ b: Buffers) { run(b, units: 0..<channels) }
    func run(_ b: Buffers, units: Range<Int>) {
        let x = b[input], y = b[output]
        let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
        scale.withUnsafeBufferPointer { scale in
            shift.withUnsafeBufferPointer { shift in
                for n in 0..<batch {
                    for c in units {
                        let s = scale[c], t = shift[c], base = (n * channels + c) * plane
                        let vs = SIMD8<Float>(repeating: s), vt = SIMD8<Float>(repeating: t)
                        var j = 0
                        while j + 8 <= plane {
                            store8(clamp8(multiplyAdd(vt, load8(x + base + j), vs), lo, hi), y + base + j)
                            j += 8
                        }
                        while j < plane {
                            y[base + j] = bounds.apply(x[base + j] * s + t)
                            j += 1
                        }
                    }
                }
            }
        }
    }
}

/// Mean over a set of axes (ReduceMean); the output keeps the remaining axes in order.
struct ReduceMeanStep: PlanStep {
    let node: String
    let shape: [Int]
    let reduced: [Bool]
    let input: Int, output: Int
    var workspaceBytes: Int { 0 }
    func run(_ b: Buffers) {
        let x = b[input], y = b[output]
        var outShape: [Int] = []
        var reducedCount = 1
        for (d, r) in zip(shape, reduced) { if r { reducedCount *= d } else { outShape.append(d) } }
        let outCount = outShape.elementCount
        for i in 0..<outCount { y[i] = 0 }
        let outStrides = outShape.rowMajorStrides
        var strides = [Int](repeating: 0, count: shape.count)
        var k = 0
        for axis in 0..<shape.count where !reduced[axis] {
            strides[axis] = outStrides[k]
            k += 1
        }
        var index = [Int](repeating: 0, count: shape.count)
        var o = 0
        for i in 0..<shape.elementCount {
            y[o] += x[i]
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                o += strides[axis]
                if index[axis] < shape[axis] { break }
                o -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        let inverse = 1 / Float(max(1, reducedCount))
        for i in 0..<outCount { y[i] *= inverse }
    }
}

/// Calls `body(i, offset)` for every row-major index `i` of `shape`, where `offset` starts at
/// `start` and moves by `strides[axis]` along each axis. The odometer lives on the stack, so a
/// run allocates nothing; Transpose reads and Pad writes through it.
@inline(__always)
func forEachStridedOffset(shape: [Int], strides: [Int], start: Int, _ body: (Int, Int) -> Void) {
    let rank = shape.count
    withUnsafeTemporaryAllocation(of: Int.self, capacity: max(rank, 1)) { index in
        for axis in 0..<rank { index[axis] = 0 }
        var offset = start
        for i in 0..<shape.elementCount {
            body(i, offset)
            var axis = rank - 1
            while axis >= 0 {
                index[axis] += 1
                offset += strides[axis]
                if index[axis] < shape[axis] { break }
                offset -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

/// Axis permutation copy (Transpose).
struct TransposeStep: PlanStep {
    let node: String
    let shape: [Int]
    let perm: [Int]
    let input: Int, output: Int
    var workspaceBytes: Int { 0 }
    func run(_ b: Buffers) {
        let x = b[input], y = b[output]
        let inStrides = shape.rowMajorStrides
        // Walk the output in order, one innermost output row per odometer step; each output axis
        // steps the input by that axis's input stride.
        let outShape = perm.map { shape[$0] }, strides = perm.map { inStrides[$0] }
        guard let inner = outShape.last, let step = strides.last else {
            forEachStridedOffset(shape: outShape, strides: strides, start: 0) { i, src in y[i] = x[src] }
            return
        }
        forEachStridedOffset(shape: Array(outShape.dropLast()), strides: Array(strides.dropLast()), start: 0) { row, src in
            let dst = y + row * inner, s = x + src
            if step == 1 {
                for j in 0..<inner { dst[j] = s[j] }
            } else {
                for j in 0..<inner { dst[j] = s[j * step] }
            }
        }
    }
}

/// Concatenation along one axis: for each outer index, each input's chunk in turn.
struct ConcatStep: PlanStep {
    let node: String
    let outer: Int
    /// (slot, floats per outer index) of each input.
    let parts: [(slot: Int, chunk: Int)]
    let output: Int
    var workspaceBytes: Int { 0 }
    func run(_ b: Buffers) {
        let total = parts.reduce(0) { $0 + $1.chunk }
        var offset = 0
        for part in parts {
            if outer == 1 {
                f32Concat(channels: 1, plane: part.chunk, input: b[part.slot], output: b[output] + offset, channelOffset: 0)
            } else {
                let x = b[part.slot]
                for o in 0..<outer {
                    f32Concat(channels: 1, plane: part.chunk, input: x + o * part.chunk,
                              output: b[output] + o * total + offset, channelOffset: 0)
                }
            }
            offset += part.chunk
        }
    }
}

/// A strided crop (Slice, or one output of a Split), as runs.
struct SliceStep: PlanStep {
    let node: String
    let layout: F32SliceLayout
    let input: Int, output: Int
    var workspaceBytes: Int { 0 }
    func run(_ b: Buffers) { f32Slice(layout, x: b[input], y: b[output]) }
    var detail: String { "\(layout.counts.reduce(1, *))x\(layout.run) step \(layout.step)" }
}

/// Constant padding of any rank.
struct PadStep: PlanStep {
    let node: String
    let shape: [Int]
    /// Begins then ends, one pair per axis (ONNX order); non-negative.
    let pads: [Int]
    let value: Float
    let input: Int, output: Int
    var workspaceBytes: Int { 0 }
    func run(_ b: Buffers) {
        let x = b[input], y = b[output]
        let rank = shape.count
        let outShape = (0..<rank).map { shape[$0] + pads[$0] + pads[$0 + rank] }
        let outCount = outShape.elementCount
        for i in 0..<outCount { y[i] = value }
        let outStrides = outShape.rowMajorStrides
        var start = 0
        for axis in 0..<rank { start += pads[axis] * outStrides[axis] }
        // Walk the input in order, one innermost row per odometer step; each row lands contiguously
        // at its offset inside the padded output.
        guard let inner = shape.last else {
            forEachStridedOffset(shape: shape, strides: outStrides, start: start) { i, dst in y[dst] = x[i] }
            return
        }
        forEachStridedOffset(shape: Array(shape.dropLast()), strides: Array(outStrides.dropLast()), start: start) { row, dst in
            let s = x + row * inner, d = y + dst
            for j in 0..<inner { d[j] = s[j] }
        }
    }
}

/// Reflect or edge padding of any rank: every output element copies an input element.
struct BorderPadStep: PlanStep {
    let node: String
    let mode: PadMode
    let layout: F32PadLayout
    let input: Int, output: Int
    var workspaceBytes: Int { 0 }
    func run(_ b: Buffers) { f32Pad(layout, x: b[input], y: b[output]) }
    var detail: String { "\(mode.rawValue) \(layout.counts.reduce(1, *))x\(layout.inner.count)" }
}

/// Plain copy (an Identity whose output cannot share its input's slot).
struct CopyStep: PlanStep {
    let node: String
    let count: Int
    let input: Int, output: Int
    var workspaceBytes: Int { 0 }
    func run(_ b: Buffers) { f32Concat(channels: 1, plane: count, input: b[input], output: b[output], channelOffset: 0) }
}
