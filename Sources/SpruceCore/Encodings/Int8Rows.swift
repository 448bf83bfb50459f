// Symmetric per-row quantization of stored values to b-bit steps (b = 8: int8): scale =
// max|v| / (2^(b−1) − 1) over the values a row stores (rounded up to binary16, see
// `scale(maxAbs:bits:)`), q = round(v / scale). Zeros (stored or not) stay exactly zero; the error of any
// stored value is at most scale / 2. It is a container and the quantizer, not a kernel.

/// Int8 values grouped in rows, with one float32 scale per row. With `bits` below 8 the values
/// use only the range of a `bits`-bit integer (the artifact packs them that narrow).
public struct Int8Rows: Sendable, Equatable, Hashable {
    /// `rows + 1` offsets into `values`; row `r` is `rowStarts[r] ..< rowStarts[r+1]`.
    public var rowStarts: [Int32]
    /// Quantized values in [-largestStep, largestStep].
    public var values: [Int8]
    /// One scale per row: an element is `Float(q) * scales[row]`.
    public var scales: [Float]
    /// Bits per value, 2…8: values lie in ±(2^(bits−1) − 1).
    public var bits: Int

    /// Number of rows.
    public var rows: Int { scales.count }

    /// The largest value magnitude of `bits`-bit values: 127 for 8 bits, 7 for 4, 1 for 2.
    @inlinable
    public static func largestStep(bits: Int) -> Int { (1 << (bits - 1)) - 1 }

    /// Bit widths a value may have.
    public static let bitWidths = 2...8

    /// Wraps already-valid arrays (the artifact reader checks them first).
    public init(rowStarts: [Int32], values: [Int8], scales: [Float], bits: Int = 8) {
        self.rowStarts = rowStarts
        self.values = values
        self.scales = scales
        self.bits = bits
    }

    /// Quantizes `values` to `bits`-bit steps, row by row as `rowStarts` partitions them
    /// (`rowStarts.last == values.count`). Non-finite inputs give non-finite scales; writers
    /// reject them before quantizing.
    public init(quantizing values: [Float], rowStarts: [Int32], bits: Int = 8) {
        precondition(Self.bitWidths.contains(bits), "Int8Rows: \(bits) bits")
        let rows = max(rowStarts.count - 1, 0)
        var scales = [Float](repeating: 0, count: rows)
        var quantized = [Int8](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { v in
            quantized.withUnsafeMutableBufferPointer { q in
                for r in 0..<rows {
                    let range = Int(rowStarts[r])..<Int(rowStarts[r + 1])
                    var maxAbs: Float = 0
                    for i in range { maxAbs = max(maxAbs, abs(v[i])) }
                    let scale = Self.scale(maxAbs: maxAbs, bits: bits)
                    scales[r] = scale
                    guard scale > 0 else { continue }
                    for i in range { q[i] = Self.quantize(v[i], scale: scale, bits: bits) }
                }
            }
        }
        self.init(rowStarts: rowStarts, values: quantized, scales: scales, bits: bits)
    }

    /// `values` as `bits`-bit two's complement fields (2…7; each must fit), value i in bits
    /// i·bits ..< (i+1)·bits of the little-endian bit stream (bit 0 is byte 0's least
    /// significant); the last byte's unused high bits are zero.
    public static func packBits(_ values: [Int8], bits: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: (values.count * bits + 7) / 8)
        let mask = UInt32(1) << UInt32(bits) - 1
        var bit = 0
        for v in values {
            let field = UInt32(bitPattern: Int32(v)) & mask
            let byte = bit >> 3, shift = bit & 7
            out[byte] |= UInt8(truncatingIfNeeded: field << UInt32(shift))
            if shift + bits > 8 { out[byte + 1] |= UInt8(truncatingIfNeeded: field >> UInt32(8 - shift)) }
            bit += bits
        }
        return out
    }

    /// Quantizes a dense row-major matrix, one scale per row.
    public init(quantizingDense values: [Float], rows: Int, cols: Int, bits: Int = 8) {
        let starts = (0...rows).map { Int32(truncatingIfNeeded: $0 * cols) }
        self.init(quantizing: values, rowStarts: starts, bits: bits)
    }

