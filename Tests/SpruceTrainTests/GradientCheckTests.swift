// Finite-difference checks of every operator's backward in the training executor: a one-node
// graph, a fixed random projection R of its output (L = Σ R·y, summed in Double), central
// differences on every input and parameter element compared with the analytic gradient.
// Inputs are drawn away from kinks (ReLU, Clip, MaxPool ties) so the check is meaningful;
// a sign or index error moves a gradient by O(1), far beyond the tolerances used here.

import Testing
@testable import SpruceCore
@testable import SpruceTrain

/// SplitMix64 for the training tests: the same numbers on every run.
struct TrainTestRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
    /// A tensor of uniform values.
    mutating func tensor(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.elementCount).map { _ in uniform(lo, hi) })
    }
    /// Values with |v| in [0.2, 1] (away from ReLU's kink at 0).
    mutating func awayFromZero(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.elementCount).map { _ in
            let m = uniform(0.2, 1)
            return next() & 1 == 0 ? m : -m
        })
    }
    /// A shuffled ladder of distinct values spaced 0.05 apart (no max-pool ties within eps).
    mutating func distinct(_ shape: [Int]) -> Tensor {
        let n = shape.elementCount
        var values = (0..<n).map { Float($0) * 0.05 - Float(n) * 0.025 }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            values.swapAt(i, j)
        }
        return Tensor(shape: shape, data: values)
    }
}

/// One operator under test: the node, its runtime inputs and its initializers.
struct GradientCase: CustomStringConvertible, Sendable {
    var label: String
    var op: Op
    /// Runtime inputs (gradients checked w.r.t. all of them), in node input order first.
    var inputs: [(String, Tensor)]
    /// Initializers (trainable parameters unless BN statistics).
    var parameters: [(String, Tensor)]
    /// Node inputs in ONNX order ("" for an omitted optional input).
    var nodeInputs: [String]
    var mode: ExecutionMode = .inference
    var eps: Float = 1e-2
    var description: String { label }

    var graph: Graph {
        var g = Graph()
        g.nodes = [Node(name: label, op: op, inputs: nodeInputs, outputs: ["y"])]
        for (n, t) in parameters { g.initializers[n] = t }
        g.inputs = inputs.map { ValueInfo(name: $0.0, shape: $0.1.shape.map { Optional($0) }) }
        g.outputs = [ValueInfo(name: "y", shape: [])]
        return g
    }
}

/// Checks a graph's gradients by central differences; returns the worst violation ratio
/// (|numeric − analytic| / tolerance, ≤ 1 passes) and the number of elements checked.
func finiteDifferenceCheck(graph: Graph, inputs: [String: Tensor], output: String = "y", mode: ExecutionMode,
                           eps: Float, seed: UInt64 = 7, options: TrainingOptions = TrainingOptions(threads: 2),
                           corrupt: (inout Gradients) -> Void = { _ in })
    throws -> (worst: Double, checked: Int, detail: String) {
    let executor = try TrainingExecutor(graph: graph, options: options, seed: 99)
    let startGenerator = executor.generator
    var rng = TrainTestRNG(seed: seed)
    let first = try executor.forward(inputs, mode: mode)
    guard let y = first.value(output) else { return (.infinity, 0, "no output") }
    let projection = rng.tensor(y.shape)
    executor.generator = startGenerator
    let pass = try executor.forward(inputs, mode: mode)
    var grads = try executor.backward(pass, seeds: [output: projection], inputGradients: Set(inputs.keys))
    corrupt(&grads)

    func loss(_ feed: [String: Tensor]) throws -> Double {
        executor.generator = startGenerator
        let out = try executor.forward(feed, mode: mode).value(output)?.data ?? []
        var total = 0.0
        for (a, b) in zip(out, projection.data) { total += Double(a) * Double(b) }
        return total
    }

    var worst = 0.0, checked = 0, detail = ""
    func compare(_ what: String, _ i: Int, numeric: Double, analytic: Float) {
        // Observed errors are below a fifth of this; a wrong sign or index is off by O(1).
        let tolerance = 1e-3 + 5e-3 * abs(Double(analytic))
        let ratio = abs(numeric - Double(analytic)) / tolerance
        checked += 1
        if ratio > worst {
            worst = ratio
            detail = "\(what)[\(i)]: numeric \(numeric), analytic \(analytic)"
        }
    }
    for (name, tensor) in inputs.sorted(by: { $0.key < $1.key }) {
        guard let g = grads.inputs[name] else { return (.infinity, checked, "no gradient for input \(name)") }
        for i in 0..<tensor.count {
            var feed = inputs
            var t = tensor
            t.data[i] = tensor.data[i] + eps
            feed[name] = t
            let plus = try loss(feed)
            t.data[i] = tensor.data[i] - eps
            feed[name] = t
            let minus = try loss(feed)
            compare(name, i, numeric: (plus - minus) / (2 * Double(eps)), analytic: g.data[i])
        }
    }
    for (index, name) in executor.parameterNames.enumerated() where executor.trainable[index] {
        guard let original = executor.parameter(name) else { continue }
        guard let g = grads.parameters[name] else { return (.infinity, checked, "no gradient for parameter \(name)") }
        for i in 0..<original.count {
            var t = original
            t.data[i] = original.data[i] + eps
            try executor.setParameter(name, t)
            let plus = try loss(inputs)
            t.data[i] = original.data[i] - eps
            try executor.setParameter(name, t)
            let minus = try loss(inputs)
            try executor.setParameter(name, original)
            compare(name, i, numeric: (plus - minus) / (2 * Double(eps)), analytic: g.data[i])
        }
    }
    return (worst, checked, detail)
}

