// Reference convolution and batch normalization against hand-computed arrays and against
// independent formulas (1×1 conv as a matmul over channels, depthwise as per-channel convs,
// and a naive multi-index convolution written here with explicit bounds checks).

@testable import SpruceCore
import Testing

/// Naive convolution with multi-index subscripts: the obviously correct twin of the kernel.
func naiveConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, strides: [Int], pads: [Int], dilations: [Int],
               groups: Int) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (m, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let oh = (h + pads[0] + pads[2] - (kh - 1) * dilations[0] - 1) / strides[0] + 1
    let ow = (wd + pads[1] + pads[3] - (kw - 1) * dilations[1] - 1) / strides[1] + 1
    var out = Tensor(shape: [n, m, oh, ow], repeating: 0)
    _ = c
    for b0 in 0..<n {
        for oc in 0..<m {
            let g = oc / (m / groups)
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var sum = b?.data[oc] ?? 0
                    for ci in 0..<cg {
                        for ki in 0..<kh {
                            for kj in 0..<kw {
                                let iy = oy * strides[0] - pads[0] + ki * dilations[0]
                                let ix = ox * strides[1] - pads[1] + kj * dilations[1]
                                if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                                sum += x[[b0, g * cg + ci, iy, ix]] * w[[oc, ci, ki, kj]]
                            }
                        }
                    }
                    out[[b0, oc, oy, ox]] = sum
                }
            }
        }
    }
    return out
}

/// Runs a conv with weight and optional bias as initializers.
func runConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ a: ConvAttributes) throws -> Tensor {
    var inits = ["w": w]
    var names = ["x", "w"]
    if let b { inits["b"] = b; names.append("b") }
    let graph = singleNodeGraph(.conv(a), inputs: [x.shape, w.shape] + (b.map { [$0.shape] } ?? []),
                                initializers: inits, inputNames: names)
    return try #require(try ReferenceExecutor(graph: graph).run(["x": x])["y"])
}

