// f32(-qc8w)-vecmat-kn: y = x · W + bias for one input row x [K], with W [K × N] as the artifact
// stores it (a MatMul Linear weight, or Gemm without transB): rows are inputs, so each stored row
// is scaled by its input x[k] (times its int8 scale) and added into all of y; an input that is
// zero skips its row. Sparse rows scatter their non-zeros (CSR columns or mask bits), dense int8
// rows are added eight lanes at a time. Dense f32 [K × N] is not here: the plan transposes it once
// for f32-gemm-dense (one row) or f32-gemm-rows (many). Many rows (tokens: ConvNeXt's pointwise
// layers) run eight at a time, each stored entry one eight-lane multiply-add (`f32VecMatRows`),
// split between threads by blocks of eight rows.
import _SpruceSupport

/// y[0..<n] = bias + Σ_k x[k] · W[k, ·], W [K × N] in CSR by rows of K (UInt32 indices, columns < N).
public func f32VecMatCSR(k: Int, n: Int, rowPointers: UnsafePointer<UInt32>, columnIndices: UnsafePointer<UInt32>,
                         values: UnsafePointer<Float>, x: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                         y: UnsafeMutablePointer<Float>) {
    start(y, n: n, bias: bias)
    for r in 0..<k {
        let a = x[r]
        if a == 0 { continue }
        for t in Int(rowPointers[r])..<Int(rowPointers[r + 1]) { y[Int(columnIndices[t])] += a * values[t] }
    }
}

/// y[0..<n] = bias + Σ_k x[k] · scale[k] · Q[k, ·] with int8 rows Q in CSR by rows of K.
public func f32QC8WVecMatCSR(k: Int, n: Int, rowPointers: UnsafePointer<UInt32>, columnIndices: UnsafePointer<UInt32>,
                             values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, x: UnsafePointer<Float>,
                             bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
    start(y, n: n, bias: bias)
    for r in 0..<k {
        let a = x[r] * scales[r]
        if a == 0 { continue }
        for t in Int(rowPointers[r])..<Int(rowPointers[r + 1]) { y[Int(columnIndices[t])] += a * Float(values[t]) }
    }
}

/// y[0..<n] = bias + Σ_k x[k] · W[k, ·], W [K × N] as mask words (ceil(N/64) per row, LSB first)
/// and the values of the set bits, row `r`'s from `rowValueOffsets[r]` on.
public func f32VecMatBitmask(k: Int, n: Int, maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>,
                             values: UnsafePointer<Float>, x: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                             y: UnsafeMutablePointer<Float>) {
    start(y, n: n, bias: bias)
    let wordsPerRow = (n + 63) / 64
    for r in 0..<k {
        let a = x[r]
        if a == 0 { continue }
        var t = Int(rowValueOffsets[r])
        for w in 0..<wordsPerRow {
            var bits = maskWords[r * wordsPerRow + w]
            while bits != 0 {
                y[w * 64 + bits.trailingZeroBitCount] += a * values[t]
                t += 1
                bits &= bits - 1
            }
        }
    }
}

/// y[0..<n] = bias + Σ_k x[k] · scale[k] · Q[k, ·] with int8 rows Q as mask words and set-bit values.
public func f32QC8WVecMatBitmask(k: Int, n: Int, maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>,
                                 values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                 bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
    start(y, n: n, bias: bias)
    let wordsPerRow = (n + 63) / 64
    for r in 0..<k {
        let a = x[r] * scales[r]
        if a == 0 { continue }
        var t = Int(rowValueOffsets[r])
        for w in 0..<wordsPerRow {
            var bits = maskWords[r * wordsPerRow + w]
            while bits != 0 {
                y[w * 64 + bits.trailingZeroBitCount] += a * Float(values[t])
                t += 1
                bits &= bits - 1
            }
        }
    }
}

/// y[0..<n] = bias + Σ_k x[k] · scale[k] · Q[k, ·] with dense int8 rows Q [K × N].
public func f32QC8WVecMatDense(k: Int, n: Int, weights: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
                               x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
    start(y, n: n, bias: bias)
    for r in 0..<k {
        let a = x[r] * scales[r]
        if a == 0 { continue }
        let row = weights + r * n, av = SIMD8<Float>(repeating: a)
        var j = 0
        while j + 8 <= n {
            let q = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Int8>.self)
            store8(multiplyAdd(load8(y + j), av, SIMD8<Float>(q)), y + j)
            j += 8
        }
        while j < n {
            y[j] += a * Float(row[j])
            j += 1
        }
    }
}