/// Every operator and the geometry variants (strides, asymmetric pads, groups, depthwise).
func gradientCases() -> [GradientCase] {
    var r = TrainTestRNG(seed: 2024)
    var cases: [GradientCase] = []
    func conv(_ label: String, x: [Int], m: Int, k: [Int], strides: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0],
              groups: Int = 1, dilations: [Int] = [1, 1], bias: Bool = true, autoPad: AutoPad = .notSet) {
        let a = ConvAttributes(kernelShape: k, strides: strides, pads: pads, dilations: dilations, groups: groups,
                               autoPad: autoPad)
        var params = [("w", r.tensor([m, x[1] / groups] + k))]
        if bias { params.append(("b", r.tensor([m]))) }
        cases.append(GradientCase(label: label, op: .conv(a), inputs: [("x", r.tensor(x))], parameters: params,
                                  nodeInputs: bias ? ["x", "w", "b"] : ["x", "w"]))
    }
    conv("conv3x3", x: [2, 3, 6, 5], m: 4, k: [3, 3], pads: [1, 1, 1, 1])
    conv("conv1x1", x: [2, 4, 3, 3], m: 3, k: [1, 1], bias: false)
    conv("conv-stride2-asym", x: [1, 2, 7, 6], m: 3, k: [3, 3], strides: [2, 2], pads: [0, 1, 1, 0])
    conv("conv-stride-hw", x: [2, 2, 6, 7], m: 2, k: [2, 3], strides: [1, 2], pads: [1, 0, 0, 2])
    conv("conv-grouped", x: [2, 4, 5, 5], m: 6, k: [3, 3], pads: [1, 1, 1, 1], groups: 2)
    conv("conv-dilated", x: [1, 2, 7, 7], m: 2, k: [3, 3], pads: [2, 2, 2, 2], dilations: [2, 2])
    conv("conv-same-upper", x: [1, 2, 6, 6], m: 2, k: [3, 3], strides: [2, 2], autoPad: .sameUpper)
    conv("depthwise3x3", x: [2, 3, 5, 11], m: 3, k: [3, 3], pads: [1, 1, 1, 1], groups: 3)
    conv("depthwise-stride2-asym", x: [2, 3, 9, 19], m: 3, k: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1], groups: 3)
    conv("depthwise-5x5-nobias", x: [1, 2, 10, 12], m: 2, k: [5, 5], pads: [2, 1, 2, 3], groups: 2, bias: false)
    conv("depthwise-stride-hw", x: [1, 2, 7, 9], m: 2, k: [3, 3], strides: [2, 1], pads: [1, 0, 0, 1], groups: 2)
    conv("depthwise-stride3", x: [1, 2, 8, 10], m: 2, k: [3, 3], strides: [3, 3], pads: [1, 2, 1, 0], groups: 2)
    conv("depthwise-s2-wide", x: [1, 2, 5, 37], m: 2, k: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], groups: 2)
    conv("depthwise-dilated", x: [1, 2, 9, 17], m: 2, k: [3, 3], pads: [2, 2, 2, 2], groups: 2, dilations: [2, 2])
    conv("conv7x7-stride2", x: [1, 3, 11, 11], m: 2, k: [7, 7], strides: [2, 2], pads: [3, 3, 3, 3])
    // Output planes of ≥ 256 cells take the one-GEMM-per-image path.
    conv("conv-per-image", x: [2, 2, 17, 16], m: 2, k: [3, 3], pads: [1, 1, 1, 1])
    conv("conv1x1-per-image", x: [2, 3, 16, 16], m: 2, k: [1, 1])
    conv("conv-grouped-per-image", x: [2, 4, 16, 17], m: 2, k: [3, 3], pads: [1, 1, 1, 1], groups: 2)
    // Batched path with GEMMs large enough to be split over threads (rows and columns).
    conv("conv-batched-split", x: [2, 1, 8, 8], m: 128, k: [3, 3], pads: [1, 1, 1, 1])

    func bn(_ label: String, mode: ExecutionMode, scale: Bool, shape: [Int] = [3, 4, 3, 2]) {
        let c = shape[1]
        var params = [("beta", r.tensor([c]))]
        if scale { params.append(("gamma", r.tensor([c], 0.5, 1.5))) }
        params += [("mean", r.tensor([c], -0.5, 0.5)), ("var", r.tensor([c], 0.5, 1.5))]
        var x = r.tensor(shape, -2, 2)
        // Spread each channel so the batch variance is far from 0 (a steady check).
        for i in 0..<x.count { x.data[i] *= 1 + Float(i % 3) }
        cases.append(GradientCase(label: label, op: .batchNormalization(epsilon: 1e-3), inputs: [("x", x)],
                                  parameters: params, nodeInputs: ["x", scale ? "gamma" : "", "beta", "mean", "var"],
                                  mode: mode))
    }
    bn("bn-training", mode: .training, scale: true)
    bn("bn-training-noscale", mode: .training, scale: false)
    bn("bn-training-rank2", mode: .training, scale: true, shape: [6, 3])
    bn("bn-inference", mode: .inference, scale: true)

    func unary(_ label: String, _ op: Op, _ x: Tensor) {
        cases.append(GradientCase(label: label, op: op, inputs: [("x", x)], parameters: [], nodeInputs: ["x"]))
    }
    unary("relu", .relu, r.awayFromZero([2, 3, 4]))
    var clipInput = r.awayFromZero([2, 3, 5])
    for i in 0..<clipInput.count { clipInput.data[i] *= 8; if abs(clipInput.data[i] - 6) < 0.2 { clipInput.data[i] += 0.5 } }
    unary("clip", .clip(min: 0, max: 6), clipInput)
    unary("sigmoid", .sigmoid, r.tensor([3, 4], -3, 3))
    // Inputs over both kinks (±3 for HardSwish and alpha 1/6, ±2.5 for alpha 0.2), none within 0.2 of one.
    func awayFromKinks(_ shape: [Int], _ kinks: [Float]) -> Tensor {
        var t = r.tensor(shape, -5, 5)
        for i in 0..<t.count { for k in kinks where abs(t.data[i] - k) < 0.2 { t.data[i] = k + 0.4 } }
        return t
    }
    unary("hardswish", .hardSwish, awayFromKinks([2, 3, 5], [-3, 3]))
    unary("hardsigmoid-torch", .hardSigmoid(alpha: 1 / 6, beta: 0.5), awayFromKinks([2, 3, 5], [-3, 3]))
    unary("hardsigmoid-onnx", .hardSigmoid(alpha: 0.2, beta: 0.5), awayFromKinks([3, 4], [-2.5, 2.5]))
    unary("softmax", .softmax(axis: 1), r.tensor([2, 5, 3], -2, 2))
    unary("erf", .erf, r.tensor([3, 5], -2.5, 2.5))
    unary("gelu", .gelu(tanhApproximation: false), r.tensor([3, 5], -4, 4))
    unary("gelu-tanh", .gelu(tanhApproximation: true), r.tensor([3, 5], -4, 4))
    func layerNorm(_ label: String, x: [Int], axis: Int, parameterShape: [Int], bias: Bool) {
        var params = [("scale", r.tensor(parameterShape, 0.5, 1.5))]
        if bias { params.append(("bias", r.tensor(parameterShape))) }
        // Rows with their own offset, so the mean's gradient path is exercised.
        var input = r.tensor(x, -2, 2)
        for i in 0..<input.count { input.data[i] += Float(i / parameterShape.elementCount % 3) - 1 }
        cases.append(GradientCase(label: label, op: .layerNormalization(axis: axis, epsilon: 1e-5), inputs: [("x", input)],
                                  parameters: params, nodeInputs: bias ? ["x", "scale", "bias"] : ["x", "scale"]))
    }
    layerNorm("layernorm-last-axis", x: [2, 3, 6], axis: -1, parameterShape: [6], bias: true)
    layerNorm("layernorm-two-axes", x: [2, 3, 4], axis: 1, parameterShape: [3, 4], bias: true)
    layerNorm("layernorm-no-bias-leading-one", x: [4, 5], axis: -1, parameterShape: [1, 5], bias: false)
    unary("gap", .globalAveragePool, r.tensor([2, 3, 4, 5]))
    unary("reducemean-hw", .reduceMean(axes: [2, 3], keepDims: true), r.tensor([2, 3, 4, 2]))
    unary("reducemean-c-drop", .reduceMean(axes: [1], keepDims: false), r.tensor([2, 3, 4]))
    unary("maxpool", .maxPool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])), r.distinct([2, 2, 7, 6]))
    unary("maxpool-asym", .maxPool(PoolAttributes(kernelShape: [2, 2], strides: [2, 2], pads: [0, 0, 1, 1])), r.distinct([1, 2, 5, 5]))
    unary("avgpool", .averagePool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])), r.tensor([2, 2, 7, 6]))
    unary("avgpool-include-pad", .averagePool(PoolAttributes(kernelShape: [3, 3], strides: [1, 1], pads: [1, 0, 1, 1],
                                                            countIncludePad: true)), r.tensor([1, 2, 5, 4]))
    unary("flatten", .flatten(axis: 1), r.tensor([2, 3, 2, 2]))
    unary("reshape", .reshape(shape: [0, -1], allowZero: false), r.tensor([2, 3, 2]))
    unary("squeeze", .squeeze(axes: [2, 3]), r.tensor([2, 3, 1, 1]))
    unary("unsqueeze", .unsqueeze(axes: [0]), r.tensor([2, 3]))
    unary("identity", .identity, r.tensor([2, 3]))
    unary("transpose", .transpose(perm: [0, 2, 3, 1]), r.tensor([2, 3, 2, 4]))
    unary("pad", .pad(pads: [0, 0, 1, 0, 0, 0, 2, 1], value: 0.5), r.tensor([2, 2, 3, 3]))
    unary("pad-crop", .pad(pads: [0, 1, -1, 0, 0, 1], value: 0), r.tensor([2, 3, 4]))
    // Reflect and edge copy border cells from inside, so their gradients add up there.
    unary("pad-reflect", .pad(pads: [0, 0, 2, 1, 0, 0, 1, 2], value: 0, mode: .reflect), r.tensor([2, 2, 3, 4]))
    unary("pad-edge", .pad(pads: [0, 0, 2, 3, 0, 0, 1, 0], value: 0, mode: .edge), r.tensor([2, 2, 3, 3]))
    unary("pad-reflect-crop", .pad(pads: [0, -1, 2, 0, 1, 1], value: 0, mode: .reflect), r.tensor([2, 4, 3]))
    unary("pad-edge-crop", .pad(pads: [0, 3, -1, 0, -1, 2], value: 0, mode: .edge), r.tensor([2, 2, 4]))
    unary("slice-channels", .slice(starts: [1], ends: [3], axes: [1], steps: [1]), r.tensor([2, 4, 3]))
    unary("slice-strided", .slice(starts: [-1, -6], ends: [Int.min, Int.max], axes: [2, -1], steps: [-2, 2]), r.tensor([2, 3, 5, 6]))

    func binary(_ label: String, _ op: Op, _ a: Tensor, _ b: Tensor, bIsParameter: Bool) {
        if bIsParameter {
            cases.append(GradientCase(label: label, op: op, inputs: [("a", a)], parameters: [("b", b)], nodeInputs: ["a", "b"]))
        } else {
            cases.append(GradientCase(label: label, op: op, inputs: [("a", a), ("b", b)], parameters: [], nodeInputs: ["a", "b"]))
        }
    }
    binary("add", .add, r.tensor([2, 3, 4]), r.tensor([2, 3, 4]), bIsParameter: false)
    binary("add-broadcast", .add, r.tensor([2, 3, 2, 2]), r.tensor([3, 1, 1]), bIsParameter: true)
    binary("sub-broadcast", .sub, r.tensor([2, 3]), r.tensor([3]), bIsParameter: false)
    binary("mul", .mul, r.tensor([2, 3, 4]), r.tensor([2, 3, 4]), bIsParameter: false)
    binary("mul-broadcast", .mul, r.tensor([2, 3, 2, 2]), r.tensor([1, 3, 1, 1]), bIsParameter: true)
    binary("div", .div, r.tensor([2, 3]), r.tensor([2, 3], 1, 2), bIsParameter: false)
    binary("matmul", .matMul, r.tensor([3, 4]), r.tensor([4, 2]), bIsParameter: true)
    binary("matmul-batched-a", .matMul, r.tensor([2, 3, 4]), r.tensor([4, 2]), bIsParameter: true)
    binary("matmul-batched", .matMul, r.tensor([2, 3, 4]), r.tensor([2, 4, 2]), bIsParameter: false)
    cases.append(GradientCase(label: "sum", op: .sum, inputs: [("a", r.tensor([2, 3])), ("b", r.tensor([3])), ("c", r.tensor([2, 1]))],
                              parameters: [], nodeInputs: ["a", "b", "c"]))
    cases.append(GradientCase(label: "concat", op: .concat(axis: 1),
                              inputs: [("a", r.tensor([2, 2, 3])), ("b", r.tensor([2, 3, 3]))], parameters: [("c", r.tensor([2, 1, 3]))],
                              nodeInputs: ["a", "c", "b"]))
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = r.tensor(ta ? [4, 3] : [3, 4]), b = r.tensor(tb ? [2, 4] : [4, 2])
        cases.append(GradientCase(label: "gemm-\(ta ? "T" : "N")\(tb ? "T" : "N")",
                                  op: .gemm(GemmAttributes(alpha: 0.7, beta: 1.3, transA: ta, transB: tb)),
                                  inputs: [("a", a)], parameters: [("w", b), ("c", r.tensor([2]))], nodeInputs: ["a", "w", "c"]))
    }
    cases.append(GradientCase(label: "gemm-no-bias", op: .gemm(GemmAttributes(transB: true)), inputs: [("a", r.tensor([3, 5]))],
                              parameters: [("w", r.tensor([1, 5]))], nodeInputs: ["a", "w"]))
    cases.append(GradientCase(label: "dropout-training", op: .dropout, inputs: [("x", r.tensor([4, 8]))], parameters: [],
                              nodeInputs: ["x"], mode: .training))
    return cases
}

