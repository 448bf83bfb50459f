// The shared engine of the sparse kernels (f32-spmm-*, f32-spconv-*, CSR and bitmask, f32 and
// qc8w): decode one stored weight row into (source offset, float weight) pairs, then accumulate
// the weighted source runs in SIMD registers, 32 outputs at a time. Weights are never densified:
// a row costs O(non-zeros) to decode (plus K/64 mask words for bitmask rows).
// Not public API; the family files wrap it in named kernels.

/// How the non-zeros of a sparse weight matrix are located.
///
/// Index widths: the kernels read 32-bit indices only. The plan widens narrower stored indices
/// (UInt8/UInt16 columns, delta-coded columns) into a UInt32 buffer once at load time, so the
/// kernels stay concrete and the hot loop does one load per non-zero.
enum SparseIndexing {
    /// CSR: `rowPointers[m]..<rowPointers[m+1]` index `columnIndices` and the values.
    case csr(rowPointers: UnsafePointer<UInt32>, columnIndices: UnsafePointer<UInt32>)
    /// Bitmask: row m owns `wordsPerRow` UInt64 words starting at `m * wordsPerRow`; bit b of
    /// word w (LSB first) marks column `64 w + b`. Its values start at `rowValueOffsets[m]`.
    case bitmask(words: UnsafePointer<UInt64>, wordsPerRow: Int, rowValueOffsets: UnsafePointer<UInt32>)
}

/// Stored values of the non-zeros, in row order.
enum SparseValues {
    case f32(UnsafePointer<Float>)
    /// int8 values; row m's sum is multiplied by `scales[m]` after accumulation.
    case qc8w(UnsafePointer<Int8>, scales: UnsafePointer<Float>)
}

/// Decodes row `m`: writes its column indices into `columns`, returns the count, a pointer to its
/// float weights (the stored values for f32, `weightScratch` converted for int8) and the row scale.
@inline(__always)
func decodeSparseRow(_ m: Int, _ indexing: SparseIndexing, _ values: SparseValues,
                     columns: UnsafeMutablePointer<Int>, weightScratch: UnsafeMutablePointer<Float>)
    -> (count: Int, weights: UnsafePointer<Float>, scale: Float) {
    let start: Int, count: Int
    switch indexing {
    case .csr(let rowPointers, let columnIndices):
        start = Int(rowPointers[m])
        count = Int(rowPointers[m + 1]) - start
        for t in 0..<count { columns[t] = Int(columnIndices[start + t]) }
    case .bitmask(let words, let wordsPerRow, let rowValueOffsets):
        start = Int(rowValueOffsets[m])
        var t = 0
        let row = words + m * wordsPerRow
        for w in 0..<wordsPerRow {
            var bits = row[w]
            while bits != 0 {
                columns[t] = w &* 64 &+ bits.trailingZeroBitCount
                t += 1
                bits &= bits &- 1
            }
        }
        count = t
    }
    switch values {
    case .f32(let v):
        return (count, v + start, 1)
    case .qc8w(let q, let scales):
        for t in 0..<count { weightScratch[t] = Float(q[start + t]) }
        return (count, UnsafePointer(weightScratch), scales[m])
    }
}