@inline(__always)
private func start(_ y: UnsafeMutablePointer<Float>, n: Int, bias: UnsafePointer<Float>?) {
    if let bias { y.update(from: bias, count: n) } else { y.update(repeating: 0, count: n) }
}

// MARK: - Reference twins: every stored weight expanded to its (row, column, value), summed in Double.

/// Reference twin of `f32VecMatCSR`.
public func f32VecMatCSRReference(k: Int, n: Int, rowPointers: UnsafePointer<UInt32>, columnIndices: UnsafePointer<UInt32>,
                                  values: UnsafePointer<Float>, x: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                  y: UnsafeMutablePointer<Float>) {
    vecMatReference(k: k, n: n, x: x, bias: bias, y: y) { r in
        (Int(rowPointers[r])..<Int(rowPointers[r + 1])).map { (Int(columnIndices[$0]), Double(values[$0])) }
    }
}

/// Reference twin of `f32QC8WVecMatCSR`.
public func f32QC8WVecMatCSRReference(k: Int, n: Int, rowPointers: UnsafePointer<UInt32>, columnIndices: UnsafePointer<UInt32>,
                                      values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                      bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
    vecMatReference(k: k, n: n, x: x, bias: bias, y: y) { r in
        (Int(rowPointers[r])..<Int(rowPointers[r + 1])).map { (Int(columnIndices[$0]), Double(values[$0]) * Double(scales[r])) }
    }
}

/// Reference twin of `f32VecMatBitmask`.
public func f32VecMatBitmaskReference(k: Int, n: Int, maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>,
                                      values: UnsafePointer<Float>, x: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                      y: UnsafeMutablePointer<Float>) {
    vecMatReference(k: k, n: n, x: x, bias: bias, y: y) { r in
        maskEntries(row: r, n: n, maskWords: maskWords, first: Int(rowValueOffsets[r])).map { ($0.column, Double(values[$0.value])) }
    }
}

/// Reference twin of `f32QC8WVecMatBitmask`.
public func f32QC8WVecMatBitmaskReference(k: Int, n: Int, maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>,
                                          values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                          bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
    vecMatReference(k: k, n: n, x: x, bias: bias, y: y) { r in
        maskEntries(row: r, n: n, maskWords: maskWords, first: Int(rowValueOffsets[r]))
            .map { ($0.column, Double(values[$0.value]) * Double(scales[r])) }
    }
}

/// Reference twin of `f32QC8WVecMatDense`.
public func f32QC8WVecMatDenseReference(k: Int, n: Int, weights: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
                                        x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
    vecMatReference(k: k, n: n, x: x, bias: bias, y: y) { r in
        (0..<n).map { ($0, Double(weights[r * n + $0]) * Double(scales[r])) }
    }
}

/// y = bias + Σ over every row r of x[r] · (its (column, weight) entries), in Double.
private func vecMatReference(k: Int, n: Int, x: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                             y: UnsafeMutablePointer<Float>, row: (Int) -> [(Int, Double)]) {
    var sums = (0..<n).map { j in bias.map { Double($0[j]) } ?? 0 }
    for r in 0..<k {
        for (column, weight) in row(r) { sums[column] += Double(x[r]) * weight }
    }
    for j in 0..<n { y[j] = Float(sums[j]) }
}

/// The set bits of mask row `row` in column order, each with the index of its stored value.
private func maskEntries(row: Int, n: Int, maskWords: UnsafePointer<UInt64>, first: Int) -> [(column: Int, value: Int)] {
    let wordsPerRow = (n + 63) / 64
    var out: [(column: Int, value: Int)] = []
    for c in 0..<n where (maskWords[row * wordsPerRow + c / 64] >> UInt64(c % 64)) & 1 == 1 {
        out.append((c, first + out.count))
    }
    return out
}

// MARK: - Many rows: eight at a time

/// The stored rows of W [K × N] in any kernel form: row k's (column, value) entries and its scale
/// (an int8 row's, or 1).
protocol KNRows {
    func scale(_ row: Int) -> Float
    func forEach(row: Int, _ body: (Int, Float) -> Void)
}

/// CSR rows, f32 values.
struct CSRRowsF32: KNRows {
    let rowPointers: UnsafePointer<UInt32>, columns: UnsafePointer<UInt32>, values: UnsafePointer<Float>
    @inline(__always) func scale(_ row: Int) -> Float { 1 }
    @inline(__always) func forEach(row: Int, _ body: (Int, Float) -> Void) {
        for t in Int(rowPointers[row])..<Int(rowPointers[row + 1]) { body(Int(columns[t]), values[t]) }
    }
}

