// The engine end to end: small graphs built in code (convolutions, layout ops, Slice/Split,
// reflect/edge Pad, Linear weights stored [K × N], a ConvNeXt block with LayerNorm and GELU,
// EfficientNet's Swish and squeeze-and-excitation) are packed by ArtifactWriter (dense, pruned to
// 50 % and 90 %, float32 and int8), loaded from bytes, run on a batch of 2, and compared with the
// reference executor on the artifact's own (dequantized) weights.
import SpruceCore
import SpruceFormat
import SpruceRuntime
import Testing

/// Zeroes the smallest-magnitude fraction `sparsity` of a tensor (ties broken by index).
func pruned(_ t: Tensor, _ sparsity: Double) -> Tensor {
    let order = t.data.indices.sorted { abs(t.data[$0]) < abs(t.data[$1]) }
    var data = t.data
    for i in order.prefix(Int(Double(data.count) * sparsity)) { data[i] = 0 }
    return Tensor(shape: t.shape, data: data)
}

func randomTensor(_ shape: [Int], _ rng: inout SplitMix64, scale: Float = 1) -> Tensor {
    Tensor(shape: shape, data: rng.floats(shape.elementCount).map { $0 * scale })
}

/// conv3×3+relu → depthwise s2 (relu6) → 1×1 → residual add with a 1×1 s2 projection →
/// maxpool → conv 5×5 dilated → global average pool → flatten → gemm → softmax.
func residualModel(sparsity: Double, seed: UInt64) -> Model {
    var rng = SplitMix64(seed: seed)
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 3, 17, 17])]
    func weight(_ name: String, _ shape: [Int], prune: Bool = true) {
        let t = randomTensor(shape, &rng, scale: 0.5)
        g.initializers[name] = prune ? pruned(t, sparsity) : t
    }
    weight("w1", [16, 3, 3, 3]); weight("b1", [16], prune: false)
    weight("wd", [16, 1, 3, 3]); weight("bd", [16], prune: false)
    weight("w2", [24, 16, 1, 1]); weight("b2", [24], prune: false)
    weight("wp", [24, 3, 1, 1])
    weight("w3", [20, 24, 5, 5]); weight("b3", [20], prune: false)
    weight("wf", [10, 20]); weight("bf", [10], prune: false)
    g.nodes = [
        Node(name: "conv1", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1], activation: .relu)),
             inputs: ["x", "w1", "b1"], outputs: ["c1"]),
        Node(name: "dw", op: .conv(ConvAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], groups: 16,
                                                  activation: .clip(min: 0, max: 6))),
             inputs: ["c1", "wd", "bd"], outputs: ["d1"]),
        Node(name: "pw", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["d1", "w2", "b2"], outputs: ["p1"]),
        Node(name: "proj", op: .conv(ConvAttributes(kernelShape: [1, 1], strides: [2, 2])), inputs: ["x", "wp"],
             outputs: ["s1"]),
        Node(name: "add", op: .add, inputs: ["p1", "s1"], outputs: ["a1"]),
        Node(name: "pool", op: .maxPool(PoolAttributes(kernelShape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1])),
             inputs: ["a1"], outputs: ["m1"]),
        Node(name: "conv3", op: .conv(ConvAttributes(kernelShape: [5, 5], pads: [4, 4, 4, 4], dilations: [2, 2])),
             inputs: ["m1", "w3", "b3"], outputs: ["c3"]),
        Node(name: "gap", op: .globalAveragePool, inputs: ["c3"], outputs: ["g1"]),
        Node(name: "flat", op: .flatten(axis: 1), inputs: ["g1"], outputs: ["f1"]),
        Node(name: "fc", op: .gemm(GemmAttributes(transB: true)), inputs: ["f1", "wf", "bf"], outputs: ["logits"]),
        Node(name: "softmax", op: .softmax(axis: -1), inputs: ["logits"], outputs: ["probs"]),
    ]
    g.outputs = [ValueInfo(name: "logits", shape: [nil, 10]), ValueInfo(name: "probs", shape: [nil, 10])]
    return Model(graph: g)
}

