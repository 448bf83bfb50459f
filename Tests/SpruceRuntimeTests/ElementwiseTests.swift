// f32-add and f32-mul (same shape, per-channel broadcast), f32-concat, f32-clip/relu, f32-sigmoid/swish,
// f32-hardsigmoid/hardswish, f32-layernorm, f32-erf/gelu, f32-binary-scalar, f32-slice, f32-pad
// (reflect, edge), f32-softmax and f32-gemm-dense (f32 and qc8w) vs their reference twins; sizes
// around the SIMD width.
import SpruceCore
import SpruceRuntime
import Testing

let lengths = [1, 7, 8, 9, 31, 100]

@Test(arguments: lengths)
func addMatchesReference(_ n: Int) {
    var rng = SplitMix64(seed: UInt64(n))
    let a = rng.floats(3 * n), b = rng.floats(3 * n), perChannel = rng.floats(3)
    for bounds in testActivations {
        var expected = [Float](repeating: .nan, count: 3 * n), actual = expected
        f32AddReference(count: 3 * n, a: a, b: b, bounds: bounds, y: &expected)
        f32Add(count: 3 * n, a: a, b: b, bounds: bounds, y: &actual)
        expectClose(actual, expected, "add")
        #expect(bounds != .identity || expected[0] == a[0] + b[0])
        f32AddChannelBroadcastReference(channels: 0..<3, plane: n, a: a, b: perChannel, bounds: bounds, y: &expected)
        f32AddChannelBroadcast(channels: 0..<3, plane: n, a: a, b: perChannel, bounds: bounds, y: &actual)
        expectClose(actual, expected, "add broadcast")
    }
}

@Test(arguments: lengths)
func mulMatchesReference(_ n: Int) {
    var rng = SplitMix64(seed: UInt64(n) + 3)
    let a = rng.floats(3 * n), b = rng.floats(3 * n), perChannel = rng.floats(3)
    var expected = [Float](repeating: .nan, count: 3 * n), actual = expected
    f32MulReference(count: 3 * n, a: a, b: b, y: &expected)
    f32Mul(count: 3 * n, a: a, b: b, y: &actual)
    #expect(actual == expected)
    f32MulChannelBroadcastReference(channels: 0..<3, plane: n, a: a, b: perChannel, y: &expected)
    f32MulChannelBroadcast(channels: 0..<3, plane: n, a: a, b: perChannel, y: &actual)
    #expect(actual == expected)
}

@Test(arguments: lengths)
func concatMatchesReference(_ plane: Int) {
    var rng = SplitMix64(seed: UInt64(plane) + 5)
    let first = rng.floats(2 * plane), second = rng.floats(3 * plane)
    var expected = [Float](repeating: .nan, count: 5 * plane), actual = expected
    f32ConcatReference(channels: 2, plane: plane, input: first, output: &expected, channelOffset: 0)
    f32ConcatReference(channels: 3, plane: plane, input: second, output: &expected, channelOffset: 2)
    f32Concat(channels: 2, plane: plane, input: first, output: &actual, channelOffset: 0)
    f32Concat(channels: 3, plane: plane, input: second, output: &actual, channelOffset: 2)
    #expect(actual == expected)
    #expect(Array(expected[0..<(2 * plane)]) == first)
}

@Test(arguments: lengths)
func clipAndReLUMatchReference(_ n: Int) {
    var rng = SplitMix64(seed: UInt64(n) + 11)
    let x = rng.floats(n).map { $0 * 10 }
    let relu6 = ActivationBounds(.clip(min: 0, max: 6))
    var expected = [Float](repeating: .nan, count: n), actual = expected
    f32ClipReference(count: n, x: x, bounds: relu6, y: &expected)
    f32Clip(count: n, x: x, bounds: relu6, y: &actual)
    #expect(actual == expected)
    #expect(expected.allSatisfy { $0 >= 0 && $0 <= 6 })
    f32ClipReference(count: n, x: x, bounds: ActivationBounds(.relu), y: &expected)
    f32ReLU(count: n, x: x, y: &actual)
    #expect(actual == expected)
}

@Test(arguments: lengths)
func sigmoidMatchesReference(_ n: Int) {
    var rng = SplitMix64(seed: UInt64(n) + 21)
    var x = rng.floats(n).map { $0 * 30 }
    x[0] = -200  // must not overflow to NaN
    var expected = [Float](repeating: .nan, count: n), actual = expected
    f32SigmoidReference(count: n, x: x, y: &expected)
    f32Sigmoid(count: n, x: x, y: &actual)
    expectClose(actual, expected, tolerance: 1e-6, "sigmoid")
    #expect(actual[0] >= 0 && actual[0] < 1e-30)
}

