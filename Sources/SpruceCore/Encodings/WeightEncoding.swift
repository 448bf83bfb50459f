// The exact raw byte cost of storing one weight matrix as dense, CSR (narrowest absolute or delta
// column indices) or bitmask, for float32 or int8 values (+ one scale per row), and the shortlist
// the artifact writer compresses to pick the encoding with the fewest stored (zstd) bytes.

/// A storage encoding for a weight matrix viewed as [rows, cols].
public enum WeightEncoding: Sendable, Equatable, Hashable {
    case dense
    /// Row pointers and column indices in the given formats.
    case csr(rowPointers: IndexFormat, columnIndices: IndexFormat)
    case bitmask

    /// Exact raw bytes of each encoding of `matrix` (row-major, `rows * cols` elements), dense first.
    public static func costs(of matrix: [Float], rows: Int, cols: Int,
                             valueType: WeightValueType) -> [EncodingCost] {
        let (stored, maxDelta) = statistics(of: matrix, rows: rows, cols: cols)
        return costs(rows: rows, cols: cols, storedCount: stored, maxColumnDelta: maxDelta, valueType: valueType)
    }

    /// Non-zero count and largest column step within a row (a row's first column counts as a step from 0).
    static func statistics(of matrix: [Float], rows: Int, cols: Int) -> (stored: Int, maxDelta: Int) {
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
        return (stored, maxDelta)
    }

    /// The encodings worth compressing to find the fewest stored bytes: those whose raw cost is
    /// within `slack` times the cheapest, CSR with absolute and with delta column indices both
    /// (deltas are often wider or equal raw but compress better). Raw order: dense, bitmask, CSR.
    public static func candidates(for matrix: [Float], rows: Int, cols: Int, valueType: WeightValueType,
                                  slack: Double = 1.5) -> [EncodingCost] {
        let (stored, maxDelta) = statistics(of: matrix, rows: rows, cols: cols)
        var all = costs(rows: rows, cols: cols, storedCount: stored, maxColumnDelta: maxDelta, valueType: valueType)
        for columns in csrColumnFormats(cols: cols, maxColumnDelta: maxDelta) {
            if let cost = csrCost(rows: rows, storedCount: stored, columns: columns, valueType: valueType),
               !all.contains(where: { $0.encoding == cost.encoding }) {
                all.append(cost)
            }
        }
        let cheapest = all.map(\.totalBytes).min() ?? 0
        return all.filter { Double($0.totalBytes) <= slack * Double(cheapest) }
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
        let formats = csrColumnFormats(cols: cols, maxColumnDelta: maxColumnDelta)
        if let absolute = formats.first, let delta = formats.last,
           let cost = csrCost(rows: rows, storedCount: storedCount, columns: delta.byteWidth < absolute.byteWidth ? delta : absolute,
                              valueType: valueType) {
            result.append(cost)
        }
        return result
    }

    /// The narrowest absolute and the narrowest delta column format (empty when none fits).
    static func csrColumnFormats(cols: Int, maxColumnDelta: Int) -> [IndexFormat] {
        guard let absolute = IndexFormat.narrowestAbsolute(fitting: max(cols - 1, 0)),
              let delta = IndexFormat.narrowestDelta(fitting: maxColumnDelta) else { return [] }
        return [absolute, delta]
    }

    /// The raw cost of CSR with `columns` indices and the narrowest row pointers (nil when they do not fit).
    static func csrCost(rows: Int, storedCount: Int, columns: IndexFormat, valueType: WeightValueType) -> EncodingCost? {
        guard let pointers = IndexFormat.narrowestAbsolute(fitting: storedCount) else { return nil }
        return EncodingCost(encoding: .csr(rowPointers: pointers, columnIndices: columns), storedCount: storedCount,
                            valueBytes: storedCount * valueType.byteWidth,
                            indexBytes: (rows + 1) * pointers.byteWidth + storedCount * columns.byteWidth,
                            scaleBytes: valueType == .int8 ? 4 * rows : 0)
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
