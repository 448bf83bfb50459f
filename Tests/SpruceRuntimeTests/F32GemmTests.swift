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
    GemmCase(m: 5, n: 3, k: 600),
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
