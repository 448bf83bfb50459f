// Tests of the SpruceCore weight encodings: CSR, bitmask, int8 rows and the chooser.
// Round trips are exact for float32; int8 stays within scale/2 and keeps zeros exact.

import SpruceCore
import Testing

@Suite struct EncodingTests {
    static let shapes: [(Int, Int, Double)] = [(1, 1, 0), (3, 5, 0.5), (7, 9, 0.9), (16, 33, 0.75), (4, 8, 1.0), (5, 17, 0)]

    @Test(arguments: shapes)
    func csrRoundTripIsExact(rows: Int, cols: Int, sparsity: Double) {
        var rng = SplitMix64(seed: UInt64(rows * 100 + cols))
        let dense = sparseValues(count: rows * cols, sparsity: sparsity, rng: &rng)
        let m = CSRMatrix(dense: dense, rows: rows, cols: cols)
        #expect(m.rowPointers.count == rows + 1)
        #expect(m.storedCount == dense.filter { $0 != 0 }.count)
        #expect(m.dense() == dense)
        for r in 0..<rows {
            let row = m.columnIndices[Int(m.rowPointers[r])..<Int(m.rowPointers[r + 1])]
            #expect(zip(row, row.dropFirst()).allSatisfy { $0 < $1 })
        }
    }

    @Test(arguments: shapes)
    func bitmaskRoundTripIsExact(rows: Int, cols: Int, sparsity: Double) {
        var rng = SplitMix64(seed: UInt64(rows * 1000 + cols))
        let dense = sparseValues(count: rows * cols, sparsity: sparsity, rng: &rng)
        let m = BitmaskMatrix(dense: dense, rows: rows, cols: cols)
        #expect(m.mask.count == rows * ((cols + 7) / 8))
        #expect(m.mask.reduce(0) { $0 + $1.nonzeroBitCount } == m.storedCount)
        #expect(Int(m.rowOffsets.last ?? -1) == m.storedCount)
        #expect(m.dense() == dense)
    }

    @Test func bitmaskBitOrderIsLSBFirst() {
        // Row 0 stores columns 0 and 9; row 1 stores column 7.
        var dense = [Float](repeating: 0, count: 2 * 10)
        dense[0] = 1; dense[9] = 2; dense[10 + 7] = 3
        let m = BitmaskMatrix(dense: dense, rows: 2, cols: 10)
        #expect(m.mask == [0b0000_0001, 0b0000_0010, 0b1000_0000, 0])
        #expect(m.values == [1, 2, 3])
    }

