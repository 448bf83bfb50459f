// How sparse convolutions are split between threads: the input transform built in channel parts
// then rows, the column-block kernel of pointwise convolutions, and the non-zero-balanced row
// split. Each split must give the same bits as the whole call, and match the reference twin.
// Runs the parts in turn on one thread; the threaded engine is covered by EngineOptionsTests.
@testable import SpruceRuntime
import Testing

/// Calls `body` with the step-form weights (CSR or bitmask, f32 or int8) of `dense`.
private func withWeights(_ dense: [Float], rows: Int, cols: Int, bitmask: Bool, int8: Bool,
                         _ body: (SparseIndexing, SparseValues) -> Void) {
    let csr = CSR(dense: dense, rows: rows, cols: cols), mask = Bitmask(dense: dense, rows: rows, cols: cols)
    let (scales, _, q) = quantizeRows(dense: dense, rows: rows, cols: cols)
    let qStored = storedQ(q, dense: dense)
    let wordsPerRow = (cols + 63) / 64
    func values(_ f32: UnsafePointer<Float>, _ body: (SparseValues) -> Void) {
        if int8 {
            qStored.withUnsafeBufferPointer { q in
                scales.withUnsafeBufferPointer { s in body(.qc8w(q.baseAddress!, scales: s.baseAddress!)) }
            }
        } else {
            body(.f32(f32))
        }
    }
    if bitmask {
        mask.words.withUnsafeBufferPointer { w in mask.rowValueOffsets.withUnsafeBufferPointer { o in
            mask.values.withUnsafeBufferPointer { v in
                values(v.baseAddress!) { body(.bitmask(words: w.baseAddress!, wordsPerRow: wordsPerRow,
                                                       rowValueOffsets: o.baseAddress!), $0) }
            }
        } }
    } else {
        csr.rowPointers.withUnsafeBufferPointer { rp in csr.columns.withUnsafeBufferPointer { ci in
            csr.values.withUnsafeBufferPointer { v in
                values(v.baseAddress!) { body(.csr(rowPointers: rp.baseAddress!, columnIndices: ci.baseAddress!), $0) }
            }
        } }
    }
}

let splitConvCases: [ConvCase] = [
    ConvCase(c: 17, h: 13, w: 11, m: 19, kh: 3, kw: 3, pads: [1, 1, 1, 1]),  // phase planes, wide rows
    ConvCase(c: 6, h: 11, w: 13, m: 10, kh: 3, kw: 3, stride: (2, 2), pads: [1, 0, 1, 2]),
    ConvCase(c: 8, h: 8, w: 8, m: 8, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 2),
    ConvCase(c: 20, h: 4, w: 4, m: 12, kh: 3, kw: 3, pads: [1, 1, 1, 1]),  // gathered
    ConvCase(c: 9, h: 8, w: 8, m: 7, kh: 3, kw: 3, pads: [1, 1, 1, 1]),    // gathered
    ConvCase(c: 9, h: 32, w: 16, m: 11, kh: 1, kw: 1),                     // copied 1×1
]

@Test(arguments: splitConvCases, [false, true])
func preparedInChannelPartsEqualsWholeCall(_ t: ConvCase, _ bitmask: Bool) {
    let g = t.geometry
    var rng = SplitMix64(seed: UInt64(t.c * 31 + t.h * 7 + t.groups) &+ (bitmask ? 1 : 0))
    let dense = sparseWeights(rows: g.outChannels, cols: g.reduction, sparsity: 0.8, rng: &rng)
    let input = rng.floats(g.inChannels * g.inPlane), bias = rng.floats(g.outChannels)
    let whole = allocateWorkspace(sparseSpconvWorkspaceBytes(g))
    let shared = allocateWorkspace(sparseSpconvSharedBytes(g))
    let own = allocateWorkspace(sparseSpconvPrivateBytes(g))
    defer { whole.deallocate(); shared.deallocate(); own.deallocate() }
    let count = g.outChannels * g.outPlane
    let bounds = ActivationBounds(lower: -0.5, upper: 2)
    for int8 in [false, true] {
        withWeights(dense, rows: g.outChannels, cols: g.reduction, bitmask: bitmask, int8: int8) { indexing, values in
            var expected = [Float](repeating: .nan, count: count), actual = expected
            var reference = expected
            input.withUnsafeBufferPointer { x in bias.withUnsafeBufferPointer { b in
                sparseSpconvReference(g, indexing, values, input: x.baseAddress!, bias: b.baseAddress!, bounds: bounds,
                                      output: &reference, outputChannels: 0..<g.outChannels)
                sparseSpconv(g, indexing, values, input: x.baseAddress!, bias: b.baseAddress!, bounds: bounds,
                             output: &expected, outputChannels: 0..<g.outChannels, workspace: whole)
                // Channel parts out of order (the last first), then rows in three parts.
                let c = g.inChannels, third = max(1, c / 3)
                for part in [(2 * third)..<c, 0..<third, third..<(2 * third)] {
                    sparseSpconvPrepare(g, input: x.baseAddress!, channels: part, zeroSlackAt: c, shared: shared)
                }
                let m = g.outChannels
                for rows in [0..<(m / 3), (m / 3)..<(m - 1), (m - 1)..<m] {
                    sparseSpconvRows(g, indexing, values, input: x.baseAddress!, shared: shared, bias: b.baseAddress!,
                                     bounds: bounds, output: &actual, rows: rows, workspace: own)
                }
            } }
            #expect(actual == expected, "\(t.testDescription) bitmask \(bitmask) int8 \(int8)")
            expectClose(actual, reference, "\(t.testDescription) vs reference")
        }
    }
}

