// The shared engine of the sparse kernels (f32-spmm-*, f32-spconv-*, CSR and bitmask, f32, qc8w
// and qcNw): each stored non-zero of a row (column index through a run-offset table, weight read
// in its stored f32 or int8 form, or unpacked from 2–7-bit fields once per row) adds its weighted
// source run to up to 64 outputs held in SIMD registers. Weights are never densified: a row costs
// O(non-zeros) (plus K/64 mask words for bitmask rows).
// Not public API; the family files wrap it in named kernels.

import _SpruceSupport

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

/// Writes the table `SparseIndexing.bitmask` decodes with: entry b packs, one per byte, the
/// positions of the set bits of byte b in increasing order (unused bytes zero). 256 entries.
func buildBitmaskByteTable(_ table: UnsafeMutablePointer<UInt64>) {
    for b in 0..<256 {
        var packed: UInt64 = 0, n: UInt64 = 0
        for bit in 0..<8 where (b >> bit) & 1 == 1 {
            packed |= UInt64(bit) << (8 * n)
            n += 1
        }
        table[b] = packed
    }
}

/// Workspace bytes of the row decode: the bitmask byte table, room for one row's column indices
/// (K plus 8 of slack for the table's whole-vector stores) and for one row's unpacked values.
func sparseDecodeBytes(k: Int) -> Int { 256 * 8 + 2 * alignedBytes((max(1, k) + 8) * 4) }

/// Stored values of the non-zeros, in row order.
enum SparseValues {
    case f32(UnsafePointer<Float>)
    /// int8 values; row m's sum is multiplied by `scales[m]` after accumulation.
    case qc8w(UnsafePointer<Int8>, scales: UnsafePointer<Float>)
    /// `bits`-bit values (2…7) packed as the artifact stores them (`Int8Rows.packBits`), with
    /// `packedValueSlack` readable bytes after the last field; scaled per row like qc8w. Each row's
    /// values are unpacked into the decode workspace once per call, then used like f32 values.
    case packed(UnsafePointer<UInt8>, bits: Int, scales: UnsafePointer<Float>)
}

/// Readable bytes a packed value stream needs after its last field (`unpackValues` reads eight
/// bytes at a time).
let packedValueSlack = 8

/// Values `first ..< first + count` of a packed stream (see `SparseValues.packed`), as floats:
/// eight at a time from one unaligned 64-bit load (8 fields of at most 7 bits, shifted by at most
/// 7, fit in 64 bits), split by per-lane shifts and sign-extended in SIMD lanes.
@inline(__always)
func unpackValues(_ p: UnsafePointer<UInt8>, bits: Int, first: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
    let raw = UnsafeRawPointer(p)
    let mask = UInt64(1) &<< UInt64(bits) &- 1
    let sign = Int32(1) &<< Int32(bits &- 1)
    let lanes = SIMD8<UInt64>(0, 1, 2, 3, 4, 5, 6, 7) &* UInt64(bits)
    var bit = first &* bits, t = 0
    while t &+ 8 <= count {
        let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: bit &>> 3, as: UInt64.self)) &>> UInt64(bit & 7)
        let fields = SIMD8<Int32>(truncatingIfNeeded: (SIMD8(repeating: word) &>> lanes) & SIMD8(repeating: mask))
        let values = (fields ^ SIMD8(repeating: sign)) &- SIMD8(repeating: sign)
        UnsafeMutableRawPointer(out + t).storeBytes(of: SIMD8<Float>(values), as: SIMD8<Float>.self)
        t &+= 8
        bit &+= 8 &* bits
    }
    while t < count {
        let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: bit &>> 3, as: UInt64.self)) &>> UInt64(bit & 7)
        let field = Int32(truncatingIfNeeded: word & mask)
        out[t] = Float((field ^ sign) &- sign)
        t &+= 1
        bit &+= bits
    }
}

/// A stored weight value the row kernels read directly: f32 as is, int8 converted per use (the
/// row's scale is applied once after accumulation), so int8 weights are never expanded.
protocol SparseWeight {
    /// The value as a float (unscaled for int8).
    var float: Float { get }
}

extension Float: SparseWeight {
    @inline(__always) var float: Float { self }
}

extension Int8: SparseWeight {
    @inline(__always) var float: Float { Float(self) }
}