    /// The scale for a row whose largest magnitude is `maxAbs` (0 for an all-zero row), with
    /// L = `largestStep(bits)`: the smallest binary16 value not below maxAbs / L when that is at
    /// most 2^-10 above it (so the artifact can store the scale in two bytes, and the largest value
    /// still quantizes to ±L), otherwise maxAbs / L itself (rows too small or too large for
    /// binary16's normal range).
    @inlinable
    public static func scale(maxAbs: Float, bits: Int = 8) -> Float {
        let exact = maxAbs / Float(largestStep(bits: bits))
        guard exact > 0, exact.isFinite else { return exact }
        var half = Float16(exact)
        if Float(half) < exact { half = half.nextUp }
        let rounded = Float(half)
        return rounded.isFinite && rounded <= exact * (1 + 1.0 / 1024) ? rounded : exact
    }

    /// One value quantized with `scale` > 0, rounding half away from zero, clamped to
    /// ±`largestStep(bits)`.
    @inlinable
    public static func quantize(_ value: Float, scale: Float, bits: Int = 8) -> Int8 {
        let r = (value / scale).rounded(.toNearestOrAwayFromZero)
        guard !r.isNaN else { return 0 }
        let l = Float(largestStep(bits: bits))
        return Int8(max(-l, min(l, r)))
    }

    /// The float values back, `Float(q) * scale` of the row.
    public func dequantized() -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        out.withUnsafeMutableBufferPointer { o in
            values.withUnsafeBufferPointer { q in
                for r in 0..<rows {
                    let s = scales[r]
                    for i in Int(rowStarts[r])..<Int(rowStarts[r + 1]) { o[i] = Float(q[i]) * s }
                }
            }
        }
        return out
    }
}

/// A CSR matrix whose values are int8 rows (the structure of `CSRMatrix`, quantized values).
public struct CSRMatrixInt8: Sendable, Equatable, Hashable {
    /// Number of rows.
    public var rows: Int
    /// Number of columns.
    public var cols: Int
    /// `rows + 1` offsets into `columnIndices`/`values.values`.
    public var rowPointers: [Int32]
    /// Column of each stored value, strictly increasing within a row.
    public var columnIndices: [Int32]
    /// Quantized values and per-row scales; `values.rowStarts == rowPointers`.
    public var values: Int8Rows

    /// Wraps already-valid parts.
    public init(rows: Int, cols: Int, rowPointers: [Int32], columnIndices: [Int32], values: Int8Rows) {
        self.rows = rows
        self.cols = cols
        self.rowPointers = rowPointers
        self.columnIndices = columnIndices
        self.values = values
    }

    /// Quantizes the stored values of `matrix` per row to `bits`-bit steps.
    public init(quantizing matrix: CSRMatrix, bits: Int = 8) {
        self.init(rows: matrix.rows, cols: matrix.cols, rowPointers: matrix.rowPointers,
                  columnIndices: matrix.columnIndices,
                  values: Int8Rows(quantizing: matrix.values, rowStarts: matrix.rowPointers, bits: bits))
    }

    /// The float CSR matrix with dequantized values.
    public func dequantized() -> CSRMatrix {
        CSRMatrix(rows: rows, cols: cols, rowPointers: rowPointers, columnIndices: columnIndices,
                  values: values.dequantized())
    }
}

/// A bitmask matrix whose values are int8 rows.
public struct BitmaskMatrixInt8: Sendable, Equatable, Hashable {
    /// Number of rows.
    public var rows: Int
    /// Number of columns.
    public var cols: Int
    /// `rows * ceil(cols / 8)` bytes, LSB first within a byte.
    public var mask: [UInt8]
    /// Quantized values and per-row scales; `values.rowStarts` are the mask's prefix counts.
    public var values: Int8Rows

    /// Wraps already-valid parts.
    public init(rows: Int, cols: Int, mask: [UInt8], values: Int8Rows) {
        self.rows = rows
        self.cols = cols
        self.mask = mask
        self.values = values
    }

    /// Quantizes the stored values of `matrix` per row to `bits`-bit steps.
    public init(quantizing matrix: BitmaskMatrix, bits: Int = 8) {
        self.init(rows: matrix.rows, cols: matrix.cols, mask: matrix.mask,
                  values: Int8Rows(quantizing: matrix.values, rowStarts: matrix.rowOffsets, bits: bits))
    }

    /// The float bitmask matrix with dequantized values.
    public func dequantized() -> BitmaskMatrix {
        BitmaskMatrix(rows: rows, cols: cols, mask: mask, values: values.dequantized())
    }
}