/// Layout and elementwise operators: batchnorm (unfolded; the clip after it fused), avgpool (both pad rules, ceil mode),
/// concat, transpose, reduce-mean, pad, broadcast mul/sub, sigmoid, MatMul with B [K × N].
func layoutModel(sparsity: Double, seed: UInt64) -> Model {
    var rng = SplitMix64(seed: seed)
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 4, 9, 11])]
    g.initializers["w"] = pruned(randomTensor([6, 2, 3, 3], &rng), sparsity)
    g.initializers["gamma"] = Tensor(shape: [6], data: rng.floats(6).map { $0 + 1.5 })
    g.initializers["beta"] = randomTensor([6], &rng)
    g.initializers["mean"] = randomTensor([6], &rng)
    g.initializers["var"] = Tensor(shape: [6], data: rng.floats(6).map { $0 + 1.5 })
    g.initializers["k"] = randomTensor([1, 10, 1, 1], &rng)
    g.initializers["m"] = pruned(randomTensor([10, 7], &rng), sparsity)
    g.nodes = [
        Node(name: "conv", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1], groups: 2)),
             inputs: ["x", "w"], outputs: ["c"]),
        Node(name: "bn", op: .batchNormalization(epsilon: 1e-5), inputs: ["c", "gamma", "beta", "mean", "var"],
             outputs: ["bn"]),
        Node(name: "bnrelu", op: .clip(min: 0, max: 1.5), inputs: ["bn"], outputs: ["n"]),
        Node(name: "avg", op: .averagePool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1],
                                                          countIncludePad: true, ceilMode: true)),
             inputs: ["n"], outputs: ["p"]),
        Node(name: "avg2", op: .averagePool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])),
             inputs: ["x"], outputs: ["q"]),
        Node(name: "cat", op: .concat(axis: 1), inputs: ["p", "q"], outputs: ["cat"]),
        Node(name: "scale", op: .mul, inputs: ["cat", "k"], outputs: ["s"]),
        Node(name: "pad", op: .pad(pads: [0, 0, 1, 0, 0, 0, 0, 2], value: 0.25), inputs: ["s"], outputs: ["padded"]),
        Node(name: "t", op: .transpose(perm: [0, 2, 3, 1]), inputs: ["padded"], outputs: ["nhwc"]),
        Node(name: "mean", op: .reduceMean(axes: [1, 2], keepDims: false), inputs: ["nhwc"], outputs: ["r"]),
        Node(name: "mm", op: .matMul, inputs: ["r", "m"], outputs: ["mm"]),
        Node(name: "sub", op: .sub, inputs: ["mm", "r7"], outputs: ["d"]),
        Node(name: "sig", op: .sigmoid, inputs: ["d"], outputs: ["y"]),
    ]
    g.initializers["r7"] = randomTensor([7], &rng)
    g.outputs = [ValueInfo(name: "y", shape: [nil, 7])]
    return Model(graph: g)
}

/// Slice and Split: a ShuffleNet v2 unit (channel Split, 1×1 branch, Concat, channel shuffle),
/// then crops with negative indices and steps, a Split with an empty unused piece, and a Slice
/// that keeps everything (planned as an alias).
func slicingModel(sparsity: Double, seed: UInt64) -> Model {
    var rng = SplitMix64(seed: seed)
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 8, 6, 7])]
    g.initializers["w"] = pruned(randomTensor([4, 4, 1, 1], &rng), sparsity)
    g.initializers["b"] = randomTensor([4], &rng)
    g.nodes = [
        Node(name: "split", op: .split(axis: 1, sizes: []), inputs: ["x"], outputs: ["left", "right"]),
        Node(name: "pw", op: .conv(ConvAttributes(kernelShape: [1, 1], activation: .relu)), inputs: ["right", "w", "b"],
             outputs: ["branch"]),
        Node(name: "cat", op: .concat(axis: 1), inputs: ["left", "branch"], outputs: ["c"]),
        Node(name: "groups", op: .reshape(shape: [0, 2, 4, 6, 7], allowZero: false), inputs: ["c"], outputs: ["g"]),
        Node(name: "shuffle", op: .transpose(perm: [0, 2, 1, 3, 4]), inputs: ["g"], outputs: ["t"]),
        Node(name: "flat", op: .reshape(shape: [0, 8, 6, 7], allowZero: false), inputs: ["t"], outputs: ["s"]),
        Node(name: "crop", op: .slice(starts: [-1, 1], ends: [Int.min, Int.max], axes: [2, 3], steps: [-2, 2]),
             inputs: ["s"], outputs: ["sl"]),
        Node(name: "pieces", op: .split(axis: -3, sizes: [3, 0, 5]), inputs: ["s"], outputs: ["a", "empty", "bb"]),
        Node(name: "channels", op: .slice(starts: [1], ends: [3], axes: [1], steps: [1]), inputs: ["a"], outputs: ["ac"]),
        Node(name: "whole", op: .slice(starts: [0], ends: [Int.max], axes: [1], steps: [1]), inputs: ["bb"], outputs: ["bw"]),
        Node(name: "sig", op: .sigmoid, inputs: ["bw"], outputs: ["y"]),
    ]
    g.outputs = [ValueInfo(name: "sl", shape: [nil, 8, 3, 3]), ValueInfo(name: "ac", shape: [nil, 2, 6, 7]),
                 ValueInfo(name: "y", shape: [nil, 5, 6, 7])]
    return Model(graph: g)
}

