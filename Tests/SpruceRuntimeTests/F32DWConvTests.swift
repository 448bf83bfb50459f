// f32-dwconv (3×3 fast path and the general fallback) vs its reference twin, and the reference
// vs the dense convolution reference with groups == channels (the ONNX definition).
import SpruceRuntime
import Testing

let dwCases: [ConvCase] = [
    ConvCase(c: 5, h: 10, w: 10, m: 5, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 5),
    ConvCase(c: 4, h: 11, w: 19, m: 4, kh: 3, kw: 3, stride: (2, 2), pads: [1, 1, 1, 1], groups: 4),
    ConvCase(c: 3, h: 12, w: 12, m: 3, kh: 3, kw: 3, stride: (2, 2), pads: [0, 0, 1, 1], groups: 3),
    ConvCase(c: 6, h: 9, w: 7, m: 6, kh: 3, kw: 3, groups: 6),
    ConvCase(c: 2, h: 2, w: 2, m: 2, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 2),
    ConvCase(c: 3, h: 13, w: 13, m: 6, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 3),  // multiplier 2
    ConvCase(c: 4, h: 12, w: 12, m: 4, kh: 3, kw: 3, pads: [2, 2, 2, 2], dilation: (2, 2), groups: 4),
    ConvCase(c: 3, h: 14, w: 17, m: 3, kh: 5, kw: 5, pads: [2, 2, 2, 2], groups: 3),
    ConvCase(c: 3, h: 14, w: 17, m: 3, kh: 5, kw: 5, stride: (2, 2), pads: [2, 2, 2, 2], groups: 3),
    ConvCase(c: 2, h: 15, w: 15, m: 2, kh: 7, kw: 7, pads: [3, 3, 3, 3], groups: 2),
    // 5×5 on the small maps of MobileNet v3 and MnasNet; the stride-2 one's wide plane of 7·9 = 63
    // floats leaves 15 after the 16-wide blocks: one 8-wide block, then scalar.
    ConvCase(c: 4, h: 7, w: 7, m: 4, kh: 5, kw: 5, pads: [2, 2, 2, 2], groups: 4),
    ConvCase(c: 3, h: 14, w: 14, m: 3, kh: 5, kw: 5, stride: (2, 2), pads: [2, 2, 2, 2], groups: 3),
    // 5×5 with outputs 8 and 16 wide, multiplier 2.
    ConvCase(c: 2, h: 8, w: 8, m: 4, kh: 5, kw: 5, pads: [2, 2, 2, 2], groups: 2),
    ConvCase(c: 2, h: 5, w: 16, m: 2, kh: 5, kw: 5, pads: [2, 2, 2, 2], groups: 2),
    ConvCase(c: 3, h: 8, w: 8, m: 3, kh: 1, kw: 1, groups: 3),
    ConvCase(c: 32, h: 33, w: 33, m: 32, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 32),
    // Asymmetric pads, interior of exactly 8, pads beyond one row (the in-place stride-1 path
    // before it was limited to rows of 128 or more).
    ConvCase(c: 2, h: 6, w: 21, m: 2, kh: 3, kw: 3, pads: [1, 0, 0, 1], groups: 2),
    ConvCase(c: 2, h: 5, w: 11, m: 2, kh: 3, kw: 3, pads: [2, 1, 2, 0], groups: 2),
    ConvCase(c: 2, h: 4, w: 10, m: 4, kh: 3, kw: 3, pads: [0, 1, 3, 1], groups: 2),
    // In-place stride-1 path (rows of 128 or more).
    ConvCase(c: 2, h: 3, w: 130, m: 2, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 2),
    ConvCase(c: 2, h: 4, w: 133, m: 4, kh: 3, kw: 3, pads: [0, 1, 1, 0], groups: 2),
    // Padded-plane path (3×3, stride 1, pads 1, rows of 4 or a multiple of 8): odd heights,
    // multiplier 2.
    ConvCase(c: 3, h: 4, w: 4, m: 3, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 3),
    ConvCase(c: 2, h: 3, w: 4, m: 4, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 2),
    ConvCase(c: 3, h: 8, w: 8, m: 3, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 3),
    ConvCase(c: 2, h: 5, w: 16, m: 4, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 2),
    // Rows of at least 8 that are not a multiple of 8 (the last block moved back): 3×3 on
    // MobileNet's 28- and 14-wide maps, 5×5 on EfficientNet's and MobileNet v3's, and 9.
    ConvCase(c: 3, h: 5, w: 28, m: 3, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 3),
    ConvCase(c: 2, h: 14, w: 14, m: 4, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 2),
    ConvCase(c: 3, h: 6, w: 28, m: 3, kh: 5, kw: 5, pads: [2, 2, 2, 2], groups: 3),
    ConvCase(c: 2, h: 14, w: 14, m: 4, kh: 5, kw: 5, pads: [2, 2, 2, 2], groups: 2),
    ConvCase(c: 2, h: 3, w: 9, m: 2, kh: 5, kw: 5, pads: [2, 2, 2, 2], groups: 2),
    // Stride-2 padded-plane path, any pads, rows of 4 (3×3) or at least 8: PyTorch's symmetric
    // pads on 28-wide maps, odd inputs, 5×5, asymmetric pads.
    ConvCase(c: 2, h: 28, w: 28, m: 2, kh: 3, kw: 3, stride: (2, 2), pads: [1, 1, 1, 1], groups: 2),
    ConvCase(c: 2, h: 9, w: 29, m: 4, kh: 3, kw: 3, stride: (2, 2), pads: [1, 1, 1, 1], groups: 2),
    ConvCase(c: 3, h: 8, w: 19, m: 3, kh: 3, kw: 3, stride: (2, 2), pads: [0, 1, 1, 0], groups: 3),
    ConvCase(c: 2, h: 28, w: 28, m: 2, kh: 5, kw: 5, stride: (2, 2), pads: [2, 2, 2, 2], groups: 2),
    ConvCase(c: 2, h: 7, w: 19, m: 4, kh: 5, kw: 5, stride: (2, 2), pads: [2, 2, 2, 2], groups: 2),
    ConvCase(c: 2, h: 10, w: 32, m: 2, kh: 5, kw: 5, stride: (2, 2), pads: [1, 2, 2, 1], groups: 2),
    ConvCase(c: 2, h: 7, w: 7, m: 2, kh: 3, kw: 3, stride: (2, 2), pads: [1, 1, 1, 1], groups: 2),
    // Stride-2 padded-plane path (pads only bottom/right, even input, rows of 4 or 8k).
    ConvCase(c: 2, h: 8, w: 8, m: 2, kh: 3, kw: 3, stride: (2, 2), pads: [0, 0, 1, 1], groups: 2),
    ConvCase(c: 3, h: 16, w: 16, m: 6, kh: 3, kw: 3, stride: (2, 2), pads: [0, 0, 1, 1], groups: 3),
    ConvCase(c: 2, h: 6, w: 32, m: 2, kh: 3, kw: 3, stride: (2, 2), pads: [0, 0, 1, 1], groups: 2),
    // Wide rows of 24 on the phase-plane path: the last 16-wide block moved back over the first.
    ConvCase(c: 3, h: 4, w: 4, m: 3, kh: 3, kw: 3, stride: (1, 1), pads: [1, 0, 1, 2], groups: 3),
    // Eight channels per vector (outputs narrower than eight): a full block and a partial one,
    // 3×3 and 5×5 on 7×7 maps, stride 2 to 4×4, dilation, asymmetric pads, no padding.
    ConvCase(c: 13, h: 7, w: 7, m: 13, kh: 3, kw: 3, pads: [1, 1, 1, 1], groups: 13),
    ConvCase(c: 16, h: 7, w: 7, m: 16, kh: 5, kw: 5, pads: [2, 2, 2, 2], groups: 16),
    ConvCase(c: 9, h: 8, w: 7, m: 9, kh: 5, kw: 5, stride: (2, 2), pads: [2, 1, 2, 2], groups: 9),
    ConvCase(c: 11, h: 6, w: 6, m: 11, kh: 3, kw: 3, pads: [2, 2, 2, 2], dilation: (2, 2), groups: 11),
    ConvCase(c: 10, h: 5, w: 9, m: 10, kh: 3, kw: 3, stride: (1, 2), groups: 10),
]