@Suite struct ConvTests {
    @Test func threeByThreeOnesWithPadOne() throws {
        let y = try runConv(iota([1, 1, 3, 3]), Tensor(shape: [1, 1, 3, 3], repeating: 1), nil,
                            ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1]))
        expectClose(y, [12, 21, 16, 27, 45, 33, 24, 39, 28], shape: [1, 1, 3, 3])
    }

    /// out = x[2oy, 2ox-1] - x[2oy+1, 2ox], with padding on the left and bottom only.
    static let strideAsymmetricWeight = Tensor(shape: [1, 1, 2, 2], data: [1, 0, 0, -1])

    @Test func strideTwoAsymmetricPads() throws {
        let a = ConvAttributes(kernelShape: [2, 2], strides: [2, 2], pads: [0, 1, 1, 0])
        let y = try runConv(iota([1, 1, 4, 4]), Self.strideAsymmetricWeight, nil, a)
        expectClose(y, [-5, -5, -13, -5], shape: [1, 1, 2, 2])
    }

    @Test(arguments: [
        (FusedActivation.relu, [Float](repeating: 0, count: 4)),
        (FusedActivation.clip(min: -6, max: -5.5), [-5.5, -5.5, -6, -5.5]),
        (FusedActivation.none, [-5, -5, -13, -5]),
    ])
    func fusedActivation(activation: FusedActivation, expected: [Float]) throws {
        let a = ConvAttributes(kernelShape: [2, 2], strides: [2, 2], pads: [0, 1, 1, 0], activation: activation)
        let y = try runConv(iota([1, 1, 4, 4]), Self.strideAsymmetricWeight, nil, a)
        expectClose(y, expected, shape: [1, 1, 2, 2])
    }

    @Test func dilationTwo() throws {
        // out[i, j] = x[i, j] + x[i, j+2] + x[i+2, j] + x[i+2, j+2] with x = 5i + j + 1.
        let y = try runConv(iota([1, 1, 5, 5]), Tensor(shape: [1, 1, 2, 2], repeating: 1), nil,
                            ConvAttributes(kernelShape: [2, 2], dilations: [2, 2]))
        expectClose(y, [28, 32, 36, 48, 52, 56, 68, 72, 76], shape: [1, 1, 3, 3])
    }

    @Test func biasIsAddedPerOutputChannel() throws {
        let w = Tensor(shape: [2, 1, 1, 1], data: [1, 2])
        let y = try runConv(iota([1, 1, 1, 2]), w, Tensor(shape: [2], data: [10, -10]),
                            ConvAttributes(kernelShape: [1, 1]))
        expectClose(y, [11, 12, -8, -6], shape: [1, 2, 1, 2])
    }

    @Test(arguments: [[1, 3, 4, 4, 5], [2, 8, 3, 5, 2], [3, 1, 1, 1, 7]])
    func pointwiseIsMatmulOverChannels(dims: [Int]) throws {
        let (n, c, h, w, m) = (dims[0], dims[1], dims[2], dims[3], dims[4])
        var rng = SplitMix64(seed: 11)
        let x = rng.tensor([n, c, h, w]), wt = rng.tensor([m, c, 1, 1]), b = rng.tensor([m])
        let y = try runConv(x, wt, b, ConvAttributes(kernelShape: [1, 1]))
        var expected = [Float](repeating: 0, count: n * m * h * w)
        for b0 in 0..<n {
            for p in 0..<(h * w) {
                for oc in 0..<m {
                    var s = b.data[oc]
                    for ic in 0..<c { s += wt.data[oc * c + ic] * x.data[(b0 * c + ic) * h * w + p] }
                    expected[(b0 * m + oc) * h * w + p] = s
                }
            }
        }
        expectClose(y, expected, shape: [n, m, h, w], tolerance: 1e-5)
    }

    @Test(arguments: [(1, 1, [0, 0, 0, 0]), (2, 1, [1, 1, 1, 1]), (1, 2, [2, 0, 1, 2]), (2, 2, [1, 2, 0, 1])])
    func depthwiseIsPerChannelConv(stride: Int, dilation: Int, pads: [Int]) throws {
        var rng = SplitMix64(seed: 5)
        let (n, c, h, w) = (2, 3, 7, 6)
        let x = rng.tensor([n, c, h, w]), wt = rng.tensor([c, 1, 3, 3]), b = rng.tensor([c])
        let a = ConvAttributes(kernelShape: [3, 3], strides: [stride, stride], pads: pads,
                               dilations: [dilation, dilation], groups: c)
        let y = try runConv(x, wt, b, a)
        var single = a
        single.groups = 1
        for b0 in 0..<n {
            for ch in 0..<c {
                let plane = Tensor(shape: [1, 1, h, w], data: Array(x.data[((b0 * c + ch) * h * w)..<((b0 * c + ch + 1) * h * w)]))
                let k = Tensor(shape: [1, 1, 3, 3], data: Array(wt.data[(ch * 9)..<(ch * 9 + 9)]))
                let one = try runConv(plane, k, Tensor(shape: [1], data: [b.data[ch]]), single)
                let (oh, ow) = (y.shape[2], y.shape[3])
                let got = Array(y.data[((b0 * c + ch) * oh * ow)..<((b0 * c + ch + 1) * oh * ow)])
                #expect(one.shape == [1, 1, oh, ow])
                #expect(maxAbsDiff(got, one.data) < 1e-5)
            }
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var n, c, m, h, w, kh, kw, groups: Int
        var strides, dilations, pads: [Int]
        var testDescription: String { "n\(n) c\(c) m\(m) \(h)x\(w) k\(kh)x\(kw) g\(groups) s\(strides) d\(dilations) p\(pads)" }
    }

    @Test(arguments: [
        Case(n: 1, c: 2, m: 3, h: 5, w: 5, kh: 3, kw: 3, groups: 1, strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1]),
        Case(n: 2, c: 4, m: 6, h: 8, w: 7, kh: 3, kw: 2, groups: 2, strides: [2, 1], dilations: [1, 2], pads: [0, 2, 1, 0]),
        Case(n: 3, c: 6, m: 6, h: 9, w: 9, kh: 3, kw: 3, groups: 6, strides: [2, 2], dilations: [2, 2], pads: [2, 1, 0, 2]),
        Case(n: 1, c: 3, m: 4, h: 6, w: 10, kh: 1, kw: 5, groups: 1, strides: [3, 2], dilations: [1, 1], pads: [0, 0, 2, 3]),
        Case(n: 2, c: 4, m: 2, h: 4, w: 4, kh: 4, kw: 4, groups: 2, strides: [1, 1], dilations: [1, 1], pads: [3, 3, 3, 3]),
    ])
    func matchesNaiveConvolution(_ k: Case) throws {
        var rng = SplitMix64(seed: UInt64(k.h * 100 + k.w))
        let x = rng.tensor([k.n, k.c, k.h, k.w])
        let w = rng.tensor([k.m, k.c / k.groups, k.kh, k.kw])
        let b = rng.tensor([k.m])
        let a = ConvAttributes(kernelShape: [k.kh, k.kw], strides: k.strides, pads: k.pads,
                               dilations: k.dilations, groups: k.groups)
        let y = try runConv(x, w, b, a)
        let expected = naiveConv(x, w, b, strides: k.strides, pads: k.pads, dilations: k.dilations, groups: k.groups)
        expectClose(y, expected.data, shape: expected.shape, tolerance: 1e-5)
    }

    @Test(arguments: [(AutoPad.sameUpper, [0, 0, 1, 1]), (AutoPad.sameLower, [1, 1, 0, 0])])
    func autoPadMatchesExplicitPads(autoPad: AutoPad, pads: [Int]) throws {
        // 6 wide, kernel 3, stride 2: out 3, total pad (3-1)*2 + 3 - 6 = 1.
        var rng = SplitMix64(seed: 3)
        let x = rng.tensor([1, 2, 6, 6]), w = rng.tensor([2, 2, 3, 3])
        let auto = try runConv(x, w, nil, ConvAttributes(kernelShape: [3, 3], strides: [2, 2], autoPad: autoPad))
        let explicit = naiveConv(x, w, nil, strides: [2, 2], pads: pads, dilations: [1, 1], groups: 1)
        expectClose(auto, explicit.data, shape: [1, 2, 3, 3])
    }

    @Test func batchIsIndependentPerSample() throws {
        var rng = SplitMix64(seed: 9)
        let x = rng.tensor([3, 2, 5, 5]), w = rng.tensor([4, 2, 3, 3])
        let a = ConvAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])
        let all = try runConv(x, w, nil, a)
        let per = all.count / 3
        for i in 0..<3 {
            let one = try runConv(Tensor(shape: [1, 2, 5, 5], data: Array(x.data[(i * 50)..<((i + 1) * 50)])), w, nil, a)
            #expect(maxAbsDiff(one.data, Array(all.data[(i * per)..<((i + 1) * per)])) == 0)
        }
    }

    @Test func batchNormalizationFormula() throws {
        // Channel 0: (x - 1) / sqrt(3 + 1) * 2 + 0.5; channel 1: (x - 0) / sqrt(0 + 1) * -1 + 0.
        let x = Tensor(shape: [1, 2, 1, 2], data: [1, 5, 2, -3])
        let y = try runOp(.batchNormalization(epsilon: 1), [
            x, Tensor(shape: [2], data: [2, -1]), Tensor(shape: [2], data: [0.5, 0]),
            Tensor(shape: [2], data: [1, 0]), Tensor(shape: [2], data: [3, 0]),
        ])
        expectClose(y, [0.5, 4.5, -2, 3], shape: [1, 2, 1, 2])
    }
}