/// A ConvNeXt block as torch exports it (depthwise 7×7 → NHWC → LayerNorm → MatMul + bias →
/// GELU as Div/Erf/Add/Mul/Mul → MatMul + bias → NCHW → layer scale → residual), a downsampling
/// layer (NHWC LayerNorm without bias → NCHW → 2×2 stride-2 conv), then LayerNorm over H and W,
/// tanh GELU, Erf and a scalar-first Sub.
func convNeXtModel(sparsity: Double, seed: UInt64) -> Model {
    var rng = SplitMix64(seed: seed)
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 8, 9, 9])]
    func weight(_ name: String, _ shape: [Int], prune: Bool = true, offset: Float = 0) {
        let t = randomTensor(shape, &rng, scale: 0.5)
        let shifted = Tensor(shape: shape, data: t.data.map { $0 + offset })
        g.initializers[name] = prune ? pruned(shifted, sparsity) : shifted
    }
    weight("dw", [8, 1, 7, 7]); weight("dwb", [8], prune: false)
    weight("ln_s", [8], prune: false, offset: 1); weight("ln_b", [8], prune: false)
    weight("w1", [8, 32]); weight("b1", [32], prune: false)
    weight("w2", [32, 8]); weight("b2", [8], prune: false)
    weight("ls", [8, 1, 1], prune: false)
    weight("ds_s", [8], prune: false, offset: 1)
    weight("wd", [16, 8, 2, 2]); weight("bd", [16], prune: false)
    weight("hw_s", [4, 4], prune: false, offset: 1); weight("hw_b", [4, 4], prune: false)
    g.initializers["sqrt2"] = Tensor(scalar: Float(2.0.squareRoot()))
    g.initializers["one"] = Tensor(scalar: 1)
    g.initializers["half"] = Tensor(scalar: 0.5)
    g.nodes = [
        Node(name: "dwconv", op: .conv(ConvAttributes(kernelShape: [7, 7], pads: [3, 3, 3, 3], groups: 8)),
             inputs: ["x", "dw", "dwb"], outputs: ["d"]),
        Node(name: "nhwc", op: .transpose(perm: [0, 2, 3, 1]), inputs: ["d"], outputs: ["t"]),
        Node(name: "norm", op: .layerNormalization(axis: -1, epsilon: 1e-6), inputs: ["t", "ln_s", "ln_b"], outputs: ["n"]),
        Node(name: "pw1", op: .matMul, inputs: ["n", "w1"], outputs: ["mm1"]),
        Node(name: "pw1_bias", op: .add, inputs: ["b1", "mm1"], outputs: ["h1"]),
        Node(name: "gelu_div", op: .div, inputs: ["h1", "sqrt2"], outputs: ["gd"]),
        Node(name: "gelu_erf", op: .erf, inputs: ["gd"], outputs: ["ge"]),
        Node(name: "gelu_add", op: .add, inputs: ["ge", "one"], outputs: ["ga"]),
        Node(name: "gelu_mul", op: .mul, inputs: ["h1", "ga"], outputs: ["gm"]),
        Node(name: "gelu_half", op: .mul, inputs: ["gm", "half"], outputs: ["act"]),
        Node(name: "pw2", op: .matMul, inputs: ["act", "w2"], outputs: ["mm2"]),
        Node(name: "pw2_bias", op: .add, inputs: ["b2", "mm2"], outputs: ["h2"]),
        Node(name: "nchw", op: .transpose(perm: [0, 3, 1, 2]), inputs: ["h2"], outputs: ["back"]),
        Node(name: "layer_scale", op: .mul, inputs: ["ls", "back"], outputs: ["scaled"]),
        Node(name: "residual", op: .add, inputs: ["scaled", "x"], outputs: ["res"]),
        Node(name: "ds_nhwc", op: .transpose(perm: [0, 2, 3, 1]), inputs: ["res"], outputs: ["dt"]),
        Node(name: "ds_norm", op: .layerNormalization(axis: 3, epsilon: 1e-6), inputs: ["dt", "ds_s"], outputs: ["dn"]),
        Node(name: "ds_nchw", op: .transpose(perm: [0, 3, 1, 2]), inputs: ["dn"], outputs: ["dc"]),
        Node(name: "down", op: .conv(ConvAttributes(kernelShape: [2, 2], strides: [2, 2])), inputs: ["dc", "wd", "bd"],
             outputs: ["dd"]),
        Node(name: "hw_norm", op: .layerNormalization(axis: 2, epsilon: 1e-5), inputs: ["dd", "hw_s", "hw_b"], outputs: ["hn"]),
        Node(name: "gelu_tanh", op: .gelu(tanhApproximation: true), inputs: ["hn"], outputs: ["gt"]),
        Node(name: "erf", op: .erf, inputs: ["gt"], outputs: ["er"]),
        Node(name: "complement", op: .sub, inputs: ["one", "er"], outputs: ["y"]),
    ]
    g.outputs = [ValueInfo(name: "y", shape: [nil, 16, 4, 4]), ValueInfo(name: "res", shape: [nil, 8, 9, 9])]
    return Model(graph: g)
}