/// Swish over the range where σ saturates (its output then is x itself or 0), and the exp8
/// polynomial's worst corners (|x| near multiples of ln 2 / 2).
@Test(arguments: lengths)
func swishMatchesReference(_ n: Int) {
    var rng = SplitMix64(seed: UInt64(n) + 22)
    var x = rng.floats(n).map { $0 * 100 }
    x[0] = -200
    if n > 2 { x[1] = 0.3466; x[2] = 89.5 }
    var expected = [Float](repeating: .nan, count: n), actual = expected
    f32SwishReference(count: n, x: x, y: &expected)
    f32Swish(count: n, x: x, y: &actual)
    expectClose(actual, expected, tolerance: 1e-6, "swish")
    #expect(actual[0] == 0 || abs(actual[0]) < 1e-30)
}

@Test(arguments: lengths)
func hardActivationsMatchReference(_ n: Int) {
    var rng = SplitMix64(seed: UInt64(n) + 22)
    let x = rng.floats(n).map { $0 * 6 }  // both kinks of each
    var expected = [Float](repeating: .nan, count: n), actual = expected
    f32HardSwishReference(count: n, x: x, y: &expected)
    f32HardSwish(count: n, x: x, y: &actual)
    expectClose(actual, expected, tolerance: 1e-6, "hardswish")
    f32HardSigmoidReference(count: n, alpha: 0.2, beta: 0.5, x: x, y: &expected)
    f32HardSigmoid(count: n, alpha: 0.2, beta: 0.5, x: x, y: &actual)
    expectClose(actual, expected, tolerance: 1e-6, "hardsigmoid")
}

/// Rows of random widths around the SIMD width and ConvNeXt's channel counts; offsets and spreads
/// per row so both statistics matter; a split row range writes only its rows.
@Test(arguments: 0..<24)
func layerNormMatchesReference(_ seed: Int) {
    var rng = SplitMix64(seed: UInt64(seed) + 41)
    let widths = [1, 2, 7, 8, 9, 15, 16, 17, 31, 96, 100, 384]
    let width = widths[seed % widths.count], rows = 1 + Int(rng.next() % 9)
    var x = rng.floats(rows * width)
    for r in 0..<rows {
        let offset = rng.signed() * 4, spread = 0.1 + abs(rng.signed()) * 3
        for j in 0..<width { x[r * width + j] = x[r * width + j] * spread + offset }
    }
    let scale = rng.floats(width), bias = rng.floats(width)
    var expected = [Float](repeating: .nan, count: rows * width), actual = expected
    f32LayerNormReference(rows: 0..<rows, width: width, epsilon: 1e-6, scale: scale, bias: bias, x: x, y: &expected)
    f32LayerNorm(rows: 0..<rows, width: width, epsilon: 1e-6, scale: scale, bias: bias, x: x, y: &actual)
    expectClose(actual, expected, tolerance: 2e-5, "layernorm \(rows)x\(width)")
    var part = [Float](repeating: .nan, count: rows * width)
    f32LayerNorm(rows: (rows / 2)..<rows, width: width, epsilon: 1e-6, scale: scale, bias: bias, x: x, y: &part)
    let untouched = part[..<(rows / 2 * width)].allSatisfy { $0.isNaN }
    #expect(untouched, "rows outside the range were written")
    #expect(Array(part[(rows / 2 * width)...]) == Array(actual[(rows / 2 * width)...]))
}