    @Test(arguments: shapes)
    func int8ErrorIsAtMostHalfAScale(rows: Int, cols: Int, sparsity: Double) {
        var rng = SplitMix64(seed: UInt64(rows * 7 + cols))
        let dense = sparseValues(count: rows * cols, sparsity: sparsity, rng: &rng).map { $0 * 3 }
        let q = Int8Rows(quantizingDense: dense, rows: rows, cols: cols)
        let back = q.dequantized()
        for r in 0..<rows {
            let row = dense[r * cols..<(r + 1) * cols]
            expectHalfScale(q.scales[r], maxAbs: row.map(abs).max()!)
            for c in 0..<cols {
                let i = r * cols + c
                if dense[i] == 0 { #expect(back[i] == 0) }
                // scale/2 plus a few float32 rounding steps of the value itself.
                #expect(abs(back[i] - dense[i]) <= q.scales[r] / 2 + abs(dense[i]) * 1e-6)
                #expect(q.values[i] != Int8.min)
            }
        }
    }

    @Test func int8ScalesUseStoredValuesOnly() {
        var rng = SplitMix64(seed: 9)
        let dense = sparseValues(count: 6 * 40, sparsity: 0.9, rng: &rng)
        let csr = CSRMatrix(dense: dense, rows: 6, cols: 40)
        let q = CSRMatrixInt8(quantizing: csr)
        let back = q.dequantized()
        #expect(back.columnIndices == csr.columnIndices)
        for r in 0..<6 {
            let range = Int(csr.rowPointers[r])..<Int(csr.rowPointers[r + 1])
            let maxAbs = csr.values[range].map(abs).max() ?? 0
            expectHalfScale(q.values.scales[r], maxAbs: maxAbs)
            // The largest stored value of each row maps to ±127 exactly.
            if maxAbs > 0 { #expect(q.values.values[range].map { abs(Int($0)) }.max() == 127) }
        }
        #expect(back.dense().enumerated().allSatisfy { dense[$0.offset] != 0 || $0.element == 0 })
        let bm = BitmaskMatrixInt8(quantizing: BitmaskMatrix(dense: dense, rows: 6, cols: 40))
        #expect(bm.dequantized().dense() == back.dense())
    }

    /// A row scale follows the writer's rule: a binary16 value not below maxAbs / 127 and within
    /// binary16's rounding step (2^-10 relative) of it, for rows in binary16's normal range.
    func expectHalfScale(_ scale: Float, maxAbs: Float, sourceLocation: SourceLocation = #_sourceLocation) {
        let exact = maxAbs / 127
        #expect(Float(Float16(scale)) == scale, "scale \(scale) is not a binary16 value", sourceLocation: sourceLocation)
        #expect(scale >= exact && scale <= exact * (1 + 1.0 / 1024), "scale \(scale) for max \(maxAbs)", sourceLocation: sourceLocation)
    }

    @Test("scales outside binary16's normal range stay maxAbs / 127; inside, binary16's rounding step is all it adds", arguments: [
        Float(1e-5), 1e-3, 0.5, 3, 100, 1e8,
    ])
    func scaleRule(maxAbs: Float) {
        let scale = Int8Rows.scale(maxAbs: maxAbs)
        let exact = maxAbs / 127
        if exact < Float(Float16.leastNormalMagnitude) || exact > 65504 {
            #expect(scale == exact)  // a binary16 step would add more than 2^-10 (or overflow)
        } else {
            expectHalfScale(scale, maxAbs: maxAbs)
        }
        // Whatever the scale, the largest value quantizes to ±127 without clamping.
        #expect(Int8Rows.quantize(maxAbs, scale: scale) == 127 && Int8Rows.quantize(-maxAbs, scale: scale) == -127)
        #expect(Int8Rows.scale(maxAbs: 0) == 0)
    }

    @Test("b-bit rows: values within ±(2^(b−1) − 1), each within scale / 2, the largest at the edge", arguments: Array(2...8))
    func narrowValuesStayWithinHalfAScale(bits: Int) {
        var rng = SplitMix64(seed: UInt64(bits))
        let dense = sparseValues(count: 6 * 50, sparsity: 0.5, rng: &rng)
        let q = Int8Rows(quantizingDense: dense, rows: 6, cols: 50, bits: bits)
        let largest = Int8Rows.largestStep(bits: bits)
        #expect(q.bits == bits && largest == [1, 3, 7, 15, 31, 63, 127][bits - 2])
        let back = q.dequantized()
        for r in 0..<6 {
            let row = (r * 50)..<((r + 1) * 50)
            let maxAbs = dense[row].map(abs).max()!
            #expect(q.scales[r] >= maxAbs / Float(largest) && q.scales[r] <= maxAbs / Float(largest) * (1 + 1.0 / 1024))
            #expect(q.values[row].map { abs(Int($0)) }.max() == largest)
            for i in row {
                #expect(abs(Int(q.values[i])) <= largest)
                #expect(abs(back[i] - dense[i]) <= q.scales[r] / 2 + abs(dense[i]) * 1e-6)
                if dense[i] == 0 { #expect(back[i] == 0) }
            }
        }
    }

    @Test func allZeroRowQuantizesToZeroScale() {
        let q = Int8Rows(quantizingDense: [0, 0, 0, 0.5, -2, 0], rows: 2, cols: 3)
        #expect(q.scales[0] == 0)
        expectHalfScale(q.scales[1], maxAbs: 2)
        #expect(q.dequantized()[0..<3] == [0, 0, 0])
        #expect(q.values[3...] == [32, -127, 0])
    }

    @Test(arguments: [(0.0, "dense"), (0.5, "bitmask"), (0.75, "bitmask"), (0.9, "csr"), (0.97, "csr")])
    func chooserPicksByCost(sparsity: Double, expected: String) {
        var rng = SplitMix64(seed: 42)
        let matrix = sparseValues(count: 256 * 1152, sparsity: sparsity, rng: &rng)
        for valueType in WeightValueType.allCases {
            let choice = WeightEncoding.choose(for: matrix, rows: 256, cols: 1152, valueType: valueType)
            let name: String
            switch choice.encoding {
            case .dense: name = "dense"
            case .bitmask: name = "bitmask"
            case .csr: name = "csr"
            }
            #expect(name == expected, "\(valueType) at \(sparsity): \(choice)")
            let all = WeightEncoding.costs(of: matrix, rows: 256, cols: 1152, valueType: valueType)
            #expect(all.allSatisfy { $0.totalBytes >= choice.totalBytes })
        }
    }

    @Test func costsAreExact() {
        var rng = SplitMix64(seed: 3)
        let matrix = sparseValues(count: 256 * 1152, sparsity: 0.9, rng: &rng)
        let nnz = matrix.filter { $0 != 0 }.count
        let csr = CSRMatrix(dense: matrix, rows: 256, cols: 1152)
        let costs = WeightEncoding.costs(of: matrix, rows: 256, cols: 1152, valueType: .int8)
        #expect(costs[0] == EncodingCost(encoding: .dense, storedCount: 256 * 1152, valueBytes: 256 * 1152, indexBytes: 0, scaleBytes: 1024))
        #expect(costs[1] == EncodingCost(encoding: .bitmask, storedCount: nnz, valueBytes: nnz, indexBytes: 256 * 144, scaleBytes: 1024))
        let deltaFormat: IndexFormat = csr.maxColumnDelta <= 255 ? .deltaU8 : .u16
        #expect(costs[2].encoding == .csr(rowPointers: .u16, columnIndices: deltaFormat))
        #expect(costs[2].indexBytes == 257 * 2 + nnz * deltaFormat.byteWidth)
    }

    @Test func narrowestFormats() {
        #expect(IndexFormat.narrowestAbsolute(fitting: 255) == .u8)
        #expect(IndexFormat.narrowestAbsolute(fitting: 256) == .u16)
        #expect(IndexFormat.narrowestAbsolute(fitting: 65_536) == .u32)
        #expect(IndexFormat.narrowestAbsolute(fitting: 1 << 33) == nil)
        #expect(IndexFormat.narrowestDelta(fitting: 10) == .deltaU8)
    }
}
