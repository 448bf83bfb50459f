// The sparse row kernels on 2–7-bit values read in their packed form (qcNw): the same outputs as
// the qc8w reference twin on the values widened to int8, for spmm and spconv, CSR and bitmask.
@testable import SpruceRuntime
import SpruceCore
import Testing

/// Row-quantized `dense` to `bits`-bit steps: the stored non-zeros' values, widened (plus one pad)
/// and packed (plus the slack the kernels may read), and the row scales.
private func packedRows(_ dense: [Float], rows: Int, cols: Int, bits: Int)
    -> (wide: [Int8], packed: [UInt8], scales: [Float]) {
    let top = Float(Int8Rows.largestStep(bits: bits))
    var wide: [Int8] = [], scales: [Float] = []
    for r in 0..<rows {
        let row = dense[(r * cols)..<((r + 1) * cols)]
        let largest = row.map(abs).max() ?? 0
        let s = largest > 0 ? largest / top : 1
        scales.append(s)
        for v in row where v != 0 { wide.append(Int8(max(-top, min(top, (v / s).rounded())))) }
    }
    return (wide + [0], Int8Rows.packBits(wide, bits: bits) + [UInt8](repeating: 0, count: packedValueSlack), scales)
}

@Test(arguments: [2, 3, 4, 5, 7])
func unpackedValuesMatchThePackedStream(_ bits: Int) {
    var rng = SplitMix64(seed: UInt64(bits))
    let top = Int8Rows.largestStep(bits: bits)
    let values = (0..<203).map { _ in Int8(Int(rng.next() % UInt64(2 * top + 1)) - top) }
    let packed = Int8Rows.packBits(values, bits: bits) + [UInt8](repeating: 0, count: packedValueSlack)
    var out = [Float](repeating: .nan, count: 37)
    packed.withUnsafeBufferPointer { p in
        // Vector groups and scalar tails, from byte-aligned and unaligned starts, up to the last value.
        for first in [0, 1, 5, 166] {
            out.withUnsafeMutableBufferPointer { unpackValues(p.baseAddress!, bits: bits, first: first, count: 37, into: $0.baseAddress!) }
            #expect(out == values[first..<(first + 37)].map { Float($0) }, "\(bits) bits from \(first)")
        }
    }
}

@Test(arguments: [3, 4], [0.5, 0.9])
func packedSpmmMatchesInt8(_ bits: Int, _ sparsity: Double) {
    for t in [SpmmCase(m: 9, k: 70, n: 45), SpmmCase(m: 33, k: 200, n: 1), SpmmCase(m: 3, k: 19, n: 137)] {
        var rng = SplitMix64(seed: UInt64(t.m * 7 + bits) &+ UInt64(sparsity * 100))
        let dense = sparseWeights(rows: t.m, cols: t.k, sparsity: sparsity, rng: &rng)
        let x = rng.floats(t.k * t.n), bias = rng.floats(t.m)
        let (wide, packed, scales) = packedRows(dense, rows: t.m, cols: t.k, bits: bits)
        let csr = CSR(dense: dense, rows: t.m, cols: t.k), mask = Bitmask(dense: dense, rows: t.m, cols: t.k)
        let workspace = allocateWorkspace(sparseSpmmWorkspaceBytes(k: t.k))
        defer { workspace.deallocate() }
        let bounds = ActivationBounds(lower: -1, upper: 1.5)
        for masked in [false, true] {
            var expected = [Float](repeating: .nan, count: t.m * t.n), actual = expected
            withIndexing(masked ? nil : csr, masked ? mask : nil, k: t.k) { indexing in
                wide.withUnsafeBufferPointer { q in packed.withUnsafeBufferPointer { p in scales.withUnsafeBufferPointer { s in
                    sparseSpmmReference(indexing, .qc8w(q.baseAddress!, scales: s.baseAddress!), m: t.m, k: t.k, n: t.n,
                                        x: x, bias: bias, bounds: bounds, y: &expected, rows: 0..<t.m)
                    for rows in [0..<(t.m / 2), (t.m / 2)..<t.m] {
                        sparseSpmm(indexing, .packed(p.baseAddress!, bits: bits, scales: s.baseAddress!), m: t.m, k: t.k,
                                   n: t.n, x: x, bias: bias, bounds: bounds, y: &actual, rows: rows, workspace: workspace)
                    }
                } } }
            }
            expectClose(actual, expected, "packed \(bits)-bit spmm \(masked ? "bitmask" : "csr") \(t.testDescription)")
        }
    }
}

@Test(arguments: [3, 4])
func packedSpconvMatchesInt8(_ bits: Int) {
    for t in convCases {
        let g = t.geometry
        var rng = SplitMix64(seed: UInt64(t.c * 31 + t.h + bits))
        let rows = g.outChannels, cols = g.reduction
        let dense = sparseWeights(rows: rows, cols: cols, sparsity: 0.8, rng: &rng)
        let input = rng.floats(g.inChannels * g.inPlane), bias = rng.floats(rows)
        let (wide, packed, scales) = packedRows(dense, rows: rows, cols: cols, bits: bits)
        let csr = CSR(dense: dense, rows: rows, cols: cols), mask = Bitmask(dense: dense, rows: rows, cols: cols)
        let workspace = allocateWorkspace(sparseSpconvWorkspaceBytes(g))
        defer { workspace.deallocate() }
        let bounds = ActivationBounds(lower: 0, upper: 2)
        for masked in [false, true] {
            var expected = [Float](repeating: .nan, count: rows * g.outPlane), actual = expected
            withIndexing(masked ? nil : csr, masked ? mask : nil, k: cols) { indexing in
                wide.withUnsafeBufferPointer { q in packed.withUnsafeBufferPointer { p in scales.withUnsafeBufferPointer { s in
                    sparseSpconvReference(g, indexing, .qc8w(q.baseAddress!, scales: s.baseAddress!), input: input,
                                          bias: bias, bounds: bounds, output: &expected, outputChannels: 0..<rows)
                    sparseSpconv(g, indexing, .packed(p.baseAddress!, bits: bits, scales: s.baseAddress!), input: input,
                                 bias: bias, bounds: bounds, output: &actual, outputChannels: 0..<rows, workspace: workspace)
                } } }
            }
            expectClose(actual, expected, "packed \(bits)-bit spconv \(masked ? "bitmask" : "csr") \(t.testDescription)")
        }
    }
}

/// `body` with the CSR or the bitmask index in kernel form.
private func withIndexing(_ csr: CSR?, _ mask: Bitmask?, k: Int, _ body: (SparseIndexing) -> Void) {
    if let csr {
        csr.rowPointers.withUnsafeBufferPointer { rp in csr.columns.withUnsafeBufferPointer { ci in
            body(.csr(rowPointers: rp.baseAddress!, columnIndices: ci.baseAddress!))
        } }
    } else if let mask {
        mask.words.withUnsafeBufferPointer { w in mask.rowValueOffsets.withUnsafeBufferPointer { o in
            body(.bitmask(words: w.baseAddress!, wordsPerRow: (k + 63) / 64, rowValueOffsets: o.baseAddress!))
        } }
    }
}