/// Row m's column indices (in place for CSR, decoded into `scratch` for bitmask, see
/// `sparseDecodeBytes`), their count, and the index of its first value.
@inline(__always)
func sparseRowColumns(_ m: Int, _ indexing: SparseIndexing, scratch: UnsafeMutablePointer<UInt32>,
                      byteTable: UnsafePointer<UInt64>) -> (count: Int, columns: UnsafePointer<UInt32>, start: Int) {
    switch indexing {
    case .csr(let rowPointers, let columnIndices):
        let start = Int(rowPointers[m])
        return (Int(rowPointers[m + 1]) - start, columnIndices + start, start)
    case .bitmask(let words, let wordsPerRow, let rowValueOffsets):
        // Byte by byte through a table of set-bit positions: eight column indices stored at once,
        // the count advanced by the byte's popcount. A loop over each word's set bits exits on a
        // random bit count (one branch mispredict per word), which at 10 % density cost as much
        // as the multiply-adds. `scratch` has room for 8 entries past the row's last.
        // On little-endian targets the row's words, read as bytes in order, give byte j = columns
        // 8j..<8j+8, one byte load each; big-endian targets shift the bytes out of the words.
        let row = words + m * wordsPerRow
        #if _endian(little)
        let bytes = UnsafeRawPointer(row)
        #endif
        let table = UnsafeRawPointer(byteTable)
        var t = 0
        var base = SIMD8<UInt32>.zero
        let eight = SIMD8<UInt32>(repeating: 8)
        for j in 0..<(wordsPerRow &* 8) {
            #if _endian(little)
            let byte = Int(bytes.load(fromByteOffset: j, as: UInt8.self))
            #else
            let byte = Int(truncatingIfNeeded: (row[j &>> 3] &>> UInt64(8 &* (j & 7))) & 0xFF)
            #endif
            let positions = SIMD8<UInt32>(truncatingIfNeeded: table.loadUnaligned(fromByteOffset: byte &* 8, as: SIMD8<UInt8>.self))
            UnsafeMutableRawPointer(scratch + t).storeBytes(of: positions &+ base, as: SIMD8<UInt32>.self)
            t &+= byte.nonzeroBitCount
            base &+= eight
        }
        return (t, UnsafePointer(scratch), Int(rowValueOffsets[m]))
    }
}

/// One sparse row in kernel form: column t's source run starts at `base + table[columns[t]]`.
struct SparseRunRow<W: SparseWeight> {
    let count: Int
    let columns: UnsafePointer<UInt32>
    let table: UnsafePointer<Int32>
    let weights: UnsafePointer<W>
    let base: UnsafePointer<Float>

    /// Source run of non-zero t, moved on by `at` floats.
    @inline(__always) func run(_ t: Int, _ at: Int) -> UnsafePointer<Float> {
        base + (Int(table[Int(columns[t])]) &+ at)
    }

    /// Weight of non-zero t broadcast.
    @inline(__always) func weight(_ t: Int) -> SIMD8<Float> { SIMD8(repeating: weights[t].float) }
}

/// dst[j] = clamp(scale · Σ_t w_t · run_t[j] + bias) for j in 0..<length, with scale, bias and
/// bounds from `e`. Every run must be readable for `length` floats. The row is cut into blocks of
/// 64 outputs (eight SIMD8 accumulators: one weight broadcast feeds eight FMAs), then one block of
/// 8–56 for the rest, moved back to end at `length` (a few outputs computed twice instead of a
/// tail loop; rows shorter than 64 take an extra 8-wide pass for a partial vector). Blocks of one to four vectors split the non-zeros over two or four accumulator
/// sets, so at least six FMA chains are in flight (an FMA's latency is four times its issue interval).
@inline(__always)
func sparseRowAccumulate<W: SparseWeight>(_ row: SparseRunRow<W>, length: Int, dst: UnsafeMutablePointer<Float>,
                                          _ e: RowEpilogue) {
    if length < 8 {
        sparseBlockScalar(row, length: length, dst: dst, e)
        return
    }
    var j = 0
    while j + 64 <= length {
        sparseBlock64(row, at: j, dst: dst, e)
        j += 64
    }
    let rest = length - j
    if rest == 0 { return }
    if j > 0 {
        // After a 64-wide block there is room to move the last block back: one pass for the rest.
        let vectors = (rest + 7) / 8
        let at = length - vectors * 8
        switch vectors {
        case 1: sparseBlock8(row, at: at, dst: dst, e)
        case 2: sparseBlock16(row, at: at, dst: dst, e)
        case 3: sparseBlock24(row, at: at, dst: dst, e)
        case 4: sparseBlock32(row, at: at, dst: dst, e)
        default: sparseBlock64(row, at: length - 64, dst: dst, e)
        }
        return
    }
    // Rows of 8–63: whole vectors from 0, then, when the length is not a multiple of 8, one
    // more 8-wide pass ending at `length`; from 40 on, two overlapping 32-wide halves in one pass.
    switch length / 8 {
    case 1: sparseBlock8(row, at: 0, dst: dst, e)
    case 2: sparseBlock16(row, at: 0, dst: dst, e)
    case 3: sparseBlock24(row, at: 0, dst: dst, e)
    case 4: sparseBlock32(row, at: 0, dst: dst, e)
    default:
        sparseBlock32x2(row, length: length, dst: dst, e)
        return
    }
    if length % 8 != 0 { sparseBlock8(row, at: length - 8, dst: dst, e) }
}

