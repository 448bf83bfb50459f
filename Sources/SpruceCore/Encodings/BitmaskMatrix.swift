// A bit per element plus the values of the set bits: the stored form that wins at moderate
// sparsity (about 25–75 %), where CSR's per-value index costs more than one bit per element.
// Rows start on byte boundaries; bit c of a row is bit (c % 8) of byte c / 8, LSB first.

/// A float matrix stored as a row-major bitmask and the values of its set bits.
public struct BitmaskMatrix: Sendable, Equatable, Hashable {
    /// Number of rows (output channels).
    public var rows: Int
    /// Number of columns.
    public var cols: Int
    /// `rows * bytesPerRow` bytes; a set bit marks a stored element.
    public var mask: [UInt8]
    /// Stored values in row-major order of the set bits.
    public var values: [Float]
    /// `rows + 1` offsets into `values` (prefix counts of set bits), derived from `mask`.
    public private(set) var rowOffsets: [Int32]

    /// Bytes of mask per row: ceil(cols / 8).
    public static func bytesPerRow(cols: Int) -> Int { (cols + 7) / 8 }

    /// Bytes of mask per row.
    public var bytesPerRow: Int { Self.bytesPerRow(cols: cols) }

    /// Wraps a mask and its values; callers guarantee the popcount equals `values.count`
    /// and padding bits are zero (the artifact reader checks them first).
    public init(rows: Int, cols: Int, mask: [UInt8], values: [Float]) {
        self.rows = rows
        self.cols = cols
        self.mask = mask
        self.values = values
        self.rowOffsets = Self.rowOffsets(mask: mask, rows: rows, bytesPerRow: Self.bytesPerRow(cols: cols))
    }

    /// The non-zero elements of a dense row-major matrix; `dense.count` must be `rows * cols`.
    public init(dense: [Float], rows: Int, cols: Int) {
        precondition(dense.count == rows * cols, "BitmaskMatrix: \(dense.count) elements for \(rows)x\(cols)")
        let stride = Self.bytesPerRow(cols: cols)
        var mask = [UInt8](repeating: 0, count: rows * stride)
        var values: [Float] = []
        dense.withUnsafeBufferPointer { d in
            mask.withUnsafeMutableBufferPointer { m in
                for r in 0..<rows {
                    for c in 0..<cols where d[r * cols + c] != 0 {
                        m[r * stride + c >> 3] |= UInt8(1) << UInt8(c & 7)
                        values.append(d[r * cols + c])
                    }
                }
            }
        }
        self.init(rows: rows, cols: cols, mask: mask, values: values)
    }

    /// Prefix counts of set bits per row.
    public static func rowOffsets(mask: [UInt8], rows: Int, bytesPerRow: Int) -> [Int32] {
        var offsets = [Int32](repeating: 0, count: rows + 1)
        var total = 0
        mask.withUnsafeBufferPointer { m in
            for r in 0..<rows {
                for b in 0..<bytesPerRow { total += m[r * bytesPerRow + b].nonzeroBitCount }
                offsets[r + 1] = Int32(truncatingIfNeeded: total)
            }
        }
        return offsets
    }

    /// Number of stored values.
    public var storedCount: Int { values.count }

    /// The matrix as dense row-major elements.
    public func dense() -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        let stride = bytesPerRow
        var k = 0
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<rows {
                for c in 0..<cols where mask[r * stride + c >> 3] & (UInt8(1) << UInt8(c & 7)) != 0 {
                    o[r * cols + c] = values[k]
                    k += 1
                }
            }
        }
        return out
    }
}