struct PointwiseCase: Sendable, CustomTestStringConvertible {
    var c: Int, h: Int, w: Int, m: Int
    var testDescription: String { "\(c)x\(h)x\(w)->\(m)" }
}

let pointwiseCases: [PointwiseCase] = [
    PointwiseCase(c: 12, h: 8, w: 16, m: 9),     // 2 blocks
    PointwiseCase(c: 5, h: 12, w: 16, m: 7),     // 3 blocks, in place
    PointwiseCase(c: 9, h: 32, w: 32, m: 6),     // 16 blocks, copied (4 KiB planes), several tiles
    PointwiseCase(c: 300, h: 16, w: 16, m: 4),   // many channels: 256-column tiles
    PointwiseCase(c: 3, h: 64, w: 64, m: 5),     // one tile of 4096 columns
]

@Test(arguments: pointwiseCases, [false, true])
func pointwiseColumnBlocksEqualWholeCall(_ t: PointwiseCase, _ bitmask: Bool) {
    let g = ConvGeometry(inChannels: t.c, inHeight: t.h, inWidth: t.w, outChannels: t.m, kernelHeight: 1, kernelWidth: 1)
    #expect(sparseSplitsColumns(g))
    var rng = SplitMix64(seed: UInt64(t.c * 13 + t.h * t.w) &+ (bitmask ? 7 : 0))
    let dense = sparseWeights(rows: g.outChannels, cols: g.reduction, sparsity: 0.7, rng: &rng)
    let input = rng.floats(g.inChannels * g.inPlane), bias = rng.floats(g.outChannels)
    let whole = allocateWorkspace(sparseSpconvWorkspaceBytes(g))
    let copy = allocateWorkspace(sparseSpconvSharedBytes(g))
    let own = allocateWorkspace(sparseSpconvPrivateBytes(g))
    defer { whole.deallocate(); copy.deallocate(); own.deallocate() }
    let count = g.outChannels * g.outPlane, blocks = g.outPlane / 64
    let bounds = ActivationBounds(lower: -1, upper: 1)
    for int8 in [false, true] {
        withWeights(dense, rows: g.outChannels, cols: g.reduction, bitmask: bitmask, int8: int8) { indexing, values in
            var expected = [Float](repeating: .nan, count: count), reference = expected
            input.withUnsafeBufferPointer { x in bias.withUnsafeBufferPointer { b in
                sparseSpconvReference(g, indexing, values, input: x.baseAddress!, bias: b.baseAddress!, bounds: bounds,
                                      output: &reference, outputChannels: 0..<g.outChannels)
                sparseSpconv(g, indexing, values, input: x.baseAddress!, bias: b.baseAddress!, bounds: bounds,
                             output: &expected, outputChannels: 0..<g.outChannels, workspace: whole)
            } }
            expectClose(expected, reference, "\(t.testDescription) whole call vs reference")
            // One call, then the blocks split in two and three parts, the later parts first.
            for parts in 1...3 {
                var actual = [Float](repeating: .nan, count: count)
                for part in (0..<parts).reversed() {
                    input.withUnsafeBufferPointer { x in bias.withUnsafeBufferPointer { b in
                        sparsePointwiseColumns(g, indexing, values, input: x.baseAddress!, copy: copy,
                                               bias: b.baseAddress!, bounds: bounds, output: &actual,
                                               blocks: splitUnits(blocks, part: part, of: parts, granularity: 1),
                                               workspace: own)
                    } }
                }
                #expect(actual == expected, "\(t.testDescription) \(parts) parts bitmask \(bitmask) int8 \(int8)")
            }
        }
    }
}

@Test func balancedSplitCoversRowsByNonZeros() {
    // Rows of 100, 0, 0, 0, 10, 10, 10, 10 non-zeros (overhead 4 each): two parts cut after row 0.
    let nonZeros = [100, 0, 0, 0, 10, 10, 10, 10]
    var prefix: [UInt32] = [0]
    for n in nonZeros { prefix.append(prefix.last! + UInt32(n)) }
    func parts(_ count: Int) -> [Range<Int>] {
        prefix.withUnsafeBufferPointer { p in
            (0..<count).map { balancedSplit(prefix: p.baseAddress!, rows: nonZeros.count, rowOverhead: 4, part: $0, of: count) }
        }
    }
    #expect(parts(1) == [0..<8])
    #expect(parts(2) == [0..<1, 1..<8])
    for count in 1...5 {
        let ranges = parts(count)
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == nonZeros.count)
        for i in 1..<count { #expect(ranges[i - 1].upperBound == ranges[i].lowerBound) }
    }
    // Equal rows split evenly.
    let even: [UInt32] = (0...12).map { UInt32($0 * 5) }
    let halves = even.withUnsafeBufferPointer { p in
        (0..<2).map { balancedSplit(prefix: p.baseAddress!, rows: 12, rowOverhead: 4, part: $0, of: 2) }
    }
    #expect(halves == [0..<6, 6..<12])
}