@Test(arguments: lengths)
func erfAndGeluMatchReference(_ n: Int) {
    var rng = SplitMix64(seed: UInt64(n) + 51)
    var x = rng.floats(n).map { $0 * 5 }  // past ±3.9, where erf is ±1 in float32
    x[0] = n == 1 ? 0 : -40
    var expected = [Float](repeating: .nan, count: n), actual = expected
    f32ErfReference(count: n, x: x, y: &expected)
    f32Erf(count: n, x: x, y: &actual)
    for i in 0..<n { #expect(abs(actual[i] - expected[i]) <= 4e-7, "erf(\(x[i])): \(actual[i]), expected \(expected[i])") }
    #expect(actual.allSatisfy { abs($0) <= 1 })
    for tanh in [false, true] {
        f32GeluReference(count: n, tanhApproximation: tanh, x: x, y: &expected)
        f32Gelu(count: n, tanhApproximation: tanh, x: x, y: &actual)
        expectClose(actual, expected, tolerance: 1e-6, "gelu tanh \(tanh)")
    }
}

/// A dense sweep of erf over [−5, 5] in steps of 2⁻¹⁰: the fitted approximation's error bound.
@Test func erfErrorBound() {
    let x = (-5120...5120).map { Float($0) / 1024 }
    var expected = [Float](repeating: .nan, count: x.count), actual = expected
    f32ErfReference(count: x.count, x: x, y: &expected)
    f32Erf(count: x.count, x: x, y: &actual)
    let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? .infinity
    #expect(worst <= 4e-7, "worst erf error \(worst)")
}

@Test(arguments: lengths)
func binaryScalarMatchesReference(_ n: Int) {
    var rng = SplitMix64(seed: UInt64(n) + 61)
    let x = rng.floats(n).map { $0 + 2 }, scalar: Float = 1.4142135
    for operation in [F32Arithmetic.add, .sub, .mul, .div] {
        for first in [false, true] {
            var expected = [Float](repeating: .nan, count: n), actual = expected
            f32BinaryScalarReference(count: n, operation: operation, x: x, scalar: scalar, scalarFirst: first, y: &expected)
            f32BinaryScalar(count: n, operation: operation, x: x, scalar: scalar, scalarFirst: first, y: &actual)
            #expect(actual == expected, "\(operation) scalar first \(first)")
        }
    }
}

/// Random shapes of rank 0 to 5 and random crops of them (any subset of axes, negative and
/// out-of-range indices, steps of either sign up to 3), plus ShuffleNet's channel halves.
@Test(arguments: 0..<40)
func sliceMatchesReference(_ seed: Int) throws {
    var rng = SplitMix64(seed: UInt64(seed) + 31)
    func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(rng.next() % UInt64(range.count)) }
    let rank = seed == 0 ? 4 : int(0...5)
    let shape = seed == 0 ? [1, 116, 28, 28] : (0..<rank).map { _ in int(0...6) }
    var starts: [Int] = [], ends: [Int] = [], axes: [Int] = [], steps: [Int] = []
    if seed == 0 {
        (starts, ends, axes, steps) = ([58], [Int.max], [1], [1])
    } else {
        for axis in 0..<rank where rng.next() % 3 != 0 {
            let dim = shape[axis]
            axes.append(rng.next() % 2 == 0 ? axis : axis - rank)
            starts.append(int(-dim - 2...dim + 2))
            ends.append(rng.next() % 5 == 0 ? (rng.next() % 2 == 0 ? Int.max : Int.min) : int(-dim - 2...dim + 2))
            steps.append([-3, -2, -1, 1, 1, 2, 3][int(0...6)])
        }
    }
    let node = Node(name: "slice", op: .slice(starts: starts, ends: ends, axes: axes, steps: steps), inputs: ["x"], outputs: ["y"])
    let g = try Graph.sliceGeometry(node, starts: starts, ends: ends, axes: axes, steps: steps, input: shape)
    let x = rng.floats(shape.reduce(1, *))
    let count = g.output.reduce(1, *)
    var expected = [Float](repeating: .nan, count: count + 1), actual = expected
    f32SliceReference(g, x: x, y: &expected)
    let layout = F32SliceLayout(g)
    #expect(layout.count == count)
    f32Slice(layout, x: x, y: &actual)
    #expect(Array(actual[0..<count]) == Array(expected[0..<count]),
            "shape \(shape), starts \(starts), ends \(ends), axes \(axes), steps \(steps)")
    #expect(actual[count].isNaN, "wrote past the output")
    if seed == 0 {
        #expect(layout.counts.isEmpty && layout.step == 1, "a channel half of one sample is one run: \(layout)")
        #expect(Array(actual[0..<count]) == Array(x[(58 * 784)...]))
    }
}

