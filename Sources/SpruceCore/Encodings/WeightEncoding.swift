// Chooses how to store one weight matrix by its exact raw byte cost: dense, CSR (narrowest
// absolute or delta column indices) or bitmask, for float32 or int8 values (+ one scale per row).
// Costs are before zstd; the encoding that is smallest raw is also what the runtime computes with.

/// A storage encoding for a weight matrix viewed as [rows, cols].
public enum WeightEncoding: Sendable, Equatable, Hashable {
    case dense
    /// Row pointers and column indices in the given formats.
    case csr(rowPointers: IndexFormat, columnIndices: IndexFormat)
    case bitmask

    /// Exact raw bytes of each encoding of `matrix` (row-major, `rows * cols` elements), dense first.
    public static func costs(of matrix: [Float], rows: Int, cols: Int,
                             valueType: WeightValueType) -> [EncodingCost] {
        precondition(matrix.count == rows * cols, "WeightEncoding: \(matrix.count) elements for \(rows)x\(cols)")
        var stored = 0
        var maxDelta = 0
        matrix.withUnsafeBufferPointer { m in
            for r in 0..<rows {
                var previous = 0
                for c in 0..<cols where m[r * cols + c] != 0 {
                    stored += 1
                    maxDelta = max(maxDelta, c - previous)
                    previous = c
                }
            }
        }
        return costs(rows: rows, cols: cols, storedCount: stored, maxColumnDelta: maxDelta, valueType: valueType)
    }

    /// Exact raw bytes of each encoding given the matrix's statistics, dense first.
    public static func costs(rows: Int, cols: Int, storedCount: Int, maxColumnDelta: Int,
                             valueType: WeightValueType) -> [EncodingCost] {
        let v = valueType.byteWidth
        let scales = valueType == .int8 ? 4 * rows : 0
        var result = [EncodingCost(encoding: .dense, storedCount: rows * cols, valueBytes: rows * cols * v,
                                   indexBytes: 0, scaleBytes: scales)]
        result.append(EncodingCost(encoding: .bitmask, storedCount: storedCount, valueBytes: storedCount * v,
                                   indexBytes: rows * BitmaskMatrix.bytesPerRow(cols: cols), scaleBytes: scales))
        if let pointerFormat = IndexFormat.narrowestAbsolute(fitting: storedCount),
           let absolute = IndexFormat.narrowestAbsolute(fitting: max(cols - 1, 0)),
           let delta = IndexFormat.narrowestDelta(fitting: maxColumnDelta) {
            let columnFormat = delta.byteWidth < absolute.byteWidth ? delta : absolute
            result.append(EncodingCost(
                encoding: .csr(rowPointers: pointerFormat, columnIndices: columnFormat),
                storedCount: storedCount, valueBytes: storedCount * v,
                indexBytes: (rows + 1) * pointerFormat.byteWidth + storedCount * columnFormat.byteWidth,
                scaleBytes: scales))
        }
        return result
    }

    /// The cheapest encoding of `matrix`; ties go to dense, then bitmask, then CSR.
    public static func choose(for matrix: [Float], rows: Int, cols: Int,
                              valueType: WeightValueType) -> EncodingCost {
        let all = costs(of: matrix, rows: rows, cols: cols, valueType: valueType)
        var best = all[0]
        for c in all.dropFirst() where c.totalBytes < best.totalBytes { best = c }
        return best
    }
}

/// The raw byte cost of one encoding of one matrix, split by part.
public struct EncodingCost: Sendable, Equatable, Hashable {
    /// The encoding costed.
    public var encoding: WeightEncoding
    /// Values the encoding stores (all elements for dense).
    public var storedCount: Int
    /// Bytes of values.
    public var valueBytes: Int
    /// Bytes of row pointers + column indices, or of the bitmask.
    public var indexBytes: Int
    /// Bytes of per-row scales (int8 only).
    public var scaleBytes: Int

    /// All raw bytes.
    public var totalBytes: Int { valueBytes + indexBytes + scaleBytes }

    /// A cost from its parts.
    public init(encoding: WeightEncoding, storedCount: Int, valueBytes: Int, indexBytes: Int, scaleBytes: Int) {
        self.encoding = encoding
        self.storedCount = storedCount
        self.valueBytes = valueBytes
        self.indexBytes = indexBytes
        self.scaleBytes = scaleBytes
    }
}
