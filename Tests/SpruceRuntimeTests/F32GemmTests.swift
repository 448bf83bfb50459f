// f32-gemm vs its reference twin on shapes that are and are not multiples of the 6×16 tile,
// depths across the KC block boundary, row sub-ranges (thread splits), bias on and off.
import SpruceRuntime
import Testing

struct GemmCase: Sendable, CustomTestStringConvertible {
    var m: Int, n: Int, k: Int
    var testDescription: String { "\(m)x\(n)x\(k)" }
}

@Test(arguments: [
    GemmCase(m: 1, n: 1, k: 1), GemmCase(m: 6, n: 16, k: 8), GemmCase(m: 7, n: 17, k: 300),
    GemmCase(m: 13, n: 33, k: 257), GemmCase(m: 50, n: 100, k: 20), GemmCase(m: 12, n: 48, k: 512),
    GemmCase(m: 5, n: 3, k: 600), GemmCase(m: 20, n: 49, k: 700),  // a 7×7 map: one column left for the narrow path
])
func gemmMatchesReference(_ t: GemmCase) {
    var rng = SplitMix64(seed: UInt64(t.m * 1000 + t.n * 10 + t.k))
    let a = rng.floats(t.m * t.k), b = rng.floats(t.k * t.n), bias = rng.floats(t.m)
    var packed = [Float](repeating: .nan, count: f32GemmPackedACount(m: t.m, k: t.k))
    f32GemmPackA(m: t.m, k: t.k, a: a, lda: t.k, packed: &packed)
    let workspace = allocateWorkspace(f32GemmWorkspaceBytes(k: t.k))
    defer { workspace.deallocate() }
    for (withBias, bounds) in [(true, ActivationBounds.identity), (false, ActivationBounds(lower: -0.3, upper: 0.4))] {
        var expected = [Float](repeating: .nan, count: t.m * t.n)
        var actual = expected
        bias.withUnsafeBufferPointer { bp in
            let biasPtr = withBias ? bp.baseAddress : nil
            f32GemmReference(m: t.m, n: t.n, k: t.k, a: a, lda: t.k, b: b, ldb: t.n, c: &expected, ldc: t.n,
                             bias: biasPtr, bounds: bounds, rows: 0..<t.m)
            // Two calls over a split of the rows, as two threads would make them.
            let split = t.m / 3
            for rows in [0..<split, split..<t.m] {
                f32Gemm(m: t.m, n: t.n, k: t.k, packedA: packed, b: b, ldb: t.n, c: &actual, ldc: t.n,
                        bias: biasPtr, bounds: bounds, rows: rows, workspace: workspace)
            }
        }
        expectClose(actual, expected, "gemm \(t.testDescription) bias \(withBias)")
    }
}

@Test func gemmRowRangeLeavesOtherRowsUntouched() {
    var rng = SplitMix64(seed: 7)
    let m = 14, n = 20, k = 9
    let a = rng.floats(m * k), b = rng.floats(k * n)
    var packed = [Float](repeating: 0, count: f32GemmPackedACount(m: m, k: k))
    f32GemmPackA(m: m, k: k, a: a, lda: k, packed: &packed)
    let workspace = allocateWorkspace(f32GemmWorkspaceBytes(k: k))
    defer { workspace.deallocate() }
    var c = [Float](repeating: 42, count: m * n)
    f32Gemm(m: m, n: n, k: k, packedA: packed, b: b, ldb: n, c: &c, ldc: n, bias: nil, bounds: .identity,
            rows: 4..<9, workspace: workspace)
    for row in 0..<m where !(4..<9).contains(row) {
        #expect(c[(row * n)..<(row * n + n)].allSatisfy { $0 == 42 }, "row \(row) was written")
    }
    #expect(c[(4 * n)..<(9 * n)].allSatisfy { $0 != 42 })
}

/// f32GemmRows (rows as A, packed in blocks of 96; bias per column) against the plain definition,
/// over two calls splitting the rows at a panel boundary as two threads would; rows outside the
/// calls keep their NaN.
@Test(arguments: [(1, 3, 1), (6, 16, 9), (7, 17, 40), (97, 16, 8), (200, 35, 96), (300, 8, 321)])
func gemmRowsMatchesReference(rows: Int, n: Int, k: Int) {
    var rng = SplitMix64(seed: UInt64(rows * 1000 + n * 10 + k))
    let x = rng.floats(rows * k), b = rng.floats(k * n), bias = rng.floats(n)
    let workspace = allocateWorkspace(f32GemmRowsWorkspaceBytes(k: k))
    defer { workspace.deallocate() }
    for withBias in [true, false] {
        var expected = [Float](repeating: .nan, count: (rows + 1) * n), actual = expected
        for r in 0..<rows {
            for j in 0..<n {
                var s = withBias ? Double(bias[j]) : 0
                for i in 0..<k { s += Double(x[r * k + i]) * Double(b[i * n + j]) }
                expected[r * n + j] = Float(s)
            }
        }
        let split = (rows / 2) / f32GemmMR * f32GemmMR
        bias.withUnsafeBufferPointer { bp in
            for part in [0..<split, split..<rows] {
                f32GemmRows(rows: part, n: n, k: k, x: x, b: b, bias: withBias ? bp.baseAddress : nil, y: &actual,
                            workspace: workspace)
            }
        }
        expectClose(Array(actual[0..<(rows * n)]), Array(expected[0..<(rows * n)]), "rows \(rows) n \(n) k \(k) bias \(withBias)")
        #expect(actual[(rows * n)...].allSatisfy { $0.isNaN })
    }
}
