// The sparse kernels (spmm and spconv; CSR and bitmask; f32 and qc8w) vs their reference twins,
// and the twins vs the dense references on the densified (or dequantized) weights, over
// sparsities 0, 0.5, 0.9 and 1.0; every matrix has an all-zero row 0.
import SpruceRuntime
import Testing

let sparsities: [Double] = [0, 0.5, 0.9, 1.0]

struct SpmmCase: Sendable, CustomTestStringConvertible {
    var m: Int, k: Int, n: Int
    var testDescription: String { "M\(m) K\(k) N\(n)" }
}

let spmmCases: [SpmmCase] = [
    SpmmCase(m: 1, k: 1, n: 1), SpmmCase(m: 5, k: 7, n: 9), SpmmCase(m: 16, k: 64, n: 32),
    SpmmCase(m: 9, k: 70, n: 45), SpmmCase(m: 12, k: 130, n: 100), SpmmCase(m: 33, k: 200, n: 1),
    // Every row-block shape: 8, 16, 24, 32 and 64 wide, rests of 1–56 after 64-wide blocks,
    // moved-back last blocks, and rows shorter than one vector.
    SpmmCase(m: 4, k: 10, n: 8), SpmmCase(m: 7, k: 50, n: 16), SpmmCase(m: 6, k: 40, n: 24),
    SpmmCase(m: 5, k: 30, n: 48), SpmmCase(m: 5, k: 33, n: 56), SpmmCase(m: 4, k: 21, n: 80),
    SpmmCase(m: 3, k: 19, n: 137), SpmmCase(m: 4, k: 9, n: 12), SpmmCase(m: 3, k: 5, n: 5),
    SpmmCase(m: 3, k: 66, n: 64), SpmmCase(m: 2, k: 7, n: 121),
]