/// CSR rows, int8 values with one scale per row.
struct CSRRowsQC8W: KNRows {
    let rowPointers: UnsafePointer<UInt32>, columns: UnsafePointer<UInt32>, values: UnsafePointer<Int8>
    let scales: UnsafePointer<Float>
    @inline(__always) func scale(_ row: Int) -> Float { scales[row] }
    @inline(__always) func forEach(row: Int, _ body: (Int, Float) -> Void) {
        for t in Int(rowPointers[row])..<Int(rowPointers[row + 1]) { body(Int(columns[t]), Float(values[t])) }
    }
}

/// The set bits of mask row `row` (ceil(n/64) words per row) as (column, index of its value).
@inline(__always)
func forEachMaskEntry(row: Int, n: Int, maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>,
                      _ body: (Int, Int) -> Void) {
    let wordsPerRow = (n + 63) / 64
    var t = Int(rowValueOffsets[row])
    for w in 0..<wordsPerRow {
        var bits = maskWords[row * wordsPerRow + w]
        while bits != 0 {
            body(w * 64 + bits.trailingZeroBitCount, t)
            t += 1
            bits &= bits - 1
        }
    }
}

/// Mask rows, f32 values.
struct MaskRowsF32: KNRows {
    let n: Int
    let maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>, values: UnsafePointer<Float>
    @inline(__always) func scale(_ row: Int) -> Float { 1 }
    @inline(__always) func forEach(row: Int, _ body: (Int, Float) -> Void) {
        forEachMaskEntry(row: row, n: n, maskWords: maskWords, rowValueOffsets: rowValueOffsets) { body($0, values[$1]) }
    }
}

/// Mask rows, int8 values with one scale per row.
struct MaskRowsQC8W: KNRows {
    let n: Int
    let maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>, values: UnsafePointer<Int8>
    let scales: UnsafePointer<Float>
    @inline(__always) func scale(_ row: Int) -> Float { scales[row] }
    @inline(__always) func forEach(row: Int, _ body: (Int, Float) -> Void) {
        forEachMaskEntry(row: row, n: n, maskWords: maskWords, rowValueOffsets: rowValueOffsets) { body($0, Float(values[$1])) }
    }
}

/// Dense int8 rows [K × N] with one scale per row.
struct DenseRowsQC8W: KNRows {
    let n: Int
    let values: UnsafePointer<Int8>, scales: UnsafePointer<Float>
    @inline(__always) func scale(_ row: Int) -> Float { scales[row] }
    @inline(__always) func forEach(row: Int, _ body: (Int, Float) -> Void) {
        let q = values + row * n
        for j in 0..<n { body(j, Float(q[j])) }
    }
}

/// Workspace bytes `f32VecMatRows` needs: eight rows of X transposed, and their outputs.
public func f32VecMatRowsWorkspaceBytes(k: Int, n: Int) -> Int { 8 * (k + n) * MemoryLayout<Float>.stride }

/// Y[r, 0..<n] = bias + X[r, ·] · W for the rows r in `rows` (X row-major [· × k], Y [· × n]),
/// eight rows at a time: their inputs transposed into k vectors of eight lanes, each stored
/// entry then one eight-lane multiply-add into its column's accumulator vector, and the
/// accumulators transposed back. A row of W is skipped when all eight inputs to it are zero.
func f32VecMatRows<W: KNRows>(_ w: W, k: Int, n: Int, rows: Range<Int>, x: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
                              workspace: UnsafeMutableRawPointer) {
    let lanes = workspace.bindMemory(to: SIMD8<Float>.self, capacity: k + n)
    let xt = lanes, yt = lanes + k
    var r0 = rows.lowerBound
    while r0 < rows.upperBound {
        let count = min(8, rows.upperBound - r0)
        for i in 0..<k {
            var v = SIMD8<Float>.zero
            for r in 0..<count { v[r] = x[(r0 + r) * k + i] }
            xt[i] = v
        }
        for j in 0..<n { yt[j] = SIMD8(repeating: bias?[j] ?? 0) }
        for i in 0..<k {
            let a = xt[i] * w.scale(i)
            if a == .zero { continue }
            w.forEach(row: i) { j, v in yt[j] = multiplyAdd(yt[j], a, SIMD8(repeating: v)) }
        }
        for r in 0..<count {
            let row = y + (r0 + r) * n
            for j in 0..<n { row[j] = yt[j][r] }
        }
        r0 += count
    }
}