/// Bias, scale and clamp of a finished block.
struct RowEpilogue {
    let scale: SIMD8<Float>, bias: SIMD8<Float>, lower: SIMD8<Float>, upper: SIMD8<Float>
    let bounds: ActivationBounds, scalarScale: Float, scalarBias: Float

    @inline(__always) init(scale: Float, bias: Float, bounds: ActivationBounds) {
        self.scale = SIMD8(repeating: scale)
        self.bias = SIMD8(repeating: bias)
        lower = SIMD8(repeating: bounds.lower)
        upper = SIMD8(repeating: bounds.upper)
        self.bounds = bounds
        scalarScale = scale
        scalarBias = bias
    }

    @inline(__always) func store(_ a: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        store8(clamp8(multiplyAdd(bias, a, scale), lower, upper), p)
    }

}

@inline(__always)
func sparseBlock64<W: SparseWeight>(_ row: SparseRunRow<W>, at: Int, dst: UnsafeMutablePointer<Float>, _ e: RowEpilogue) {
    let d = dst + at
    var a0 = SIMD8<Float>.zero, a1 = SIMD8<Float>.zero, a2 = SIMD8<Float>.zero, a3 = SIMD8<Float>.zero
    var a4 = SIMD8<Float>.zero, a5 = SIMD8<Float>.zero, a6 = SIMD8<Float>.zero, a7 = SIMD8<Float>.zero
    for t in 0..<row.count {
        let s = row.run(t, at), w = row.weight(t)
        a0 = multiplyAdd(a0, w, load8(s)); a1 = multiplyAdd(a1, w, load8(s + 8))
        a2 = multiplyAdd(a2, w, load8(s + 16)); a3 = multiplyAdd(a3, w, load8(s + 24))
        a4 = multiplyAdd(a4, w, load8(s + 32)); a5 = multiplyAdd(a5, w, load8(s + 40))
        a6 = multiplyAdd(a6, w, load8(s + 48)); a7 = multiplyAdd(a7, w, load8(s + 56))
    }
    e.store(a0, d); e.store(a1, d + 8); e.store(a2, d + 16); e.store(a3, d + 24)
    e.store(a4, d + 32); e.store(a5, d + 40); e.store(a6, d + 48); e.store(a7, d + 56)
}

/// Outputs [0, 32) and [length − 32, length) in one pass (33 ≤ length < 64).
@inline(__always)
func sparseBlock32x2<W: SparseWeight>(_ row: SparseRunRow<W>, length: Int, dst: UnsafeMutablePointer<Float>, _ e: RowEpilogue) {
    let q = length - 32
    var a0 = SIMD8<Float>.zero, a1 = SIMD8<Float>.zero, a2 = SIMD8<Float>.zero, a3 = SIMD8<Float>.zero
    var b0 = SIMD8<Float>.zero, b1 = SIMD8<Float>.zero, b2 = SIMD8<Float>.zero, b3 = SIMD8<Float>.zero
    for t in 0..<row.count {
        let s = row.run(t, 0), w = row.weight(t)
        a0 = multiplyAdd(a0, w, load8(s)); a1 = multiplyAdd(a1, w, load8(s + 8))
        a2 = multiplyAdd(a2, w, load8(s + 16)); a3 = multiplyAdd(a3, w, load8(s + 24))
        b0 = multiplyAdd(b0, w, load8(s + q)); b1 = multiplyAdd(b1, w, load8(s + q + 8))
        b2 = multiplyAdd(b2, w, load8(s + q + 16)); b3 = multiplyAdd(b3, w, load8(s + q + 24))
    }
    e.store(a0, dst); e.store(a1, dst + 8); e.store(a2, dst + 16); e.store(a3, dst + 24)
    e.store(b0, dst + q); e.store(b1, dst + q + 8); e.store(b2, dst + q + 16); e.store(b3, dst + q + 24)
}