/// The runtime plans torch's decomposed GELU as one step, and every other new op on its own
/// kernel (no step is the generic broadcasting loop's).
@Test func engineFusesTorchGelu() throws {
    let engine = try Engine(bytes: try ArtifactWriter().encode(convNeXtModel(sparsity: 0, seed: 3)))
    let steps = engine.profileSteps(runs: 1)
    let nodes = steps.map(\.node)
    for removed in ["gelu_div", "gelu_erf", "gelu_add", "gelu_mul"] { #expect(!nodes.contains(removed), "\(removed) was planned") }
    #expect(steps.filter { $0.kernel.hasPrefix("SpecialFunctionStep") }.map(\.node) == ["gelu_half", "gelu_tanh", "erf"])
    #expect(steps.filter { $0.kernel.hasPrefix("LayerNormStep") }.map(\.node) == ["norm", "ds_norm", "hw_norm"])
}

/// EfficientNet's block as torch writes it: conv and depthwise conv, each → Sigmoid → Mul by its
/// output (Swish, fused into the conv steps), then squeeze-and-excitation (GAP, fused into the
/// depthwise step as its channel means → conv → Swish → conv → Sigmoid → Mul of the feature map
/// by the per-channel gate: a Sigmoid of another value, not fused), and a Sigmoid
/// read twice (not fused either); last a Swish of a value another node reads too (a Sigmoid step
/// computing the Swish, the conv left alone).
func swishModel(sparsity: Double, seed: UInt64) -> Model {
    var rng = SplitMix64(seed: seed)
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 4, 9, 9])]
    func weight(_ name: String, _ shape: [Int], prune: Bool = true) {
        let t = randomTensor(shape, &rng, scale: 0.5)
        g.initializers[name] = prune ? pruned(t, sparsity) : t
    }
    weight("w1", [16, 4, 3, 3]); weight("b1", [16], prune: false)
    weight("wd", [16, 1, 3, 3], prune: false); weight("bd", [16], prune: false)
    weight("ws", [4, 16, 1, 1]); weight("bs", [4], prune: false)
    weight("we", [16, 4, 1, 1]); weight("be", [16], prune: false)
    weight("wl", [16, 16, 1, 1])
    g.nodes = [
        Node(name: "conv", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1])), inputs: ["x", "w1", "b1"],
             outputs: ["c"]),
        Node(name: "act_sigmoid", op: .sigmoid, inputs: ["c"], outputs: ["cs"]),
        Node(name: "act", op: .mul, inputs: ["c", "cs"], outputs: ["a0"]),
        Node(name: "dw", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1], groups: 16)),
             inputs: ["a0", "wd", "bd"], outputs: ["d"]),
        Node(name: "dw_sigmoid", op: .sigmoid, inputs: ["d"], outputs: ["ds"]),
        Node(name: "dw_act", op: .mul, inputs: ["ds", "d"], outputs: ["a"]),
        Node(name: "squeeze", op: .globalAveragePool, inputs: ["a"], outputs: ["p"]),
        Node(name: "reduce", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["p", "ws", "bs"], outputs: ["r"]),
        Node(name: "reduce_sigmoid", op: .sigmoid, inputs: ["r"], outputs: ["rs"]),
        Node(name: "reduce_act", op: .mul, inputs: ["rs", "r"], outputs: ["ra"]),
        Node(name: "expand", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["ra", "we", "be"], outputs: ["e"]),
        Node(name: "gate", op: .sigmoid, inputs: ["e"], outputs: ["es"]),
        Node(name: "scale", op: .mul, inputs: ["a", "es"], outputs: ["s"]),
        Node(name: "twice", op: .sigmoid, inputs: ["s"], outputs: ["t"]),
        Node(name: "square", op: .mul, inputs: ["t", "t"], outputs: ["u"]),
        Node(name: "last", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["u", "wl"], outputs: ["l"]),
        Node(name: "last_sigmoid", op: .sigmoid, inputs: ["l"], outputs: ["ls"]),
        Node(name: "last_act", op: .mul, inputs: ["l", "ls"], outputs: ["la"]),
        Node(name: "sum", op: .add, inputs: ["la", "l"], outputs: ["y"]),
    ]
    g.outputs = [ValueInfo(name: "y", shape: [nil, 16, 9, 9])]
    return Model(graph: g)
}

