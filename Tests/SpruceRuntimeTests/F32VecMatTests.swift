// f32(-qc8w)-vecmat-kn (W stored [K × N], MatMul's orientation) vs its reference twins, and the
// twins vs a plain x · W on the dense (or dequantized) matrix, over sparsities 0, 0.5, 0.9 and 1.0,
// with and without bias, and with zero inputs (which the fast kernels skip).
import SpruceRuntime
import Testing

struct VecMatCase: Sendable, CustomTestStringConvertible {
    var k: Int, n: Int
    var testDescription: String { "K\(k) N\(n)" }
}

let vecMatCases: [VecMatCase] = [
    VecMatCase(k: 1, n: 1), VecMatCase(k: 8, n: 5), VecMatCase(k: 7, n: 8), VecMatCase(k: 16, n: 63),
    VecMatCase(k: 33, n: 64), VecMatCase(k: 20, n: 65), VecMatCase(k: 96, n: 130), VecMatCase(k: 3, n: 200),
]

@Test(arguments: vecMatCases, sparsities)
func vecMatMatchesReferences(_ t: VecMatCase, _ sparsity: Double) {
    var rng = SplitMix64(seed: UInt64(t.k * 257 + t.n) &+ UInt64(sparsity * 1000))
    let dense = sparseWeights(rows: t.k, cols: t.n, sparsity: sparsity, rng: &rng)
    var x = rng.floats(t.k)
    for i in stride(from: 1, to: t.k, by: 3) { x[i] = 0 }
    let csr = CSR(dense: dense, rows: t.k, cols: t.n), mask = Bitmask(dense: dense, rows: t.k, cols: t.n)
    let (scales, dequantized, q) = quantizeRows(dense: dense, rows: t.k, cols: t.n)
    let qStored = storedQ(q, dense: dense)
    func fresh() -> [Float] { [Float](repeating: .nan, count: t.n) }
    func plain(_ w: [Float], bias: [Float]?) -> [Float] {
        (0..<t.n).map { j in (0..<t.k).reduce(bias?[j] ?? 0) { $0 + x[$1] * w[$1 * t.n + j] } }
    }

    for bias in [nil, rng.floats(t.n)] as [[Float]?] {
        let label = "K\(t.k) N\(t.n) at \(sparsity)\(bias == nil ? "" : " + bias")"
        let oracle = plain(dense, bias: bias), oracleQ = plain(dequantized, bias: bias)
        var ref = fresh(), fast = fresh()
        f32VecMatCSRReference(k: t.k, n: t.n, rowPointers: csr.rowPointers, columnIndices: csr.columns,
                              values: csr.values, x: x, bias: bias, y: &ref)
        f32VecMatCSR(k: t.k, n: t.n, rowPointers: csr.rowPointers, columnIndices: csr.columns,
                     values: csr.values, x: x, bias: bias, y: &fast)
        expectClose(ref, oracle, "\(label): csr reference vs dense")
        expectClose(fast, ref, "\(label): csr")

        ref = fresh(); fast = fresh()
        f32VecMatBitmaskReference(k: t.k, n: t.n, maskWords: mask.words, rowValueOffsets: mask.rowValueOffsets,
                                  values: mask.values, x: x, bias: bias, y: &ref)
        f32VecMatBitmask(k: t.k, n: t.n, maskWords: mask.words, rowValueOffsets: mask.rowValueOffsets,
                         values: mask.values, x: x, bias: bias, y: &fast)
        expectClose(ref, oracle, "\(label): bitmask reference vs dense")
        expectClose(fast, ref, "\(label): bitmask")

        ref = fresh(); fast = fresh()
        f32QC8WVecMatCSRReference(k: t.k, n: t.n, rowPointers: csr.rowPointers, columnIndices: csr.columns,
                                  values: qStored, scales: scales, x: x, bias: bias, y: &ref)
        f32QC8WVecMatCSR(k: t.k, n: t.n, rowPointers: csr.rowPointers, columnIndices: csr.columns,
                         values: qStored, scales: scales, x: x, bias: bias, y: &fast)
        expectClose(ref, oracleQ, "\(label): qc8w csr reference vs dequantized")
        expectClose(fast, ref, "\(label): qc8w csr")

        ref = fresh(); fast = fresh()
        f32QC8WVecMatBitmaskReference(k: t.k, n: t.n, maskWords: mask.words, rowValueOffsets: mask.rowValueOffsets,
                                      values: qStored, scales: scales, x: x, bias: bias, y: &ref)
        f32QC8WVecMatBitmask(k: t.k, n: t.n, maskWords: mask.words, rowValueOffsets: mask.rowValueOffsets,
                             values: qStored, scales: scales, x: x, bias: bias, y: &fast)
        expectClose(ref, oracleQ, "\(label): qc8w bitmask reference vs dequantized")
        expectClose(fast, ref, "\(label): qc8w bitmask")

        ref = fresh(); fast = fresh()
        f32QC8WVecMatDenseReference(k: t.k, n: t.n, weights: q + [0], scales: scales, x: x, bias: bias, y: &ref)
        f32QC8WVecMatDense(k: t.k, n: t.n, weights: q + [0], scales: scales, x: x, bias: bias, y: &fast)
        expectClose(ref, oracleQ, "\(label): qc8w dense reference vs dequantized")
        expectClose(fast, ref, "\(label): qc8w dense")
    }
}