@inline(__always)
func sparseBlock32<W: SparseWeight>(_ row: SparseRunRow<W>, at: Int, dst: UnsafeMutablePointer<Float>, _ e: RowEpilogue) {
    let d = dst + at
    var a0 = SIMD8<Float>.zero, a1 = SIMD8<Float>.zero, a2 = SIMD8<Float>.zero, a3 = SIMD8<Float>.zero
    var b0 = SIMD8<Float>.zero, b1 = SIMD8<Float>.zero, b2 = SIMD8<Float>.zero, b3 = SIMD8<Float>.zero
    var t = 0
    while t + 2 <= row.count {
        let s = row.run(t, at), w = row.weight(t)
        let r = row.run(t + 1, at), v = row.weight(t + 1)
        a0 = multiplyAdd(a0, w, load8(s)); a1 = multiplyAdd(a1, w, load8(s + 8))
        a2 = multiplyAdd(a2, w, load8(s + 16)); a3 = multiplyAdd(a3, w, load8(s + 24))
        b0 = multiplyAdd(b0, v, load8(r)); b1 = multiplyAdd(b1, v, load8(r + 8))
        b2 = multiplyAdd(b2, v, load8(r + 16)); b3 = multiplyAdd(b3, v, load8(r + 24))
        t += 2
    }
    if t < row.count {
        let s = row.run(t, at), w = row.weight(t)
        a0 = multiplyAdd(a0, w, load8(s)); a1 = multiplyAdd(a1, w, load8(s + 8))
        a2 = multiplyAdd(a2, w, load8(s + 16)); a3 = multiplyAdd(a3, w, load8(s + 24))
    }
    e.store(a0 + b0, d); e.store(a1 + b1, d + 8); e.store(a2 + b2, d + 16); e.store(a3 + b3, d + 24)
}

@inline(__always)
func sparseBlock24<W: SparseWeight>(_ row: SparseRunRow<W>, at: Int, dst: UnsafeMutablePointer<Float>, _ e: RowEpilogue) {
    let d = dst + at
    var a0 = SIMD8<Float>.zero, a1 = SIMD8<Float>.zero, a2 = SIMD8<Float>.zero
    var b0 = SIMD8<Float>.zero, b1 = SIMD8<Float>.zero, b2 = SIMD8<Float>.zero
    var t = 0
    while t + 2 <= row.count {
        let s = row.run(t, at), w = row.weight(t)
        let r = row.run(t + 1, at), v = row.weight(t + 1)
        a0 = multiplyAdd(a0, w, load8(s)); a1 = multiplyAdd(a1, w, load8(s + 8)); a2 = multiplyAdd(a2, w, load8(s + 16))
        b0 = multiplyAdd(b0, v, load8(r)); b1 = multiplyAdd(b1, v, load8(r + 8)); b2 = multiplyAdd(b2, v, load8(r + 16))
        t += 2
    }
    if t < row.count {
        let s = row.run(t, at), w = row.weight(t)
        a0 = multiplyAdd(a0, w, load8(s)); a1 = multiplyAdd(a1, w, load8(s + 8)); a2 = multiplyAdd(a2, w, load8(s + 16))
    }
    e.store(a0 + b0, d); e.store(a1 + b1, d + 8); e.store(a2 + b2, d + 16)
}

@inline(__always)
func sparseBlock16<W: SparseWeight>(_ row: SparseRunRow<W>, at: Int, dst: UnsafeMutablePointer<Float>, _ e: RowEpilogue) {
    let d = dst + at
    var a0 = SIMD8<Float>.zero, a1 = SIMD8<Float>.zero, b0 = SIMD8<Float>.zero, b1 = SIMD8<Float>.zero
    var c0 = SIMD8<Float>.zero, c1 = SIMD8<Float>.zero, d0 = SIMD8<Float>.zero, d1 = SIMD8<Float>.zero
    var t = 0
    while t + 4 <= row.count {
        let s0 = row.run(t, at), w0 = row.weight(t), s1 = row.run(t + 1, at), w1 = row.weight(t + 1)
        let s2 = row.run(t + 2, at), w2 = row.weight(t + 2), s3 = row.run(t + 3, at), w3 = row.weight(t + 3)
        a0 = multiplyAdd(a0, w0, load8(s0)); a1 = multiplyAdd(a1, w0, load8(s0 + 8))
        b0 = multiplyAdd(b0, w1, load8(s1)); b1 = multiplyAdd(b1, w1, load8(s1 + 8))
        c0 = multiplyAdd(c0, w2, load8(s2)); c1 = multiplyAdd(c1, w2, load8(s2 + 8))
        d0 = multiplyAdd(d0, w3, load8(s3)); d1 = multiplyAdd(d1, w3, load8(s3 + 8))
        t += 4
    }
    while t < row.count {
        let s = row.run(t, at), w = row.weight(t)
        a0 = multiplyAdd(a0, w, load8(s)); a1 = multiplyAdd(a1, w, load8(s + 8))
        t += 1
    }
    e.store((a0 + b0) + (c0 + d0), d); e.store((a1 + b1) + (c1 + d1), d + 8)
}