@Test(arguments: spmmCases, sparsities)
func spmmMatchesReferences(_ t: SpmmCase, _ sparsity: Double) {
    var rng = SplitMix64(seed: UInt64(t.m * 131 + t.k * 17 + t.n) &+ UInt64(sparsity * 1000))
    let dense = sparseWeights(rows: t.m, cols: t.k, sparsity: sparsity, rng: &rng)
    let x = rng.floats(t.k * t.n), bias = rng.floats(t.m)
    let csr = CSR(dense: dense, rows: t.m, cols: t.k), mask = Bitmask(dense: dense, rows: t.m, cols: t.k)
    let (scales, dequantized, q) = quantizeRows(dense: dense, rows: t.m, cols: t.k)
    let qStored = storedQ(q, dense: dense)
    let workspace = allocateWorkspace(f32SpmmCSRWorkspaceBytes(k: t.k))
    defer { workspace.deallocate() }
    let bounds = ActivationBounds(lower: -1, upper: 1.5)
    let count = t.m * t.n
    let split = t.m / 2
    func fresh() -> [Float] { [Float](repeating: .nan, count: count) }

    // Oracles: dense GEMM references on the dense and the dequantized weights.
    var oracle = fresh(), oracleQ = fresh()
    f32GemmReference(m: t.m, n: t.n, k: t.k, a: dense, lda: t.k, b: x, ldb: t.n, c: &oracle, ldc: t.n,
                     bias: bias, bounds: bounds, rows: 0..<t.m)
    f32GemmReference(m: t.m, n: t.n, k: t.k, a: dequantized, lda: t.k, b: x, ldb: t.n, c: &oracleQ, ldc: t.n,
                     bias: bias, bounds: bounds, rows: 0..<t.m)

    var ref = fresh(), fast = fresh()
    f32SpmmCSRReference(m: t.m, k: t.k, n: t.n, rowPointers: csr.rowPointers, columnIndices: csr.columns,
                        values: csr.values, x: x, bias: bias, bounds: bounds, y: &ref, outputChannels: 0..<t.m)
    for rows in [0..<split, split..<t.m] {
        f32SpmmCSR(m: t.m, k: t.k, n: t.n, rowPointers: csr.rowPointers, columnIndices: csr.columns,
                   values: csr.values, x: x, bias: bias, bounds: bounds, y: &fast, outputChannels: rows,
                   workspace: workspace)
    }
    expectClose(ref, oracle, "spmm csr reference vs dense")
    expectClose(fast, ref, "spmm csr")

    ref = fresh(); fast = fresh()
    f32SpmmBitmaskReference(m: t.m, k: t.k, n: t.n, maskWords: mask.words, rowValueOffsets: mask.rowValueOffsets,
                            values: mask.values, x: x, bias: bias, bounds: bounds, y: &ref, outputChannels: 0..<t.m)
    for rows in [0..<split, split..<t.m] {
        f32SpmmBitmask(m: t.m, k: t.k, n: t.n, maskWords: mask.words, rowValueOffsets: mask.rowValueOffsets,
                       values: mask.values, x: x, bias: bias, bounds: bounds, y: &fast, outputChannels: rows,
                       workspace: workspace)
    }
    expectClose(ref, oracle, "spmm bitmask reference vs dense")
    expectClose(fast, ref, "spmm bitmask")

    ref = fresh(); fast = fresh()
    f32QC8WSpmmCSRReference(m: t.m, k: t.k, n: t.n, rowPointers: csr.rowPointers, columnIndices: csr.columns,
                            values: qStored, scales: scales, x: x, bias: bias, bounds: bounds, y: &ref,
                            outputChannels: 0..<t.m)
    for rows in [0..<split, split..<t.m] {
        f32QC8WSpmmCSR(m: t.m, k: t.k, n: t.n, rowPointers: csr.rowPointers, columnIndices: csr.columns,
                       values: qStored, scales: scales, x: x, bias: bias, bounds: bounds, y: &fast,
                       outputChannels: rows, workspace: workspace)
    }
    expectClose(ref, oracleQ, "qc8w spmm csr reference vs dequantized dense")
    expectClose(fast, ref, "qc8w spmm csr")

    ref = fresh(); fast = fresh()
    f32QC8WSpmmBitmaskReference(m: t.m, k: t.k, n: t.n, maskWords: mask.words, rowValueOffsets: mask.rowValueOffsets,
                                values: qStored, scales: scales, x: x, bias: bias, bounds: bounds, y: &ref,
                                outputChannels: 0..<t.m)
    for rows in [0..<split, split..<t.m] {
        f32QC8WSpmmBitmask(m: t.m, k: t.k, n: t.n, maskWords: mask.words, rowValueOffsets: mask.rowValueOffsets,
                           values: qStored, scales: scales, x: x, bias: bias, bounds: bounds, y: &fast,
                           outputChannels: rows, workspace: workspace)
    }
    expectClose(ref, oracleQ, "qc8w spmm bitmask reference vs dequantized dense")
    expectClose(fast, ref, "qc8w spmm bitmask")
}