@Suite struct GradientCheckTests {
    @Test(arguments: gradientCases())
    func operatorBackwardMatchesFiniteDifferences(_ c: GradientCase) throws {
        let feed = Dictionary(uniqueKeysWithValues: c.inputs)
        let result = try finiteDifferenceCheck(graph: c.graph, inputs: feed, mode: c.mode, eps: c.eps)
        #expect(result.checked > 0)
        #expect(result.worst <= 1, "\(c.label): worst \(result.worst) at \(result.detail)")
    }

    /// The harness itself must fail on a wrong gradient: one flipped sign or one swapped pair
    /// of elements in a conv weight gradient is reported.
    @Test(arguments: ["sign", "index"])
    func checkerCatchesAWrongGradient(_ mutation: String) throws {
        let c = gradientCases()[0]
        let feed = Dictionary(uniqueKeysWithValues: c.inputs)
        let result = try finiteDifferenceCheck(graph: c.graph, inputs: feed, mode: c.mode, eps: c.eps) { grads in
            guard var w = grads.parameters["w"] else { return }
            if mutation == "sign" { w.data[5] = -w.data[5] } else { w.data.swapAt(3, 4) }
            grads.parameters["w"] = w
        }
        #expect(result.worst > 1)
    }

    /// Split has several outputs, each its own training step: every piece's gradient lands in its
    /// own part of the input, and a piece nothing reads contributes zeros.
    @Test(arguments: ["sizes-unused-piece", "equal-product", "shuffle-unit"])
    func splitGradients(_ shape: String) throws {
        var r = TrainTestRNG(seed: 5)
        var g = Graph()
        let x: Tensor
        switch shape {
        case "sizes-unused-piece":
            x = r.tensor([2, 6, 3])
            g.nodes = [Node(name: "split", op: .split(axis: 1, sizes: [1, 3, 2]), inputs: ["x"], outputs: ["a", "b", "c"]),
                       Node(name: "cat", op: .concat(axis: 1), inputs: ["c", "a"], outputs: ["y"])]
        case "equal-product":
            x = r.tensor([2, 3, 8])
            g.nodes = [Node(name: "split", op: .split(axis: -1, sizes: []), inputs: ["x"], outputs: ["a", "b"]),
                       Node(name: "mul", op: .mul, inputs: ["a", "b"], outputs: ["y"])]
        default:
            // ShuffleNet v2: split channels, convolve one half, concatenate, shuffle the channels.
            x = r.tensor([2, 4, 3, 3])
            g.initializers = ["w": r.tensor([2, 2, 1, 1]), "b": r.tensor([2])]
            g.nodes = [Node(name: "split", op: .split(axis: 1, sizes: []), inputs: ["x"], outputs: ["left", "right"]),
                       Node(name: "pw", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["right", "w", "b"], outputs: ["branch"]),
                       Node(name: "cat", op: .concat(axis: 1), inputs: ["left", "branch"], outputs: ["c"]),
                       Node(name: "groups", op: .reshape(shape: [0, 2, 2, 3, 3], allowZero: false), inputs: ["c"], outputs: ["g"]),
                       Node(name: "shuffle", op: .transpose(perm: [0, 2, 1, 3, 4]), inputs: ["g"], outputs: ["t"]),
                       Node(name: "flat", op: .reshape(shape: [0, 4, 3, 3], allowZero: false), inputs: ["t"], outputs: ["y"])]
        }
        g.inputs = [ValueInfo(name: "x", shape: x.shape.map { Optional($0) })]
        g.outputs = [ValueInfo(name: "y", shape: [])]
        let result = try finiteDifferenceCheck(graph: g, inputs: ["x": x], mode: .inference, eps: 1e-2)
        #expect(result.checked >= x.count)
        #expect(result.worst <= 1, "\(shape): worst \(result.worst) at \(result.detail)")
    }