@inline(__always)
func sparseBlock8<W: SparseWeight>(_ row: SparseRunRow<W>, at: Int, dst: UnsafeMutablePointer<Float>, _ e: RowEpilogue) {
    var a = SIMD8<Float>.zero, b = SIMD8<Float>.zero, c = SIMD8<Float>.zero, d = SIMD8<Float>.zero
    var t = 0
    while t + 4 <= row.count {
        a = multiplyAdd(a, row.weight(t), load8(row.run(t, at)))
        b = multiplyAdd(b, row.weight(t + 1), load8(row.run(t + 1, at)))
        c = multiplyAdd(c, row.weight(t + 2), load8(row.run(t + 2, at)))
        d = multiplyAdd(d, row.weight(t + 3), load8(row.run(t + 3, at)))
        t += 4
    }
    while t < row.count {
        a = multiplyAdd(a, row.weight(t), load8(row.run(t, at)))
        t += 1
    }
    e.store((a + b) + (c + d), dst + at)
}

@inline(__always)
func sparseBlockScalar<W: SparseWeight>(_ row: SparseRunRow<W>, length: Int, dst: UnsafeMutablePointer<Float>, _ e: RowEpilogue) {
    for j in 0..<length {
        var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
        var t = 0
        while t + 4 <= row.count {
            a0 += row.weights[t].float * row.run(t, j)[0]
            a1 += row.weights[t + 1].float * row.run(t + 1, j)[0]
            a2 += row.weights[t + 2].float * row.run(t + 2, j)[0]
            a3 += row.weights[t + 3].float * row.run(t + 3, j)[0]
            t += 4
        }
        while t < row.count {
            a0 += row.weights[t].float * row.run(t, j)[0]
            t += 1
        }
        dst[j] = e.bounds.apply(((a0 + a1) + (a2 + a3)) * e.scalarScale + e.scalarBias)
    }
}

/// Workspace bytes of `sparseSpmm` for K columns: the column → run-offset table and the row decode.
func sparseSpmmWorkspaceBytes(k: Int) -> Int {
    alignedBytes(max(1, k) * 4) + sparseDecodeBytes(k: k)
}

/// Rows `rows` of Y (row m at `y + m · pitch`, `length` outputs): every non-zero of row m adds
/// its weight times the run at `base(group of m) + table[column]`. Weights stay in stored form
/// (packed values are unpacked a row at a time). `decode`: `sparseDecodeBytes(k:)`.
@inline(__always)
func sparseRows(_ indexing: SparseIndexing, _ values: SparseValues, k: Int, rows: Range<Int>,
                table: UnsafePointer<Int32>, decode: UnsafeMutableRawPointer,
                base: (Int) -> UnsafePointer<Float>, length: Int, bias: UnsafePointer<Float>?,
                bounds: ActivationBounds, dst: (Int) -> UnsafeMutablePointer<Float>, after: (Int) -> Void,
                byteTableReady: Bool = false) {
    let byteTable = decode.bindMemory(to: UInt64.self, capacity: 256)
    let scratchBytes = alignedBytes((max(1, k) + 8) * 4)
    let columnScratch = (decode + 256 * 8).bindMemory(to: UInt32.self, capacity: max(1, k) + 8)
    let valueScratch = (decode + 256 * 8 + scratchBytes).bindMemory(to: Float.self, capacity: max(1, k) + 8)
    if case .bitmask = indexing, !byteTableReady { buildBitmaskByteTable(byteTable) }
    @inline(__always) func each<W: SparseWeight>(scales: UnsafePointer<Float>?, _ weights: (_ start: Int, _ count: Int) -> UnsafePointer<W>) {
        for m in rows {
            let (count, columns, start) = sparseRowColumns(m, indexing, scratch: columnScratch, byteTable: byteTable)
            let row = SparseRunRow(count: count, columns: columns, table: table, weights: weights(start, count), base: base(m))
            sparseRow(row, length: length, dst: dst(m), scale: scales?[m] ?? 1, bias: bias?[m] ?? 0, bounds: bounds)
            after(m)
        }
    }
    switch values {
    case .f32(let v): each(scales: nil) { start, _ in v + start }
    case .qc8w(let q, let scales): each(scales: scales) { start, _ in q + start }
    case .packed(let p, let bits, let scales):
        each(scales: scales) { start, count in
            unpackValues(p, bits: bits, first: start, count: count, into: valueScratch)
            return UnsafePointer(valueScratch)
        }
    }
}

