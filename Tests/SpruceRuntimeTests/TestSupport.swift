// Helpers for the kernel tests: a seeded SplitMix64 PRNG, random tensors, sparse encoders
// (dense → CSR / bitmask / int8 rows) written independently of the runtime, and a closeness check.
// Test-only; nothing here is timed.
import SpruceRuntime
import Testing

/// SplitMix64: tiny, seeded, reproducible.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) }
    /// Uniform in [-1, 1).
    mutating func signed() -> Float { unit() * 2 - 1 }
    mutating func floats(_ count: Int) -> [Float] { (0..<count).map { _ in signed() } }
}

/// Dense weights [rows × cols] where each entry is zero with probability `sparsity`;
/// row 0 is always all zero when rows > 1, so every test sees an empty row.
func sparseWeights(rows: Int, cols: Int, sparsity: Double, rng: inout SplitMix64) -> [Float] {
    var w = [Float](repeating: 0, count: rows * cols)
    for r in 0..<rows {
        for c in 0..<cols {
            let keep = Double(rng.unit()) >= sparsity
            let v = rng.signed()
            if keep && !(rows > 1 && r == 0) { w[r * cols + c] = v == 0 ? 0.5 : v }
        }
    }
    return w
}

/// CSR of a dense [rows × cols] matrix, 32-bit indices (the runtime plan's widened form).
struct CSR {
    var rowPointers: [UInt32] = [0]
    var columns: [UInt32] = []
    var values: [Float] = []
    init(dense: [Float], rows: Int, cols: Int) {
        for r in 0..<rows {
            for c in 0..<cols where dense[r * cols + c] != 0 {
                columns.append(UInt32(c))
                values.append(dense[r * cols + c])
            }
            rowPointers.append(UInt32(values.count))
        }
        // One unread pad element, so an empty matrix still has a base address.
        columns.append(0)
        values.append(0)
    }
}

/// Bitmask of a dense [rows × cols] matrix: ceil(cols/64) words per row, LSB first, values in row order.
struct Bitmask {
    var words: [UInt64]
    var rowValueOffsets: [UInt32]
    var values: [Float] = []
    init(dense: [Float], rows: Int, cols: Int) {
        let perRow = (cols + 63) / 64
        words = [UInt64](repeating: 0, count: max(1, rows * perRow))
        rowValueOffsets = []
        for r in 0..<rows {
            rowValueOffsets.append(UInt32(values.count))
            for c in 0..<cols where dense[r * cols + c] != 0 {
                words[r * perRow + c / 64] |= 1 << UInt64(c % 64)
                values.append(dense[r * cols + c])
            }
        }
        rowValueOffsets.append(UInt32(values.count))
        values.append(0)  // unread pad, so an empty matrix still has a base address
    }
}

/// Symmetric int8 per row over the given stored values: q = round(v / s), s = max|v| / 127.
/// Returns (q in stored order, scales per row, dequantized dense matrix).
func quantizeRows(dense: [Float], rows: Int, cols: Int) -> (scales: [Float], dequantized: [Float], q: [Int8]) {
    var scales = [Float](repeating: 1, count: rows)
    var deq = [Float](repeating: 0, count: dense.count)
    var q = [Int8](repeating: 0, count: dense.count)
    for r in 0..<rows {
        var top: Float = 0
        for c in 0..<cols { top = max(top, abs(dense[r * cols + c])) }
        let s: Float = top > 0 ? top / 127 : 1
        scales[r] = s
        for c in 0..<cols {
            let v = Int8(max(-127, min(127, (dense[r * cols + c] / s).rounded())))
            q[r * cols + c] = v
            deq[r * cols + c] = Float(v) * s
        }
    }
    return (scales, deq, q)
}

/// Stored int8 values of a sparse matrix in row order (positions where `dense` is non-zero).
func storedQ(_ q: [Int8], dense: [Float]) -> [Int8] {
    var out: [Int8] = []
    for i in 0..<dense.count where dense[i] != 0 { out.append(q[i]) }
    return out + [0]  // unread pad
}

/// Every element within 1e-4 relative (|a − b| ≤ 1e-4 · max(1, |b|)); records the first miss.
func expectClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 1e-4,
                 _ label: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(label): count", sourceLocation: sourceLocation)
    for i in 0..<min(actual.count, expected.count) {
        let a = actual[i], b = expected[i]
        if !(abs(a - b) <= tolerance * max(1, abs(b))) {
            Issue.record("\(label): element \(i) is \(a), expected \(b)", sourceLocation: sourceLocation)
            return
        }
    }
}

/// Activations every conv kernel is tried with.
let testActivations: [ActivationBounds] = [
    .identity, ActivationBounds(lower: 0, upper: .infinity), ActivationBounds(lower: -0.5, upper: 0.75),
]