/// MobileNet v3's activations: a 3×3 conv, a depthwise conv and a 1×1 conv each followed by a
/// HardSwish that reads only them (fused into the conv steps); the 1×1's HardSwish output is then
/// added to the first one's (a residual Add that must not be fused after the HardSwish), and a
/// HardSwish of a conv read twice stays a step of its own.
func hardSwishModel(sparsity: Double, seed: UInt64) -> Model {
    var rng = SplitMix64(seed: seed)
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 8, 9, 9])]
    func weight(_ name: String, _ shape: [Int], prune: Bool = true) {
        let t = randomTensor(shape, &rng, scale: 0.5)
        g.initializers[name] = prune ? pruned(t, sparsity) : t
    }
    weight("w1", [16, 8, 3, 3]); weight("b1", [16], prune: false)
    weight("wd", [16, 1, 3, 3], prune: false); weight("bd", [16], prune: false)
    weight("wp", [16, 16, 1, 1]); weight("bp", [16], prune: false)
    weight("wq", [16, 16, 1, 1]); weight("bq", [16], prune: false)
    g.nodes = [
        Node(name: "conv", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1])), inputs: ["x", "w1", "b1"],
             outputs: ["c"]),
        Node(name: "hs_conv", op: .hardSwish, inputs: ["c"], outputs: ["h1"]),
        Node(name: "dw", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1], groups: 16)),
             inputs: ["h1", "wd", "bd"], outputs: ["d"]),
        Node(name: "hs_dw", op: .hardSwish, inputs: ["d"], outputs: ["h2"]),
        Node(name: "project", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["h2", "wp", "bp"], outputs: ["p"]),
        Node(name: "hs_project", op: .hardSwish, inputs: ["p"], outputs: ["h3"]),
        Node(name: "add", op: .add, inputs: ["h3", "h1"], outputs: ["a"]),
        Node(name: "twice", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["a", "wq", "bq"], outputs: ["q"]),
        Node(name: "hs_twice", op: .hardSwish, inputs: ["q"], outputs: ["h4"]),
        Node(name: "sum", op: .add, inputs: ["h4", "q"], outputs: ["y"]),
    ]
    g.outputs = [ValueInfo(name: "y", shape: [nil, 16, 9, 9])]
    return Model(graph: g)
}