@Test(arguments: convCases, sparsities)
func spconvMatchesReferences(_ t: ConvCase, _ sparsity: Double) {
    let g = t.geometry
    var rng = SplitMix64(seed: UInt64(t.c * 977 + t.h * 13 + t.kh * 5 + t.groups) &+ UInt64(sparsity * 1000))
    let rows = g.outChannels, cols = g.reduction
    let dense = sparseWeights(rows: rows, cols: cols, sparsity: sparsity, rng: &rng)
    let input = rng.floats(g.inChannels * g.inPlane), bias = rng.floats(rows)
    let csr = CSR(dense: dense, rows: rows, cols: cols), mask = Bitmask(dense: dense, rows: rows, cols: cols)
    let (scales, dequantized, q) = quantizeRows(dense: dense, rows: rows, cols: cols)
    let qStored = storedQ(q, dense: dense)
    let workspace = allocateWorkspace(f32SpconvCSRWorkspaceBytes(g))
    defer { workspace.deallocate() }
    let bounds = ActivationBounds(lower: 0, upper: 2)
    let count = rows * g.outPlane
    let split = rows / 2 + 1
    func fresh() -> [Float] { [Float](repeating: .nan, count: count) }

    var oracle = fresh(), oracleQ = fresh()
    f32ConvDenseReference(g, input: input, weights: dense, bias: bias, bounds: bounds, output: &oracle,
                          outputChannels: 0..<rows)
    f32ConvDenseReference(g, input: input, weights: dequantized, bias: bias, bounds: bounds, output: &oracleQ,
                          outputChannels: 0..<rows)

    var ref = fresh(), fast = fresh()
    f32SpconvCSRReference(g, rowPointers: csr.rowPointers, columnIndices: csr.columns, values: csr.values,
                          input: input, bias: bias, bounds: bounds, output: &ref, outputChannels: 0..<rows)
    for range in [0..<split, split..<rows] {
        f32SpconvCSR(g, rowPointers: csr.rowPointers, columnIndices: csr.columns, values: csr.values,
                     input: input, bias: bias, bounds: bounds, output: &fast, outputChannels: range,
                     workspace: workspace)
    }
    expectClose(ref, oracle, "spconv csr reference vs dense \(t.testDescription)")
    expectClose(fast, ref, "spconv csr \(t.testDescription)")

    ref = fresh(); fast = fresh()
    f32SpconvBitmaskReference(g, maskWords: mask.words, rowValueOffsets: mask.rowValueOffsets, values: mask.values,
                              input: input, bias: bias, bounds: bounds, output: &ref, outputChannels: 0..<rows)
    for range in [0..<split, split..<rows] {
        f32SpconvBitmask(g, maskWords: mask.words, rowValueOffsets: mask.rowValueOffsets, values: mask.values,
                         input: input, bias: bias, bounds: bounds, output: &fast, outputChannels: range,
                         workspace: workspace)
    }
    expectClose(ref, oracle, "spconv bitmask reference vs dense \(t.testDescription)")
    expectClose(fast, ref, "spconv bitmask \(t.testDescription)")

    ref = fresh(); fast = fresh()
    f32QC8WSpconvCSRReference(g, rowPointers: csr.rowPointers, columnIndices: csr.columns, values: qStored,
                              scales: scales, input: input, bias: bias, bounds: bounds, output: &ref,
                              outputChannels: 0..<rows)
    for range in [0..<split, split..<rows] {
        f32QC8WSpconvCSR(g, rowPointers: csr.rowPointers, columnIndices: csr.columns, values: qStored,
                         scales: scales, input: input, bias: bias, bounds: bounds, output: &fast,
                         outputChannels: range, workspace: workspace)
    }
    expectClose(ref, oracleQ, "qc8w spconv csr reference vs dequantized dense \(t.testDescription)")
    expectClose(fast, ref, "qc8w spconv csr \(t.testDescription)")

    ref = fresh(); fast = fresh()
    f32QC8WSpconvBitmaskReference(g, maskWords: mask.words, rowValueOffsets: mask.rowValueOffsets, values: qStored,
                                  scales: scales, input: input, bias: bias, bounds: bounds, output: &ref,
                                  outputChannels: 0..<rows)
    for range in [0..<split, split..<rows] {
        f32QC8WSpconvBitmask(g, maskWords: mask.words, rowValueOffsets: mask.rowValueOffsets, values: qStored,
                             scales: scales, input: input, bias: bias, bounds: bounds, output: &fast,
                             outputChannels: range, workspace: workspace)
    }
    expectClose(ref, oracleQ, "qc8w spconv bitmask reference vs dequantized dense \(t.testDescription)")
    expectClose(fast, ref, "qc8w spconv bitmask \(t.testDescription)")
}

@Test func bitmaskRowValueOffsetsArePrefixPopcounts() {
    let words: [UInt64] = [0b1011, 0, 0, 1 << 63, UInt64.max, 1]
    var offsets = [UInt32](repeating: 0, count: 4)
    bitmaskRowValueOffsets(words: words, rows: 3, wordsPerRow: 2, offsets: &offsets)
    #expect(offsets == [0, 3, 4, 69])
}