/// Whether `sparseSpconv` first gathers the input into an im2col matrix [K × OH·OW] (a row per
/// column (c, ky, kx)) instead of reading runs of the phase planes in place. The phase-plane runs
/// are OH·Wq long (Wq − OW of every row wasted) and start anywhere, so on small maps with padding
/// many loads split cache lines; the gathered rows are exactly OH·OW long and 64-byte aligned when
/// OH·OW is a multiple of 16. Measured 1.2–1.4× faster on 4×4 and 8×8 maps, no gain on 16×16.
func sparseGathers(_ g: ConvGeometry) -> Bool {
    let layout = PhaseLayout(g)
    return !layout.inPlace && layout.width != g.outWidth && g.outPlane % 8 == 0 && g.outPlane <= 64
        && g.inChannels * g.kernelArea * g.outPlane <= sparseGatherFloats
}

/// `copyRows` into a dense plane, with whole-vector copies for rows of 4, 8 or 16 floats (the
/// small maps `sparseGathers` takes), where a scalar loop's per-row overhead would dominate.
@inline(__always)
func gatherRows(_ src: UnsafePointer<Float>, pitch: Int, rows: Int, width: Int, into out: UnsafeMutablePointer<Float>) {
    switch width {
    case 4:
        for r in 0..<rows {
            UnsafeMutableRawPointer(out + r * 4).storeBytes(
                of: UnsafeRawPointer(src + r * pitch).loadUnaligned(as: SIMD4<Float>.self), as: SIMD4<Float>.self)
        }
    case 8:
        for r in 0..<rows { store8(load8(src + r * pitch), out + r * 8) }
    case 16:
        for r in 0..<rows {
            store8(load8(src + r * pitch), out + r * 16)
            store8(load8(src + r * pitch + 8), out + r * 16 + 8)
        }
    default:
        copyRows(src, pitch: pitch, rows: rows, width: width, into: out, pitch: width)
    }
}

/// Largest im2col matrix (floats) the gathering sparse convolution builds.
let sparseGatherFloats = 512 * 1024

/// Y[rows, 0..<n] = clamp(scale · W · X + bias) with W sparse [M × K], X dense [K × n].
func sparseSpmm(_ indexing: SparseIndexing, _ values: SparseValues, m: Int, k: Int, n: Int,
                x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                y: UnsafeMutablePointer<Float>, rows: Range<Int>, workspace: UnsafeMutableRawPointer) {
    let rows = rows.clamped(to: 0..<m)
    guard !rows.isEmpty else { return }
    let table = workspace.bindMemory(to: Int32.self, capacity: max(1, k))
    let decode = workspace + alignedBytes(max(1, k) * 4)
    for c in 0..<k { table[c] = Int32(truncatingIfNeeded: c &* n) }
    sparseRows(indexing, values, k: k, rows: rows, table: table, decode: decode,
               base: { _ in x }, length: n, bias: bias, bounds: bounds, dst: { y + $0 * n }, after: { _ in })
}

/// Bytes of the input transform `sparseSpconvPrepare` writes for all input channels of `g`: the
/// phase planes (none when the input is read in place) and, when `sparseGathers(g)`, the gathered
/// im2col rows. Threads of one step share it.
func sparseSpconvSharedBytes(_ g: ConvGeometry) -> Int {
    let layout = PhaseLayout(g)
    var bytes = alignedBytes(layout.bufferCount(channels: g.inChannels) * 4)
    if sparseGathers(g) { bytes += alignedBytes(g.inChannels * g.kernelArea * g.outPlane * 4) }
    return bytes
}

/// Bytes each thread of `sparseSpconvRows` needs for its own: run-offset table, row decode, wide row.
func sparseSpconvPrivateBytes(_ g: ConvGeometry) -> Int {
    let k = max(1, g.reduction)
    return alignedBytes(k * 4) + sparseDecodeBytes(k: k) + alignedBytes(max(8, PhaseLayout(g).wideLength(g)) * 4)
}

/// Workspace bytes of `sparseSpconv` for geometry `g`.
func sparseSpconvWorkspaceBytes(_ g: ConvGeometry) -> Int { sparseSpconvSharedBytes(g) + sparseSpconvPrivateBytes(g) }

/// Whether `sparseSpconvRows` needs `sparseSpconvPrepare` first (false: it reads the input in place).
func sparseSpconvPrepares(_ g: ConvGeometry) -> Bool { !PhaseLayout(g).inPlace }

