// Compressed sparse rows over Float: the stored form of a pruned weight matrix [rows, cols].
// Indices are Int32 in memory whatever their storage width; entries of a row are sorted by
// column. It is a container, not a kernel: the runtime's spmm kernels read its arrays.

/// A float matrix in compressed sparse row form.
///
/// ```swift
/// let m = CSRMatrix(dense: [0, 2, 0, 3], rows: 2, cols: 2)  // rowPointers [0, 1, 2]
/// m.dense() == [0, 2, 0, 3]
/// ```
public struct CSRMatrix: Sendable, Equatable, Hashable {
    /// Number of rows (output channels).
    public var rows: Int
    /// Number of columns (everything else of the tensor).
    public var cols: Int
    /// `rows + 1` offsets into `columnIndices`/`values`; row `r` is `rowPointers[r] ..< rowPointers[r+1]`.
    public var rowPointers: [Int32]
    /// Column of each stored value, strictly increasing within a row.
    public var columnIndices: [Int32]
    /// Stored values, row by row.
    public var values: [Float]

    /// Wraps already-valid arrays; callers guarantee the invariants (the artifact reader checks them first).
    public init(rows: Int, cols: Int, rowPointers: [Int32], columnIndices: [Int32], values: [Float]) {
        self.rows = rows
        self.cols = cols
        self.rowPointers = rowPointers
        self.columnIndices = columnIndices
        self.values = values
    }

    /// The non-zero elements of a dense row-major matrix; `dense.count` must be `rows * cols`.
    public init(dense: [Float], rows: Int, cols: Int) {
        precondition(dense.count == rows * cols, "CSRMatrix: \(dense.count) elements for \(rows)x\(cols)")
        var rowPointers = [Int32](repeating: 0, count: rows + 1)
        var columnIndices: [Int32] = []
        var values: [Float] = []
        dense.withUnsafeBufferPointer { d in
            for r in 0..<rows {
                let base = r * cols
                for c in 0..<cols where d[base + c] != 0 {
                    columnIndices.append(Int32(c))
                    values.append(d[base + c])
                }
                rowPointers[r + 1] = Int32(values.count)
            }
        }
        self.init(rows: rows, cols: cols, rowPointers: rowPointers, columnIndices: columnIndices, values: values)
    }

    /// Number of stored values.
    public var storedCount: Int { values.count }

    /// The matrix as dense row-major elements.
    public func dense() -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<rows {
                for k in Int(rowPointers[r])..<Int(rowPointers[r + 1]) {
                    o[r * cols + Int(columnIndices[k])] = values[k]
                }
            }
        }
        return out
    }

    /// The largest gap a delta coding of the column indices must hold (a row's first entry counts from 0).
    public var maxColumnDelta: Int {
        var maxDelta = 0
        for r in 0..<rows {
            var previous = 0
            for k in Int(rowPointers[r])..<Int(rowPointers[r + 1]) {
                let c = Int(columnIndices[k])
                maxDelta = max(maxDelta, c - previous)
                previous = c
            }
        }
        return maxDelta
    }
}
