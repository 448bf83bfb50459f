// f32-maxpool, f32-avgpool (count_include_pad both ways, ceil-mode output sizes) and f32-gap
// vs their reference twins, plus hand-checked values for the ONNX divisor rules.
import SpruceRuntime
import Testing

struct PoolCase: Sendable, CustomTestStringConvertible {
    var c: Int, h: Int, w: Int, k: Int, stride: Int, pads: [Int], dilation = 1, ceil = false
    var geometry: PoolGeometry {
        func out(_ size: Int, _ p0: Int, _ p1: Int) -> Int {
            let span = size + p0 + p1 - dilation * (k - 1) - 1
            var o = (ceil ? (span + stride - 1) / stride : span / stride) + 1
            // ONNX: with ceil mode the last window must start inside the input or left padding.
            if ceil && (o - 1) * stride >= size + p0 { o -= 1 }
            return o
        }
        return PoolGeometry(channels: c, inHeight: h, inWidth: w, outHeight: out(h, pads[0], pads[2]),
                            outWidth: out(w, pads[1], pads[3]), kernelHeight: k, kernelWidth: k,
                            strideHeight: stride, strideWidth: stride, pads: pads,
                            dilationHeight: dilation, dilationWidth: dilation)
    }
    var testDescription: String { "C\(c) \(h)x\(w) k\(k) s\(stride) p\(pads) d\(dilation) ceil \(ceil)" }
}

let poolCases: [PoolCase] = [
    PoolCase(c: 3, h: 8, w: 8, k: 2, stride: 2, pads: [0, 0, 0, 0]),
    PoolCase(c: 4, h: 9, w: 11, k: 3, stride: 2, pads: [1, 1, 1, 1]),
    PoolCase(c: 2, h: 10, w: 10, k: 3, stride: 2, pads: [0, 0, 0, 0], ceil: true),
    PoolCase(c: 2, h: 7, w: 9, k: 3, stride: 1, pads: [1, 0, 1, 2]),
    PoolCase(c: 2, h: 12, w: 12, k: 3, stride: 2, pads: [1, 1, 1, 1], ceil: true),
    PoolCase(c: 1, h: 5, w: 5, k: 5, stride: 1, pads: [2, 2, 2, 2]),
    // Wide enough for the eight-at-a-time path (interior columns), edges scalar.
    PoolCase(c: 2, h: 9, w: 43, k: 3, stride: 2, pads: [1, 1, 1, 1]),
    PoolCase(c: 2, h: 6, w: 37, k: 3, stride: 1, pads: [0, 2, 1, 0]),
    PoolCase(c: 2, h: 8, w: 40, k: 1, stride: 2, pads: [0, 0, 0, 0]),
    PoolCase(c: 1, h: 8, w: 34, k: 2, stride: 2, pads: [0, 0, 0, 0]),
    // GoogLeNet's branch pools (3×3, stride 1, pad 1) on 14- and 21-wide rows: the last vector
    // block moved back over the one before; its stride-2 ceil-mode pools on 28-wide rows.
    PoolCase(c: 2, h: 14, w: 14, k: 3, stride: 1, pads: [1, 1, 1, 1]),
    PoolCase(c: 1, h: 5, w: 21, k: 3, stride: 1, pads: [1, 1, 1, 1]),
    PoolCase(c: 1, h: 6, w: 28, k: 3, stride: 2, pads: [0, 0, 0, 0], ceil: true),
    // Stride 1 with the output the input's size (two flat separable passes): GoogLeNet's 7×7
    // maps, maps smaller than the window, pads all on one side.
    PoolCase(c: 3, h: 7, w: 7, k: 3, stride: 1, pads: [1, 1, 1, 1]),
    PoolCase(c: 2, h: 1, w: 1, k: 3, stride: 1, pads: [1, 1, 1, 1]),
    PoolCase(c: 2, h: 2, w: 3, k: 3, stride: 1, pads: [1, 1, 1, 1]),
    PoolCase(c: 2, h: 7, w: 9, k: 3, stride: 1, pads: [2, 0, 0, 2]),
    PoolCase(c: 2, h: 9, w: 11, k: 5, stride: 1, pads: [2, 2, 2, 2]),
]