@Test(arguments: [0.0, 0.9])
func engineFusesHardSwishIntoConvs(sparsity: Double) throws {
    let engine = try Engine(bytes: try ArtifactWriter().encode(hardSwishModel(sparsity: sparsity, seed: 6)))
    let steps = engine.profileSteps(runs: 1)
    let nodes = steps.map(\.node)
    for fused in ["hs_conv", "hs_dw", "hs_project"] { #expect(!nodes.contains(fused), "\(fused) was planned: \(nodes)") }
    #expect(steps.filter { $0.kernel.hasSuffix("+hardswish") }.map(\.node) == ["conv", "dw", "project"])
    #expect(nodes.contains("add") && nodes.contains("hs_twice"), "\(nodes)")
}

@Test(arguments: [0.0, 0.9])
func engineFusesSwishOnly(sparsity: Double) throws {
    let engine = try Engine(bytes: try ArtifactWriter().encode(swishModel(sparsity: sparsity, seed: 4)))
    let steps = engine.profileSteps(runs: 1)
    let nodes = steps.map(\.node)
    for fused in ["act", "act_sigmoid", "dw_act", "dw_sigmoid", "squeeze", "reduce_act", "reduce_sigmoid", "last_act"] {
        #expect(!nodes.contains(fused), "\(fused) was planned: \(nodes)")
    }
    #expect(steps.filter { $0.kernel.hasSuffix("+swish") }.map(\.node) == ["conv", "reduce"])
    #expect(steps.filter { $0.kernel.hasSuffix("+swish +means") }.map(\.node) == ["dw"])
    #expect(steps.filter { $0.kernel == "SpecialFunctionStep swish" }.map(\.node) == ["last_sigmoid"])
    #expect(steps.filter { $0.kernel == "SpecialFunctionStep sigmoid" }.map(\.node) == ["gate", "twice"])
    #expect(nodes.contains("scale") && nodes.contains("square") && nodes.contains("sum"))
}

@Test func engineRejectsLayerNormOverTheDynamicBatch() throws {
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 3])]
    g.initializers["s"] = Tensor(shape: [1, 3], repeating: 1)
    g.nodes = [Node(name: "ln", op: .layerNormalization(axis: 0, epsilon: 1e-5), inputs: ["x", "s"], outputs: ["y"])]
    g.outputs = [ValueInfo(name: "y", shape: [])]
    #expect(throws: RuntimeError.self) { try Engine(bytes: try ArtifactWriter().encode(Model(graph: g))) }
}

