// f32-conv-dense vs its reference twin over 1×1/3×3/5×5/7×7 kernels, strides, asymmetric pads,
// dilations and groups, every activation, with the output channels split in two calls.
import SpruceRuntime
import Testing

@Test(arguments: convCases)
func convDenseMatchesReference(_ t: ConvCase) {
    let g = t.geometry
    #expect(g.isValid)
    var rng = SplitMix64(seed: UInt64(t.c * 7919 + t.h * 31 + t.kh))
    let input = rng.floats(g.inChannels * g.inPlane)
    let weights = rng.floats(g.outChannels * g.reduction)
    let bias = rng.floats(g.outChannels)
    var packed = [Float](repeating: .nan, count: f32ConvDensePackedWeightsCount(g))
    f32ConvDensePackWeights(g, weights: weights, packed: &packed)
    let workspace = allocateWorkspace(f32ConvDenseWorkspaceBytes(g))
    defer { workspace.deallocate() }
    for bounds in testActivations {
        var expected = [Float](repeating: .nan, count: g.outChannels * g.outPlane)
        var actual = expected
        f32ConvDenseReference(g, input: input, weights: weights, bias: bias, bounds: bounds,
                              output: &expected, outputChannels: 0..<g.outChannels)
        let split = g.outChannels / 2 + 1
        for range in [0..<split, split..<g.outChannels] {
            f32ConvDense(g, input: input, packedWeights: packed, bias: bias, bounds: bounds,
                         output: &actual, outputChannels: range, workspace: workspace)
        }
        expectClose(actual, expected, "conv \(t.testDescription)")
    }
}

@Test func convDenseWithoutBias() {
    let g = ConvCase(c: 5, h: 9, w: 9, m: 7, kh: 3, kw: 3, stride: (2, 2), pads: [1, 1, 1, 1]).geometry
    var rng = SplitMix64(seed: 99)
    let input = rng.floats(g.inChannels * g.inPlane), weights = rng.floats(g.outChannels * g.reduction)
    var packed = [Float](repeating: 0, count: f32ConvDensePackedWeightsCount(g))
    f32ConvDensePackWeights(g, weights: weights, packed: &packed)
    let workspace = allocateWorkspace(f32ConvDenseWorkspaceBytes(g))
    defer { workspace.deallocate() }
    var expected = [Float](repeating: .nan, count: g.outChannels * g.outPlane)
    var actual = expected
    f32ConvDenseReference(g, input: input, weights: weights, bias: nil, bounds: .identity, output: &expected,
                          outputChannels: 0..<g.outChannels)
    f32ConvDense(g, input: input, packedWeights: packed, bias: nil, bounds: .identity, output: &actual,
                 outputChannels: 0..<g.outChannels, workspace: workspace)
    expectClose(actual, expected, "conv without bias")
}

/// The reference itself against a hand-computed 3×3 convolution with padding.
@Test func convDenseReferenceMatchesHandComputedValues() {
    let g = ConvGeometry(inChannels: 1, inHeight: 3, inWidth: 3, outChannels: 1, kernelHeight: 3, kernelWidth: 3,
                         pads: [1, 1, 1, 1])
    let input: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    let weights = [Float](repeating: 1, count: 9)
    var out = [Float](repeating: 0, count: 9)
    f32ConvDenseReference(g, input: input, weights: weights, bias: [0.5], bounds: .identity, output: &out,
                          outputChannels: 0..<1)
    // Sums of each 3×3 neighbourhood (zero padded), plus the bias.
    #expect(out == [12, 21, 16, 27, 45, 33, 24, 39, 28].map { $0 + 0.5 })
}