/// A convolution case for parameterized tests.
struct ConvCase: Sendable, CustomTestStringConvertible {
    var c: Int, h: Int, w: Int, m: Int, kh: Int, kw: Int
    var stride: (Int, Int) = (1, 1)
    var pads: [Int] = [0, 0, 0, 0]
    var dilation: (Int, Int) = (1, 1)
    var groups = 1
    var geometry: ConvGeometry {
        ConvGeometry(inChannels: c, inHeight: h, inWidth: w, outChannels: m, kernelHeight: kh, kernelWidth: kw,
                     strideHeight: stride.0, strideWidth: stride.1, pads: pads,
                     dilationHeight: dilation.0, dilationWidth: dilation.1, groups: groups)
    }
    var testDescription: String {
        "C\(c) \(h)x\(w) M\(m) k\(kh)x\(kw) s\(stride.0),\(stride.1) p\(pads) d\(dilation.0),\(dilation.1) g\(groups)"
    }
}

/// Geometries shared by the dense and sparse convolution tests.
let convCases: [ConvCase] = [
    ConvCase(c: 3, h: 7, w: 9, m: 5, kh: 1, kw: 1),
    ConvCase(c: 5, h: 6, w: 7, m: 3, kh: 1, kw: 1, stride: (2, 2)),
    ConvCase(c: 4, h: 10, w: 10, m: 8, kh: 3, kw: 3, pads: [1, 1, 1, 1]),
    ConvCase(c: 6, h: 11, w: 13, m: 10, kh: 3, kw: 3, stride: (2, 2), pads: [1, 0, 1, 2]),
    ConvCase(c: 8, h: 9, w: 9, m: 6, kh: 5, kw: 5, pads: [2, 2, 2, 2]),
    ConvCase(c: 3, h: 15, w: 15, m: 7, kh: 7, kw: 7, stride: (2, 2), pads: [3, 3, 3, 3]),
    ConvCase(c: 4, h: 12, w: 12, m: 6, kh: 3, kw: 3, pads: [2, 2, 2, 2], dilation: (2, 2)),
    ConvCase(c: 8, h: 8, w: 8, m: 8, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 2),
    ConvCase(c: 6, h: 9, w: 7, m: 9, kh: 3, kw: 3, stride: (2, 1), pads: [0, 1, 1, 0], groups: 3),
    ConvCase(c: 17, h: 13, w: 11, m: 19, kh: 3, kw: 3, pads: [1, 1, 1, 1]),
    ConvCase(c: 40, h: 9, w: 10, m: 13, kh: 3, kw: 3, pads: [1, 1, 1, 1]),  // K = 360: two GEMM depth blocks
    ConvCase(c: 70, h: 5, w: 6, m: 20, kh: 1, kw: 1),
    ConvCase(c: 12, h: 8, w: 8, m: 10, kh: 1, kw: 1),  // rows of exactly 64: two 32-wide blocks in one pass
    ConvCase(c: 9, h: 32, w: 16, m: 11, kh: 1, kw: 1),  // 2 KiB planes: copied with a spare line per channel
    ConvCase(c: 5, h: 30, w: 30, m: 6, kh: 3, kw: 3, pads: [1, 1, 1, 1]),  // 32×32 phase planes, padded too
    ConvCase(c: 2, h: 2, w: 3, m: 4, kh: 3, kw: 3, pads: [1, 1, 1, 1]),
    ConvCase(c: 3, h: 8, w: 8, m: 4, kh: 2, kw: 3, stride: (3, 2), pads: [0, 1, 2, 0], dilation: (2, 1)),
    // Gathered (im2col) sparse paths: 4×4, 8×8 and 5×8 outputs, one with two groups.
    ConvCase(c: 20, h: 4, w: 4, m: 12, kh: 3, kw: 3, pads: [1, 1, 1, 1]),
    ConvCase(c: 9, h: 8, w: 8, m: 7, kh: 3, kw: 3, pads: [1, 1, 1, 1]),
    ConvCase(c: 6, h: 5, w: 8, m: 6, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 2),
    ConvCase(c: 8, h: 8, w: 8, m: 5, kh: 3, kw: 3, stride: (2, 2), pads: [0, 0, 1, 1]),
    // Dense convolutions multiplied straight from phase planes (reductions of 64 or more): dilated,
    // grouped, stride 2 with asymmetric pads, and a 7×7 stride-2 stem.
    ConvCase(c: 8, h: 20, w: 24, m: 9, kh: 3, kw: 3, pads: [2, 2, 2, 2], dilation: (2, 2)),
    ConvCase(c: 16, h: 10, w: 10, m: 8, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 2),
    ConvCase(c: 8, h: 15, w: 17, m: 7, kh: 3, kw: 3, stride: (2, 2), pads: [1, 0, 1, 2]),
    ConvCase(c: 3, h: 40, w: 40, m: 8, kh: 7, kw: 7, stride: (2, 2), pads: [3, 3, 3, 3]),
]

/// An allocated raw workspace of `bytes` (at least 64), freed by the caller.
func allocateWorkspace(_ bytes: Int) -> UnsafeMutableRawPointer {
    UnsafeMutableRawPointer.allocate(byteCount: max(64, bytes), alignment: 64)
}