/// dst[j] = clamp(scale · Σ_t weights[t] · base[offsets[t] + j] + bias) for j in 0..<length.
/// Every source run must be readable for `length` floats. Blocks are 32 wide (four SIMD8
/// accumulators); the last block is moved back to end at `length`, recomputing a few outputs
/// instead of running a tail loop. Rows shorter than 32 use 16- and 8-wide blocks the same way;
/// below 8, scalar. (SIMD32<Float> arithmetic is compiled lane by lane through the stack, so the
/// block is four SIMD8 values, not one SIMD32.)
func sparseRowAccumulate(count: Int, offsets: UnsafePointer<Int>, weights: UnsafePointer<Float>,
                         base: UnsafePointer<Float>, length: Int, dst: UnsafeMutablePointer<Float>,
                         scale: Float, bias: Float, bounds: ActivationBounds) {
    let vScale = SIMD8<Float>(repeating: scale), vBias = SIMD8<Float>(repeating: bias)
    let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
    @inline(__always) func finish(_ a: SIMD8<Float>, _ at: Int) {
        store8(clamp8(multiplyAdd(vBias, a, vScale), lo, hi), dst + at)
    }
    if length >= 32 {
        var j = 0
        while true {
            let p = min(j, length - 32)
            var a0 = SIMD8<Float>.zero, a1 = SIMD8<Float>.zero, a2 = SIMD8<Float>.zero, a3 = SIMD8<Float>.zero
            for t in 0..<count {
                let s = base + offsets[t] + p
                let w = SIMD8<Float>(repeating: weights[t])
                a0 = multiplyAdd(a0, w, load8(s))
                a1 = multiplyAdd(a1, w, load8(s + 8))
                a2 = multiplyAdd(a2, w, load8(s + 16))
                a3 = multiplyAdd(a3, w, load8(s + 24))
            }
            finish(a0, p)
            finish(a1, p + 8)
            finish(a2, p + 16)
            finish(a3, p + 24)
            if p == length - 32 { return }
            j += 32
        }
    }
    if length >= 16 {
        // Two overlapping 16-wide halves in one pass: [0, 16) and [length - 16, length).
        let q = length - 16
        var a0 = SIMD8<Float>.zero, a1 = SIMD8<Float>.zero, b0 = SIMD8<Float>.zero, b1 = SIMD8<Float>.zero
        for t in 0..<count {
            let s = base + offsets[t]
            let w = SIMD8<Float>(repeating: weights[t])
            a0 = multiplyAdd(a0, w, load8(s))
            a1 = multiplyAdd(a1, w, load8(s + 8))
            b0 = multiplyAdd(b0, w, load8(s + q))
            b1 = multiplyAdd(b1, w, load8(s + q + 8))
        }
        finish(a0, 0)
        finish(a1, 8)
        finish(b0, q)
        finish(b1, q + 8)
        return
    }
    if length >= 8 {
        let q = length - 8
        var a = SIMD8<Float>.zero, b = SIMD8<Float>.zero
        for t in 0..<count {
            let s = base + offsets[t]
            let w = SIMD8<Float>(repeating: weights[t])
            a = multiplyAdd(a, w, load8(s))
            b = multiplyAdd(b, w, load8(s + q))
        }
        finish(a, 0)
        finish(b, q)
        return
    }
    for j in 0..<length {
        var a0: Float = 0, a1: Float = 0
        var t = 0
        while t + 2 <= count {
            a0 += weights[t] * base[offsets[t] + j]
            a1 += weights[t + 1] * base[offsets[t + 1] + j]
            t += 2
        }
        if t < count { a0 += weights[t] * base[offsets[t] + j] }
        dst[j] = bounds.apply((a0 + a1) * scale + bias)
    }
}

/// Workspace bytes of `sparseSpmm` for K columns.
func sparseSpmmWorkspaceBytes(k: Int) -> Int {
    alignedBytes(max(1, k) * MemoryLayout<Int>.stride) + alignedBytes(max(1, k) * MemoryLayout<Float>.stride)
}

/// Y[rows, 0..<n] = clamp(scale · W · X + bias) with W sparse [M × K], X dense [K × n].
func sparseSpmm(_ indexing: SparseIndexing, _ values: SparseValues, m: Int, k: Int, n: Int,
                x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                y: UnsafeMutablePointer<Float>, rows: Range<Int>, workspace: UnsafeMutableRawPointer) {
    let columns = workspace.bindMemory(to: Int.self, capacity: max(1, k))
    let weightScratch = (workspace + alignedBytes(max(1, k) * MemoryLayout<Int>.stride))
        .bindMemory(to: Float.self, capacity: max(1, k))
    for row in rows.clamped(to: 0..<m) {
        let (count, weights, scale) = decodeSparseRow(row, indexing, values, columns: columns, weightScratch: weightScratch)
        for t in 0..<count { columns[t] &*= n }
        sparseRowAccumulate(count: count, offsets: columns, weights: weights, base: x, length: n,
                            dst: y + row * n, scale: scale, bias: bias?[row] ?? 0, bounds: bounds)
    }
}