/// Random shapes of rank 0 to 4 padded in reflect or edge mode by random pads (negative ones crop,
/// every reflect pad shorter than its cropped axis), plus a 3×3 reflect border of a 32×32 map.
@Test(arguments: 0..<40)
func padMatchesReference(_ seed: Int) throws {
    var rng = SplitMix64(seed: UInt64(seed) + 77)
    func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(rng.next() % UInt64(range.count)) }
    let mode: PadMode = seed % 2 == 0 ? .reflect : .edge
    let rank = seed == 0 ? 4 : int(0...4)
    let shape = seed == 0 ? [1, 3, 32, 32] : (0..<rank).map { _ in int(1...7) }
    var pads = [Int](repeating: 0, count: 2 * rank)
    if seed == 0 {
        pads = [0, 0, 3, 3, 0, 0, 3, 3]
    } else {
        for axis in 0..<rank where rng.next() % 4 != 0 {
            let cropBegin = rng.next() % 4 == 0 ? int(0...(shape[axis] - 1) / 2) : 0
            let cropEnd = rng.next() % 4 == 0 ? int(0...(shape[axis] - 1) / 2) : 0
            let kept = shape[axis] - cropBegin - cropEnd
            let most = mode == .reflect ? kept - 1 : kept + 3
            pads[axis] = cropBegin > 0 ? -cropBegin : int(0...most)
            pads[axis + rank] = cropEnd > 0 ? -cropEnd : int(0...most)
        }
    }
    let node = Node(name: "pad", op: .pad(pads: pads, value: 0, mode: mode), inputs: ["x"], outputs: ["y"])
    let g = try Graph.padGeometry(node, pads: pads, mode: mode, input: shape)
    let x = rng.floats(shape.reduce(1, *))
    let count = g.output.reduce(1, *)
    var expected = [Float](repeating: .nan, count: count + 1), actual = expected
    f32PadReference(mode: mode, input: shape, pads: pads, x: x, y: &expected)
    let layout = F32PadLayout(g)
    #expect(layout.count == count)
    f32Pad(layout, x: x, y: &actual)
    #expect(Array(actual[0..<count]) == Array(expected[0..<count]), "\(mode) shape \(shape), pads \(pads)")
    #expect(actual[count].isNaN, "wrote past the output")
    if seed == 0 {
        #expect(layout.copied == 3..<35, "each row's middle is one copy: \(layout.copied)")
    }
}

@Test(arguments: [(1, 1, 1), (1, 10, 1), (2, 7, 3), (1, 1000, 1), (3, 5, 4)])
func softmaxMatchesReference(_ shape: (Int, Int, Int)) {
    let (outer, axis, inner) = shape
    var rng = SplitMix64(seed: UInt64(outer * 100 + axis * 10 + inner))
    let x = rng.floats(outer * axis * inner).map { $0 * 20 }
    var expected = [Float](repeating: .nan, count: x.count), actual = expected
    f32SoftmaxReference(outer: outer, axis: axis, inner: inner, x: x, y: &expected)
    f32Softmax(outer: outer, axis: axis, inner: inner, x: x, y: &actual)
    expectClose(actual, expected, tolerance: 1e-5, "softmax")
    var total: Float = 0
    for a in 0..<axis { total += actual[a * inner] }
    #expect(abs(total - 1) < 1e-5)
}

@Test(arguments: [(1, 1), (10, 7), (2, 16), (5, 1280), (3, 2049)])
func gemmDenseMatchesReference(_ shape: (Int, Int)) {
    let (n, k) = shape
    var rng = SplitMix64(seed: UInt64(n * 10_000 + k))
    let w = rng.floats(n * k), x = rng.floats(k), bias = rng.floats(n)
    var expected = [Float](repeating: .nan, count: n), actual = expected
    f32GemmDenseReference(k: k, weights: w, x: x, bias: bias, bounds: .identity, y: &expected, outputs: 0..<n)
    f32GemmDense(k: k, weights: w, x: x, bias: bias, bounds: .identity, y: &actual, outputs: 0..<n)
    expectClose(actual, expected, "gemm dense")
    let (scales, dequantized, q) = quantizeRows(dense: w, rows: n, cols: k)
    var oracle = expected
    f32GemmDenseReference(k: k, weights: dequantized, x: x, bias: bias, bounds: .identity, y: &oracle, outputs: 0..<n)
    f32QC8WGemmDenseReference(k: k, weights: q, scales: scales, x: x, bias: bias, bounds: .identity, y: &expected,
                              outputs: 0..<n)
    f32QC8WGemmDense(k: k, weights: q, scales: scales, x: x, bias: bias, bounds: .identity, y: &actual, outputs: 0..<n)
    expectClose(expected, oracle, "qc8w gemm dense reference vs dequantized")
    expectClose(actual, expected, "qc8w gemm dense")
}