/// Writes the input transform of input channels `channels` into `shared` (laid out for all
/// channels, see `sparseSpconvSharedBytes`): their phase planes and, when gathering, their im2col
/// rows. Each channel's part depends on that channel alone, so threads may prepare disjoint channel
/// ranges at once; the zeroed slack after the planes is written by the range that ends at
/// `zeroSlackAt` (the last channel + 1 that will be read).
func sparseSpconvPrepare(_ g: ConvGeometry, input: UnsafePointer<Float>, channels: Range<Int>, zeroSlackAt: Int,
                         shared: UnsafeMutableRawPointer) {
    let layout = PhaseLayout(g)
    guard !layout.inPlace, !channels.isEmpty else { return }
    let planes = shared.bindMemory(to: Float.self, capacity: layout.bufferCount(channels: g.inChannels))
    buildPhasePlanes(g, layout, channels: channels.count, input: input + channels.lowerBound * g.inPlane,
                     planes: planes + channels.lowerBound * layout.channelStride,
                     zeroSlack: channels.upperBound == zeroSlackAt)
    guard sparseGathers(g) else { return }
    let n = g.outPlane
    let gathered = (shared + alignedBytes(layout.bufferCount(channels: g.inChannels) * 4))
        .bindMemory(to: Float.self, capacity: g.inChannels * g.kernelArea * n)
    for c in channels {
        for ky in 0..<g.kernelHeight {
            for kx in 0..<g.kernelWidth {
                let column = (c * g.kernelHeight + ky) * g.kernelWidth + kx
                gatherRows(planes + c * layout.channelStride + layout.tapOffset(ky: ky, kx: kx), pitch: layout.width,
                           rows: g.outHeight, width: g.outWidth, into: gathered + column * n)
            }
        }
    }
}

/// Output rows `rows` of the direct sparse convolution, reading the input transform
/// `sparseSpconvPrepare` wrote into `shared` for (at least) the input channels of their groups, or
/// `input` itself when `sparseSpconvPrepares(g)` is false. `workspace`: `sparseSpconvPrivateBytes(g)`.
func sparseSpconvRows(_ g: ConvGeometry, _ indexing: SparseIndexing, _ values: SparseValues,
                      input: UnsafePointer<Float>, shared: UnsafeRawPointer, bias: UnsafePointer<Float>?,
                      bounds: ActivationBounds, output: UnsafeMutablePointer<Float>, rows: Range<Int>,
                      workspace: UnsafeMutableRawPointer) {
    let range = rows.clamped(to: 0..<g.outChannels)
    guard !range.isEmpty else { return }
    let layout = PhaseLayout(g)
    let mg = g.outChannelsPerGroup, cg = g.inChannelsPerGroup
    let k = max(1, g.reduction)
    let wideLength = layout.wideLength(g)

    var cursor = workspace
    let table = cursor.bindMemory(to: Int32.self, capacity: k)
    cursor += alignedBytes(k * 4)
    let decode = cursor
    cursor += sparseDecodeBytes(k: k)
    let wide = cursor.bindMemory(to: Float.self, capacity: max(8, wideLength))

    let planeBase = layout.inPlace ? input : UnsafePointer(shared.assumingMemoryBound(to: Float.self))
    if sparseGathers(g) {
        let n = g.outPlane
        let gathered = UnsafePointer((shared + alignedBytes(layout.bufferCount(channels: g.inChannels) * 4))
            .assumingMemoryBound(to: Float.self))
        for column in 0..<k { table[column] = Int32(truncatingIfNeeded: column * n) }
        @inline(__always) func gatheredBase(_ m: Int) -> UnsafePointer<Float> { gathered + (m / mg) * k * n }
        @inline(__always) func out(_ m: Int) -> UnsafeMutablePointer<Float> { output + m * n }
        sparseRows(indexing, values, k: k, rows: range, table: table, decode: decode,
                   base: gatheredBase, length: n, bias: bias, bounds: bounds, dst: out, after: { _ in })
        return
    }
    // Column (c, ky, kx) → offset of its run within a group's phase planes: one table load per
    // non-zero instead of two integer divisions.
    for c in 0..<cg {
        for ky in 0..<g.kernelHeight {
            for kx in 0..<g.kernelWidth {
                table[(c * g.kernelHeight + ky) * g.kernelWidth + kx] =
                    Int32(truncatingIfNeeded: c * layout.channelStride + layout.tapOffset(ky: ky, kx: kx))
            }
        }
    }
    let direct = layout.width == g.outWidth
    let groupStride = cg * layout.channelStride
    // Into the scratch, at least one full vector: the phase-plane slack keeps those reads in bounds.
    let length = direct ? wideLength : max(8, wideLength)
    @inline(__always) func base(_ m: Int) -> UnsafePointer<Float> { planeBase + (m / mg) * groupStride }
    @inline(__always) func dst(_ m: Int) -> UnsafeMutablePointer<Float> { direct ? output + m * g.outPlane : wide }
    @inline(__always) func after(_ m: Int) {
        if !direct { copyRows(wide, pitch: layout.width, rows: g.outHeight, width: g.outWidth, into: output + m * g.outPlane, pitch: g.outWidth) }
    }
    sparseRows(indexing, values, k: k, rows: range, table: table, decode: decode,
               base: base, length: length, bias: bias, bounds: bounds, dst: dst, after: after)
}