    /// A multi-node network (residual, concat, BN training, depthwise) checked end to end.
    @Test func smallNetworkGradients() throws {
        var r = TrainTestRNG(seed: 11)
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [nil, 2, 6, 6])]
        g.outputs = [ValueInfo(name: "y", shape: [nil, 1])]
        g.initializers = [
            "w1": r.tensor([4, 2, 3, 3]), "b1": r.tensor([4]),
            "g1": r.tensor([4], 0.5, 1.5), "be1": r.tensor([4]), "m1": Tensor(shape: [4], repeating: 0),
            "v1": Tensor(shape: [4], repeating: 1),
            "dw": r.tensor([4, 1, 3, 3]), "pw": r.tensor([4, 8, 1, 1]),
            "fc": r.tensor([1, 4]), "fcb": r.tensor([1]),
        ]
        g.nodes = [
            Node(name: "conv1", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1])), inputs: ["x", "w1", "b1"], outputs: ["c1"]),
            Node(name: "bn1", op: .batchNormalization(epsilon: 1e-3), inputs: ["c1", "g1", "be1", "m1", "v1"], outputs: ["n1"]),
            Node(name: "act1", op: .sigmoid, inputs: ["n1"], outputs: ["a1"]),
            Node(name: "dw", op: .conv(ConvAttributes(kernelShape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], groups: 4)),
                 inputs: ["a1", "dw"], outputs: ["d1"]),
            Node(name: "cat", op: .concat(axis: 1), inputs: ["a1", "d1"], outputs: ["cc"]),
            Node(name: "pw", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["cc", "pw"], outputs: ["p1"]),
            Node(name: "res", op: .add, inputs: ["p1", "a1"], outputs: ["s1"]),
            Node(name: "gap", op: .globalAveragePool, inputs: ["s1"], outputs: ["gp"]),
            Node(name: "flat", op: .flatten(axis: 1), inputs: ["gp"], outputs: ["f"]),
            Node(name: "fc", op: .gemm(GemmAttributes(transB: true)), inputs: ["f", "fc", "fcb"], outputs: ["y"]),
        ]
        let result = try finiteDifferenceCheck(graph: g, inputs: ["x": r.tensor([3, 2, 6, 6])], mode: .training, eps: 1e-2)
        #expect(result.checked > 100)
        #expect(result.worst <= 1, "worst \(result.worst) at \(result.detail)")
    }

    /// A ConvNeXt block as torch exports it: depthwise conv → NHWC → LayerNorm → MatMul + bias →
    /// GELU as Div/Erf/Add/Mul/Mul → MatMul + bias → NCHW → layer scale → residual. Every
    /// parameter, LayerNorm's scale and bias and the layer scale included, gets its gradient.
    @Test func convNeXtBlockGradients() throws {
        var r = TrainTestRNG(seed: 17)
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [nil, 4, 4, 4])]
        g.outputs = [ValueInfo(name: "y", shape: [nil, 4, 4, 4])]
        g.initializers = [
            "dw": r.tensor([4, 1, 3, 3]), "dwb": r.tensor([4]), "ln_s": r.tensor([4], 0.5, 1.5), "ln_b": r.tensor([4]),
            "w1": r.tensor([4, 8]), "b1": r.tensor([8]), "w2": r.tensor([8, 4]), "b2": r.tensor([4]),
            "ls": r.tensor([4, 1, 1], 0.2, 1), "sqrt2": Tensor(scalar: Float(2.0.squareRoot())), "one": Tensor(scalar: 1),
            "half": Tensor(scalar: 0.5),
        ]
        g.nodes = [
            Node(name: "dw", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1], groups: 4)), inputs: ["x", "dw", "dwb"],
                 outputs: ["d"]),
            Node(name: "nhwc", op: .transpose(perm: [0, 2, 3, 1]), inputs: ["d"], outputs: ["t"]),
            Node(name: "norm", op: .layerNormalization(axis: -1, epsilon: 1e-6), inputs: ["t", "ln_s", "ln_b"], outputs: ["n"]),
            Node(name: "pw1", op: .matMul, inputs: ["n", "w1"], outputs: ["m1"]),
            Node(name: "pw1_bias", op: .add, inputs: ["b1", "m1"], outputs: ["h"]),
            Node(name: "div", op: .div, inputs: ["h", "sqrt2"], outputs: ["q"]),
            Node(name: "erf", op: .erf, inputs: ["q"], outputs: ["e"]),
            Node(name: "add", op: .add, inputs: ["e", "one"], outputs: ["a"]),
            Node(name: "mul", op: .mul, inputs: ["h", "a"], outputs: ["p"]),
            Node(name: "half", op: .mul, inputs: ["p", "half"], outputs: ["act"]),
            Node(name: "pw2", op: .matMul, inputs: ["act", "w2"], outputs: ["m2"]),
            Node(name: "pw2_bias", op: .add, inputs: ["b2", "m2"], outputs: ["o"]),
            Node(name: "nchw", op: .transpose(perm: [0, 3, 1, 2]), inputs: ["o"], outputs: ["back"]),
            Node(name: "scale", op: .mul, inputs: ["ls", "back"], outputs: ["scaled"]),
            Node(name: "res", op: .add, inputs: ["scaled", "x"], outputs: ["y"]),
        ]
        let result = try finiteDifferenceCheck(graph: g, inputs: ["x": r.tensor([2, 4, 4, 4], -2, 2)], mode: .training, eps: 1e-2)
        #expect(result.checked > 200)
        #expect(result.worst <= 1, "worst \(result.worst) at \(result.detail)")
    }
}