/// Reflect and edge Pad (with a crop) around a convolution, then Linear layers whose weights are
/// stored [K × N] (MatMul on 2-D and 3-D inputs, Gemm without transB, alpha and beta), which the
/// engine runs from the stored sparse or int8 rows.
func padLinearModel(sparsity: Double, seed: UInt64) -> Model {
    var rng = SplitMix64(seed: seed)
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 3, 7, 8])]
    g.initializers["w"] = pruned(randomTensor([4, 3, 3, 3], &rng), sparsity)
    g.initializers["b"] = randomTensor([4], &rng)
    g.initializers["w1"] = pruned(randomTensor([4, 6], &rng), sparsity)
    g.initializers["b1"] = randomTensor([6], &rng)
    g.initializers["w2"] = pruned(randomTensor([3, 5], &rng), sparsity)
    g.initializers["w3"] = pruned(randomTensor([10, 3], &rng), sparsity)
    g.initializers["c3"] = randomTensor([3], &rng)
    g.nodes = [
        Node(name: "mirror", op: .pad(pads: [0, 0, 1, 2, 0, 0, 2, 1], value: 0, mode: .reflect), inputs: ["x"], outputs: ["xm"]),
        Node(name: "conv", op: .conv(ConvAttributes(kernelShape: [3, 3])), inputs: ["xm", "w", "b"], outputs: ["c"]),
        Node(name: "replicate", op: .pad(pads: [0, 0, 2, 0, 0, 0, -1, 3], value: 0, mode: .edge), inputs: ["c"], outputs: ["ce"]),
        Node(name: "gap", op: .globalAveragePool, inputs: ["ce"], outputs: ["gp"]),
        Node(name: "flat", op: .flatten(axis: 1), inputs: ["gp"], outputs: ["f"]),
        Node(name: "fc", op: .matMul, inputs: ["f", "w1"], outputs: ["h"]),
        Node(name: "fc.bias", op: .add, inputs: ["h", "b1"], outputs: ["hb"]),
        Node(name: "act", op: .relu, inputs: ["hb"], outputs: ["r"]),
        Node(name: "tokens", op: .reshape(shape: [0, 2, 3], allowZero: false), inputs: ["r"], outputs: ["t"]),
        Node(name: "mix", op: .matMul, inputs: ["t", "w2"], outputs: ["m"]),
        Node(name: "flat2", op: .flatten(axis: 1), inputs: ["m"], outputs: ["m2"]),
        Node(name: "head", op: .gemm(GemmAttributes(alpha: 0.5, beta: 2)), inputs: ["m2", "w3", "c3"], outputs: ["y"]),
    ]
    g.outputs = [ValueInfo(name: "y", shape: [nil, 3]), ValueInfo(name: "m", shape: [nil, 2, 5])]
    return Model(graph: g)
}

/// MatMul + Add of a constant [N] is one step (the Add's bias joins the product's), sparse and int8
/// as well as dense; the reflect and edge Pads are steps of their own.
@Test(arguments: [(0.0, false), (0.9, false), (0.9, true)])
func linearBiasIsFusedIntoItsProduct(sparsity: Double, int8: Bool) throws {
    let engine = try Engine(bytes: try ArtifactWriter(int8: int8).encode(padLinearModel(sparsity: sparsity, seed: 14)))
    let steps = engine.profileSteps(runs: 1)
    let nodes = steps.map(\.node)
    #expect(nodes.contains("fc") && !nodes.contains("fc.bias"), "\(nodes)")
    #expect(steps.filter { $0.kernel.hasPrefix("BorderPadStep") }.map(\.node) == ["mirror", "replicate"])
    if int8 {
        // Sparse or dense, int8 [K × N] rows run as stored (f32 may be transposed into a dense step).
        #expect(steps.first { $0.node == "fc" }?.kernel.hasPrefix("VecMatStep") == true, "\(steps.map(\.kernel))")
    }
}

@Test func engineRejectsPaddingTheDynamicBatchAtTheBorder() throws {
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 3])]
    g.nodes = [Node(name: "rows", op: .pad(pads: [1, 0, 0, 0], value: 0, mode: .edge), inputs: ["x"], outputs: ["y"])]
    g.outputs = [ValueInfo(name: "y", shape: [])]
    #expect(throws: RuntimeError.self) { try Engine(bytes: try ArtifactWriter().encode(Model(graph: g))) }
}

@Test func engineRejectsSlicingTheDynamicBatch() throws {
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 3])]
    g.nodes = [Node(name: "first", op: .slice(starts: [0], ends: [1], axes: [0], steps: [1]), inputs: ["x"], outputs: ["y"])]
    g.outputs = [ValueInfo(name: "y", shape: [])]
    #expect(throws: RuntimeError.self) { try Engine(bytes: try ArtifactWriter().encode(Model(graph: g))) }
    g.nodes = [Node(name: "halves", op: .split(axis: 0, sizes: []), inputs: ["x"], outputs: ["y", "z"])]
    #expect(throws: RuntimeError.self) { try Engine(bytes: try ArtifactWriter().encode(Model(graph: g))) }
}

struct EngineCase: Sendable, CustomTestStringConvertible {
    var model: String
    var sparsity: Double
    var int8: Bool
    var testDescription: String { "\(model) sparsity \(sparsity) \(int8 ? "int8" : "f32")" }
}