/// Workspace bytes of `sparseSpconv` for geometry `g`.
func sparseSpconvWorkspaceBytes(_ g: ConvGeometry) -> Int {
    let layout = PhaseLayout(g)
    let k = max(1, g.reduction)
    return alignedBytes(layout.bufferCount(channels: g.inChannels) * 4)
        + alignedBytes(k * MemoryLayout<Int>.stride)
        + alignedBytes(k * MemoryLayout<Int>.stride) + alignedBytes(k * 4)
        + alignedBytes(max(8, layout.wideLength(g)) * 4)
}

/// Direct sparse convolution: every non-zero (c, ky, kx) of output row m adds its weight times
/// one contiguous run of the phase planes; rows m in `outputChannels` only.
func sparseSpconv(_ g: ConvGeometry, _ indexing: SparseIndexing, _ values: SparseValues,
                  input: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                  output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>,
                  workspace: UnsafeMutableRawPointer) {
    let range = outputChannels.clamped(to: 0..<g.outChannels)
    guard !range.isEmpty else { return }
    let layout = PhaseLayout(g)
    let mg = g.outChannelsPerGroup, cg = g.inChannelsPerGroup
    let k = max(1, g.reduction)
    let wideLength = layout.wideLength(g)

    var cursor = workspace
    let planes = cursor.bindMemory(to: Float.self, capacity: max(1, layout.bufferCount(channels: g.inChannels)))
    cursor += alignedBytes(layout.bufferCount(channels: g.inChannels) * 4)
    let columnOffsets = cursor.bindMemory(to: Int.self, capacity: k)
    cursor += alignedBytes(k * MemoryLayout<Int>.stride)
    let columns = cursor.bindMemory(to: Int.self, capacity: k)
    cursor += alignedBytes(k * MemoryLayout<Int>.stride)
    let weightScratch = cursor.bindMemory(to: Float.self, capacity: k)
    cursor += alignedBytes(k * 4)
    let wide = cursor.bindMemory(to: Float.self, capacity: max(8, wideLength))

    // Only the input channels of the groups this call touches are decomposed.
    let firstGroup = range.lowerBound / mg, lastGroup = (range.upperBound - 1) / mg
    let firstChannel = firstGroup * cg
    let base: UnsafePointer<Float>
    if layout.inPlace {
        base = input + firstChannel * g.inPlane
    } else {
        buildPhasePlanes(g, layout, channels: (lastGroup - firstGroup + 1) * cg,
                         input: input + firstChannel * g.inPlane, planes: planes)
        base = UnsafePointer(planes)
    }
    // Column (c, ky, kx) → offset of its run within a group's phase planes; a table lookup per
    // non-zero instead of two integer divisions.
    for c in 0..<cg {
        for ky in 0..<g.kernelHeight {
            for kx in 0..<g.kernelWidth {
                columnOffsets[(c * g.kernelHeight + ky) * g.kernelWidth + kx] =
                    c * layout.channelStride + layout.tapOffset(ky: ky, kx: kx)
            }
        }
    }
    let direct = layout.width == g.outWidth
    for m in range {
        let groupBase = (m / mg - firstGroup) * cg * layout.channelStride
        let (count, weights, scale) = decodeSparseRow(m, indexing, values, columns: columns, weightScratch: weightScratch)
        for t in 0..<count { columns[t] = groupBase + columnOffsets[columns[t]] }
        let dst = direct ? output + m * g.outPlane : wide
        // Into the scratch, at least one full vector: the phase-plane slack keeps those reads in bounds.
        sparseRowAccumulate(count: count, offsets: columns, weights: weights, base: base,
                            length: direct ? wideLength : max(8, wideLength), dst: dst, scale: scale, bias: bias?[m] ?? 0, bounds: bounds)
        if !direct {
            compactWide(wide, pitch: layout.width, rows: g.outHeight, width: g.outWidth, into: output + m * g.outPlane)
        }
    }
}