@Test(arguments: dwCases)
func dwconvMatchesReference(_ t: ConvCase) {
    let g = t.geometry
    #expect(g.isValid)
    var rng = SplitMix64(seed: UInt64(t.c * 31 + t.h * 7 + t.kh + t.stride.0))
    let input = rng.floats(g.inChannels * g.inPlane)
    let weights = rng.floats(g.outChannels * g.kernelArea)
    let bias = rng.floats(g.outChannels)
    let workspace = allocateWorkspace(f32DWConvWorkspaceBytes(g))
    defer { workspace.deallocate() }
    for bounds in testActivations {
        var expected = [Float](repeating: .nan, count: g.outChannels * g.outPlane)
        var oracle = expected, actual = expected
        f32DWConvReference(g, input: input, weights: weights, bias: bias, bounds: bounds, output: &expected,
                           outputChannels: 0..<g.outChannels)
        f32ConvDenseReference(g, input: input, weights: weights, bias: bias, bounds: bounds, output: &oracle,
                              outputChannels: 0..<g.outChannels)
        expectClose(expected, oracle, "dwconv reference vs conv reference \(t.testDescription)")
        let split = g.outChannels / 2
        for range in [0..<split, split..<g.outChannels] {
            f32DWConv(g, input: input, weights: weights, bias: bias, bounds: bounds, output: &actual,
                      outputChannels: range, workspace: workspace)
        }
        expectClose(actual, expected, "dwconv \(t.testDescription)")
    }
}
