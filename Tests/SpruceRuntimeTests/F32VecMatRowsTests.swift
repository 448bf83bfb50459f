// f32VecMatRows (many input rows through a W stored [K × N], eight rows at a time) in every weight
// form vs the single-row reference twins applied row by row, over rows that fill, miss and split
// blocks of eight (two calls, as two threads would make them), with zero inputs and bias.
@testable import SpruceRuntime
import Testing

@Test(arguments: [(1, VecMatCase(k: 8, n: 5)), (8, VecMatCase(k: 7, n: 8)), (13, VecMatCase(k: 33, n: 64)),
                  (24, VecMatCase(k: 20, n: 65)), (81, VecMatCase(k: 96, n: 130))], [0.0, 0.5, 0.9])
func vecMatRowsMatchReferences(_ shape: (rows: Int, t: VecMatCase), _ sparsity: Double) {
    let (rows, t) = shape
    var rng = SplitMix64(seed: UInt64(rows * 7919 + t.k * 257 + t.n) &+ UInt64(sparsity * 1000))
    let dense = sparseWeights(rows: t.k, cols: t.n, sparsity: sparsity, rng: &rng)
    var x = rng.floats(rows * t.k)
    for i in stride(from: 1, to: x.count, by: 3) { x[i] = 0 }
    for i in 0..<min(8, rows) { x[i * t.k] = 0 }  // a W row whose eight inputs are all zero
    let bias = rng.floats(t.n)
    let csr = CSR(dense: dense, rows: t.k, cols: t.n), mask = Bitmask(dense: dense, rows: t.k, cols: t.n)
    let (scales, _, q) = quantizeRows(dense: dense, rows: t.k, cols: t.n)
    let qStored = storedQ(q, dense: dense), qDense = q + [0]
    let workspace = allocateWorkspace(f32VecMatRowsWorkspaceBytes(k: t.k, n: t.n))
    defer { workspace.deallocate() }
    let split = (rows / 2) / 8 * 8

    /// Every row through `reference`, and all rows through `rowsKernel` in two calls.
    func check(_ label: String, reference: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
               rowsKernel: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        var expected = [Float](repeating: .nan, count: rows * t.n), actual = expected
        x.withUnsafeBufferPointer { xp in
            expected.withUnsafeMutableBufferPointer { ep in
                for r in 0..<rows { reference(xp.baseAddress! + r * t.k, ep.baseAddress! + r * t.n) }
            }
        }
        actual.withUnsafeMutableBufferPointer { ap in
            for part in [0..<split, split..<rows] { rowsKernel(part, ap.baseAddress!) }
        }
        expectClose(actual, expected, "\(label) rows \(rows) K\(t.k) N\(t.n) at \(sparsity)")
    }
    check("csr", reference: { xr, yr in
        f32VecMatCSRReference(k: t.k, n: t.n, rowPointers: csr.rowPointers, columnIndices: csr.columns, values: csr.values,
                              x: xr, bias: bias, y: yr)
    }, rowsKernel: { part, y in
        csr.rowPointers.withUnsafeBufferPointer { rp in csr.columns.withUnsafeBufferPointer { ci in
            csr.values.withUnsafeBufferPointer { v in
                f32VecMatRows(CSRRowsF32(rowPointers: rp.baseAddress!, columns: ci.baseAddress!, values: v.baseAddress!),
                              k: t.k, n: t.n, rows: part, x: x, bias: bias, y: y, workspace: workspace)
            } } }
    })
    check("qc8w csr", reference: { xr, yr in
        f32QC8WVecMatCSRReference(k: t.k, n: t.n, rowPointers: csr.rowPointers, columnIndices: csr.columns, values: qStored,
                                  scales: scales, x: xr, bias: bias, y: yr)
    }, rowsKernel: { part, y in
        csr.rowPointers.withUnsafeBufferPointer { rp in csr.columns.withUnsafeBufferPointer { ci in
            qStored.withUnsafeBufferPointer { v in scales.withUnsafeBufferPointer { s in
                f32VecMatRows(CSRRowsQC8W(rowPointers: rp.baseAddress!, columns: ci.baseAddress!, values: v.baseAddress!,
                                          scales: s.baseAddress!),
                              k: t.k, n: t.n, rows: part, x: x, bias: bias, y: y, workspace: workspace)
            } } } }
    })
    check("bitmask", reference: { xr, yr in
        f32VecMatBitmaskReference(k: t.k, n: t.n, maskWords: mask.words, rowValueOffsets: mask.rowValueOffsets,
                                  values: mask.values, x: xr, bias: bias, y: yr)
    }, rowsKernel: { part, y in
        mask.words.withUnsafeBufferPointer { mw in mask.rowValueOffsets.withUnsafeBufferPointer { ro in
            mask.values.withUnsafeBufferPointer { v in
                f32VecMatRows(MaskRowsF32(n: t.n, maskWords: mw.baseAddress!, rowValueOffsets: ro.baseAddress!,
                                          values: v.baseAddress!),
                              k: t.k, n: t.n, rows: part, x: x, bias: bias, y: y, workspace: workspace)
            } } }
    })
    check("qc8w bitmask", reference: { xr, yr in
        f32QC8WVecMatBitmaskReference(k: t.k, n: t.n, maskWords: mask.words, rowValueOffsets: mask.rowValueOffsets,
                                      values: qStored, scales: scales, x: xr, bias: bias, y: yr)
    }, rowsKernel: { part, y in
        mask.words.withUnsafeBufferPointer { mw in mask.rowValueOffsets.withUnsafeBufferPointer { ro in
            qStored.withUnsafeBufferPointer { v in scales.withUnsafeBufferPointer { s in
                f32VecMatRows(MaskRowsQC8W(n: t.n, maskWords: mw.baseAddress!, rowValueOffsets: ro.baseAddress!,
                                           values: v.baseAddress!, scales: s.baseAddress!),
                              k: t.k, n: t.n, rows: part, x: x, bias: bias, y: y, workspace: workspace)
            } } } }
    })
    check("qc8w dense", reference: { xr, yr in
        f32QC8WVecMatDenseReference(k: t.k, n: t.n, weights: qDense, scales: scales, x: xr, bias: bias, y: yr)
    }, rowsKernel: { part, y in
        qDense.withUnsafeBufferPointer { v in scales.withUnsafeBufferPointer { s in
            f32VecMatRows(DenseRowsQC8W(n: t.n, values: v.baseAddress!, scales: s.baseAddress!),
                          k: t.k, n: t.n, rows: part, x: x, bias: bias, y: y, workspace: workspace)
        } }
    })
}