/// Whether `sparsePointwiseColumns` can compute `g`: 1×1, stride 1, no padding, one group, and
/// a plane of at least two whole 64-column blocks.
func sparseSplitsColumns(_ g: ConvGeometry) -> Bool {
    g.isPointwise && g.groups == 1 && g.outPlane % 64 == 0 && g.outPlane >= 128
}

/// Columns per tile of `sparsePointwiseColumns`: the tile of the input (C rows of it) stays
/// near 192 KB, so it is read from L2 by every output row; at least 256 columns, so a row's fixed
/// costs (mask decode, epilogue) are paid over four 64-column blocks or more.
func sparsePointwiseTile(_ g: ConvGeometry) -> Int { max(256, 49152 / max(1, g.inChannels) / 64 * 64) }

/// Columns 64·blocks.lowerBound ..< 64·blocks.upperBound of every output row of a pointwise
/// sparse convolution (`sparseSplitsColumns(g)`), a tile of columns at a time for all rows. An
/// input the phase layout copies (channel planes a multiple of 2 KiB apart, see `PhaseLayout`)
/// has the tile's columns copied into `copy` at the padded channel stride first. Each 64-column
/// block is computed exactly as `sparseSpconvRows` computes it, so any split of the blocks
/// between threads gives the same bits. `workspace`: `sparseSpconvPrivateBytes(g)`.
func sparsePointwiseColumns(_ g: ConvGeometry, _ indexing: SparseIndexing, _ values: SparseValues,
                            input: UnsafePointer<Float>, copy: UnsafeMutableRawPointer, bias: UnsafePointer<Float>?,
                            bounds: ActivationBounds, output: UnsafeMutablePointer<Float>, blocks: Range<Int>,
                            workspace: UnsafeMutableRawPointer) {
    let plane = g.outPlane
    let columns = (blocks.lowerBound * 64)..<min(plane, blocks.upperBound * 64)
    guard !columns.isEmpty else { return }
    let layout = PhaseLayout(g)
    let m = g.outChannels, k = max(1, g.reduction), c = g.inChannels
    let table = workspace.bindMemory(to: Int32.self, capacity: k)
    let decode = workspace + alignedBytes(k * 4)
    for column in 0..<k { table[column] = Int32(truncatingIfNeeded: column * layout.channelStride) }
    let copied = copy.bindMemory(to: Float.self, capacity: max(1, layout.bufferCount(channels: c)))
    let planes = layout.inPlace ? input : UnsafePointer(copied)
    let tile = sparsePointwiseTile(g)
    var lo = columns.lowerBound
    while lo < columns.upperBound {
        let width = min(tile, columns.upperBound - lo)
        if !layout.inPlace {
            for channel in 0..<c {
                (copied + channel * layout.channelStride + lo).update(from: input + channel * plane + lo, count: width)
            }
        }
        let first = lo == columns.lowerBound, start = lo
        sparseRows(indexing, values, k: k, rows: 0..<m, table: table, decode: decode,
                   base: { _ in planes + start }, length: width, bias: bias, bounds: bounds,
                   dst: { output + $0 * plane + start }, after: { _ in }, byteTableReady: !first)
        lo += width
    }
}

/// Direct sparse convolution: every non-zero (c, ky, kx) of output row m adds its weight times
/// one contiguous run of the phase planes; rows m in `outputChannels` only (only the input
/// channels of their groups are transformed).
func sparseSpconv(_ g: ConvGeometry, _ indexing: SparseIndexing, _ values: SparseValues,
                  input: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                  output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>,
                  workspace: UnsafeMutableRawPointer) {
    let range = outputChannels.clamped(to: 0..<g.outChannels)
    guard !range.isEmpty else { return }
    let mg = g.outChannelsPerGroup, cg = g.inChannelsPerGroup
    let channels = (range.lowerBound / mg * cg)..<((range.upperBound - 1) / mg * cg + cg)
    sparseSpconvPrepare(g, input: input, channels: channels, zeroSlackAt: channels.upperBound, shared: workspace)
    sparseSpconvRows(g, indexing, values, input: input, shared: workspace, bias: bias, bounds: bounds, output: output,
                     rows: range, workspace: workspace + sparseSpconvSharedBytes(g))
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
        case .packed(let p, let bits, _):
            var w: Float = 0
            unpackValues(p, bits: bits, first: t, count: 1, into: &w)
            body(col, w)
        }
    }
}

/// Reference: the row scale (1 for float values).
@inline(__always)
func rowScaleReference(_ m: Int, _ values: SparseValues) -> Float {
    switch values {
    case .f32: 1
    case .qc8w(_, let scales), .packed(_, _, let scales): scales[m]
    }
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