/// Row value offsets (M + 1 prefix popcounts) of a bitmask laid out as `sparseIndexing` expects.
public func bitmaskRowValueOffsets(words: UnsafePointer<UInt64>, rows: Int, wordsPerRow: Int,
                                   offsets: UnsafeMutablePointer<UInt32>) {
    var total: UInt32 = 0
    for m in 0..<rows {
        offsets[m] = total
        for w in 0..<wordsPerRow { total &+= UInt32(words[m * wordsPerRow + w].nonzeroBitCount) }
    }
    offsets[rows] = total
}

/// Reference: Σ over row m's non-zeros in stored order, as (column, float value) pairs.
@inline(__always)
func forEachNonZeroReference(_ m: Int, _ indexing: SparseIndexing, _ values: SparseValues,
                             columnCount: Int, _ body: (Int, Float) -> Void) {
    var positions: [(Int, Int)] = []  // (column, value index)
    switch indexing {
    case .csr(let rowPointers, let columnIndices):
        for t in Int(rowPointers[m])..<Int(rowPointers[m + 1]) { positions.append((Int(columnIndices[t]), t)) }
    case .bitmask(let words, let wordsPerRow, let rowValueOffsets):
        var t = Int(rowValueOffsets[m])
        for col in 0..<columnCount where (words[m * wordsPerRow + col / 64] >> UInt64(col % 64)) & 1 == 1 {
            positions.append((col, t))
            t += 1
        }
    }
    for (col, t) in positions {
        switch values {
        case .f32(let v): body(col, v[t])
        case .qc8w(let q, _): body(col, Float(q[t]))
        }
    }
}

/// Reference: the row scale (1 for float values).
@inline(__always)
func rowScaleReference(_ m: Int, _ values: SparseValues) -> Float {
    if case .qc8w(_, let scales) = values { return scales[m] }
    return 1
}

/// Reference twin of `sparseSpmm`: y[m, j] = clamp(scale_m · Σ w · x[col, j] + bias_m).
func sparseSpmmReference(_ indexing: SparseIndexing, _ values: SparseValues, m: Int, k: Int, n: Int,
                         x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                         y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
    for row in rows.clamped(to: 0..<m) {
        var sums = [Float](repeating: 0, count: n)
        forEachNonZeroReference(row, indexing, values, columnCount: k) { col, w in
            for j in 0..<n { sums[j] += w * x[col * n + j] }
        }
        let scale = rowScaleReference(row, values)
        for j in 0..<n { y[row * n + j] = bounds.apply(sums[j] * scale + (bias?[row] ?? 0)) }
    }
}

/// Reference twin of `sparseSpconv`: the ONNX Conv definition, summing only stored non-zeros,
/// each decoded as column = (c · kH + ky) · kW + kx.
func sparseSpconvReference(_ g: ConvGeometry, _ indexing: SparseIndexing, _ values: SparseValues,
                           input: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                           output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>) {
    let mg = g.outChannelsPerGroup, cg = g.inChannelsPerGroup
    for m in outputChannels.clamped(to: 0..<g.outChannels) {
        let grp = m / mg
        var sums = [Float](repeating: 0, count: g.outPlane)
        forEachNonZeroReference(m, indexing, values, columnCount: g.reduction) { col, w in
            let c = col / g.kernelArea
            let ky = (col % g.kernelArea) / g.kernelWidth
            let kx = col % g.kernelWidth
            for oy in 0..<g.outHeight {
                let iy = oy * g.strideHeight - g.padTop + ky * g.dilationHeight
                if iy < 0 || iy >= g.inHeight { continue }
                for ox in 0..<g.outWidth {
                    let ix = ox * g.strideWidth - g.padLeft + kx * g.dilationWidth
                    if ix < 0 || ix >= g.inWidth { continue }
                    sums[oy * g.outWidth + ox] += w * input[((grp * cg + c) * g.inHeight + iy) * g.inWidth + ix]
                }
            }
        }
        let scale = rowScaleReference(m, values)
        for p in 0..<g.outPlane { output[m * g.outPlane + p] = bounds.apply(sums[p] * scale + (bias?[m] ?? 0)) }
    }
}