let engineCases: [EngineCase] = ["residual", "layout", "slicing", "padLinear", "convnext", "swish", "hardSwish"].flatMap { m in
    [0.0, 0.5, 0.9].flatMap { s in [false, true].map { EngineCase(model: m, sparsity: s, int8: $0) } }
}

@Test(arguments: engineCases)
func engineMatchesReferenceExecutor(_ t: EngineCase) throws {
    let model = switch t.model {
    case "residual": residualModel(sparsity: t.sparsity, seed: 11)
    case "layout": layoutModel(sparsity: t.sparsity, seed: 12)
    case "slicing": slicingModel(sparsity: t.sparsity, seed: 13)
    case "padLinear": padLinearModel(sparsity: t.sparsity, seed: 14)
    case "convnext": convNeXtModel(sparsity: t.sparsity, seed: 14)
    case "hardSwish": hardSwishModel(sparsity: t.sparsity, seed: 17)
    default: swishModel(sparsity: t.sparsity, seed: 16)
    }
    let bytes = try ArtifactWriter(int8: t.int8).encode(model)
    let artifact = try ArtifactReader.decode(bytes)
    let engine = try Engine(bytes: bytes)
    var rng = SplitMix64(seed: 5)
    let input = randomTensor([2] + Array(engine.inputShapes[0].shape.dropFirst()), &rng)
    let expected = try ReferenceExecutor(graph: artifact.denseModel().graph).run(["x": input])
    let actual = try engine.run(["x": input])
    #expect(Set(actual.keys) == Set(expected.keys))
    for (name, e) in expected {
        guard let a = actual[name] else { continue }
        #expect(a.shape == e.shape, "\(name) shape")
        expectClose(a.data, e.data, tolerance: t.int8 ? 1e-3 : 1e-4, "\(t.testDescription) output \(name)")
    }
    // Running again gives identical results (nothing stale in the arena).
    let again = try engine.run(["x": input])
    #expect(again == actual)
}

@Test("values packed below eight bits run from their packed form and match the reference executor", arguments: [
    (0.0, 4), (0.9, 4), (0.9, 2), (0.5, 6),
])
func packedValuesRun(sparsity: Double, bits: Int) throws {
    var writer = ArtifactWriter(int8: true)
    writer.valueBits = bits
    let bytes = try writer.encode(residualModel(sparsity: sparsity, seed: 11))
    let artifact = try ArtifactReader.decode(bytes)
    #expect(artifact.majorVersion == 2)
    #expect(artifact.tensors.contains { $0.valueBits == bits })
    let engine = try Engine(bytes: bytes)
    var rng = SplitMix64(seed: 5)
    let input = randomTensor([2] + Array(engine.inputShapes[0].shape.dropFirst()), &rng)
    let expected = try ReferenceExecutor(graph: artifact.denseModel().graph).run(["x": input])
    let actual = try engine.run(["x": input])
    for (name, e) in expected {
        let a = try #require(actual[name])
        expectClose(a.data, e.data, tolerance: 1e-3, "\(bits) bits at \(sparsity): output \(name)")
    }
    if sparsity == 0.9 {
        // Sparse convolutions keep quantized values packed (not widened to int8 at load); the
        // first convolution stays float32.
        let kernels = engine.profileSteps(runs: 1).map(\.kernel).filter { $0.hasPrefix("SparseConvStep") }
        #expect(kernels.contains { $0.contains("% int\(bits)") } && !kernels.contains { $0.contains("% int8") }, "\(kernels)")
    }
}

@Test func engineRejectsBadInputs() throws {
    let bytes = try ArtifactWriter().encode(residualModel(sparsity: 0, seed: 1))
    let engine = try Engine(bytes: bytes)
    #expect(throws: RuntimeError.self) { try engine.run([:]) }
    #expect(throws: RuntimeError.self) { try engine.run(["x": Tensor(shape: [1, 3, 16, 17], repeating: 0)]) }
    #expect(throws: RuntimeError.self) {
        try engine.run(["x": Tensor(shape: [1, 3, 17, 17], repeating: 0), "y": Tensor(shape: [1], repeating: 0)])
    }
    #expect(throws: RuntimeError.self) { try Engine(bytes: Array(bytes.prefix(100))) }
}