@Test(arguments: poolCases)
func maxPoolMatchesReference(_ t: PoolCase) {
    for dilation in [1, 2] {
        var t = t
        t.dilation = dilation
        let g = t.geometry
        guard g.outHeight > 0 && g.outWidth > 0 else { continue }  // a map smaller than the dilated window
        var rng = SplitMix64(seed: UInt64(t.h * 100 + t.k * 10 + dilation))
        let input = rng.floats(g.channels * g.inHeight * g.inWidth)
        var expected = [Float](repeating: .nan, count: g.channels * g.outHeight * g.outWidth)
        var actual = expected
        f32MaxPoolReference(g, input: input, output: &expected, channels: 0..<g.channels)
        f32MaxPool(g, input: input, output: &actual, channels: 0..<1)
        f32MaxPool(g, input: input, output: &actual, channels: 1..<g.channels)
        #expect(actual == expected, "maxpool \(t.testDescription)")
    }
}

@Test(arguments: poolCases, [false, true])
func avgPoolMatchesReference(_ t: PoolCase, _ includePad: Bool) {
    let g = t.geometry
    var rng = SplitMix64(seed: UInt64(t.h * 100 + t.k * 10 + (includePad ? 1 : 0)))
    let input = rng.floats(g.channels * g.inHeight * g.inWidth)
    var expected = [Float](repeating: .nan, count: g.channels * g.outHeight * g.outWidth)
    var actual = expected
    f32AvgPoolReference(g, countIncludePad: includePad, input: input, output: &expected, channels: 0..<g.channels)
    f32AvgPool(g, countIncludePad: includePad, input: input, output: &actual, channels: 0..<g.channels)
    expectClose(actual, expected, "avgpool \(t.testDescription) include pad \(includePad)")
}

/// 3×3 average pool, pad 1, over a 2×2 input of ones: corners see 4 real taps of a 9-tap window.
@Test func avgPoolDivisorRules() {
    let g = PoolGeometry(channels: 1, inHeight: 2, inWidth: 2, outHeight: 2, outWidth: 2, kernelHeight: 3,
                         kernelWidth: 3, pads: [1, 1, 1, 1])
    let input: [Float] = [1, 1, 1, 1]
    var out = [Float](repeating: 0, count: 4)
    f32AvgPool(g, countIncludePad: false, input: input, output: &out, channels: 0..<1)
    #expect(out == [1, 1, 1, 1])
    f32AvgPool(g, countIncludePad: true, input: input, output: &out, channels: 0..<1)
    let fourNinths: Float = 4.0 / 9
    #expect(out == [Float](repeating: fourNinths, count: 4))
}

@Test(arguments: [1, 7, 16, 49, 100])
func gapMatchesReference(_ plane: Int) {
    var rng = SplitMix64(seed: UInt64(plane))
    let channels = 5
    let input = rng.floats(channels * plane)
    var expected = [Float](repeating: .nan, count: channels), actual = expected
    f32GAPReference(channels: 0..<channels, plane: plane, input: input, output: &expected)
    f32GAP(channels: 0..<channels, plane: plane, input: input, output: &actual)
    expectClose(actual, expected, "gap \(plane)")
    var mean: Float = 0
    for j in 0..<plane { mean += input[j] }
    #expect(abs(expected[0] - mean / Float(plane)) < 1e-5)
}

/// Ceil mode with count_include_pad: onnxruntime 1.18 divides by the whole 3×3 window even where
/// it runs past the trailing pad (values measured with onnxruntime on an 8×8 input of ones).
@Test func avgPoolCeilModeIncludePadMatchesOnnxruntime() {
    let g = PoolGeometry(channels: 1, inHeight: 8, inWidth: 8, outHeight: 5, outWidth: 5, kernelHeight: 3,
                         kernelWidth: 3, strideHeight: 2, strideWidth: 2, pads: [1, 1, 1, 1])
    let input = [Float](repeating: 1, count: 64)
    var out = [Float](repeating: 0, count: 25)
    f32AvgPool(g, countIncludePad: true, input: input, output: &out, channels: 0..<1)
    let ninth: Float = 1.0 / 9
    #expect(abs(out[0] - 4 * ninth) < 1e-6)
    #expect(abs(out[4] - 2 * ninth) < 1e-6)
    #expect(abs(out[6] - 1) < 1e-6)
    #expect(abs(out[24] - ninth) < 1e-6)
}
