// Export → import round trips over IR models that together use every `Op`, dense and with
// sparse initializers: the imported model must equal the original (nodes, attributes,
// initializers, inputs/outputs, metadata). Also checks the fused-activation export path.
import CSpruceProto
import SpruceCore
import SpruceONNX
import Testing

/// Small IR models, each shape-valid, that together cover every operator.
enum SampleModels {
    static func tensor(_ shape: [Int], seed: UInt64, zeroEvery: Int = 0) -> Tensor {
        var rng = SplitMix64(seed: seed)
        var data = (0..<shape.elementCount).map { _ in rng.nextFloat() }
        if zeroEvery > 0 { for i in stride(from: 0, to: data.count, by: zeroEvery) { data[i] = 0 } }
        return Tensor(shape: shape, data: data)
    }

    /// Conv / BN / activations / pools / pad / gemm / softmax on an image input.
    static func convolutional(zeroEvery: Int = 0) -> Model {
        var g = Graph()
        g.inputs = [ValueInfo(name: "image", shape: [nil, 3, 8, 8])]
        g.initializers = [
            "w1": tensor([4, 3, 3, 3], seed: 1, zeroEvery: zeroEvery), "b1": tensor([4], seed: 2),
            "scale": tensor([4], seed: 3), "shift": tensor([4], seed: 4), "mean": tensor([4], seed: 5),
            "var": Tensor(shape: [4], data: [0.5, 1, 1.5, 2]),
            "dw": tensor([4, 1, 3, 3], seed: 6, zeroEvery: zeroEvery),
            "fc": tensor([2, 4], seed: 7, zeroEvery: zeroEvery), "fcb": tensor([2], seed: 8),
        ]
        g.nodes = [
            Node(name: "conv1", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1])),
                 inputs: ["image", "w1", "b1"], outputs: ["c1"]),
            Node(name: "bn", op: .batchNormalization(epsilon: 1e-3), inputs: ["c1", "scale", "shift", "mean", "var"], outputs: ["n1"]),
            Node(name: "relu", op: .relu, inputs: ["n1"], outputs: ["r1"]),
            Node(name: "relu6", op: .clip(min: 0, max: 6), inputs: ["r1"], outputs: ["r2"]),
            Node(name: "clipLow", op: .clip(min: -1, max: .infinity), inputs: ["r2"], outputs: ["r3"]),
            Node(name: "maxpool", op: .maxPool(PoolAttributes(kernelShape: [2, 2], strides: [2, 2])), inputs: ["r3"], outputs: ["p1"]),
            Node(name: "avgpool", op: .averagePool(PoolAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1], countIncludePad: true)),
                 inputs: ["p1"], outputs: ["p2"]),
            Node(name: "avgceil", op: .averagePool(PoolAttributes(kernelShape: [2, 2], strides: [2, 2], ceilMode: true)),
                 inputs: ["p2"], outputs: ["p3"]),
            Node(name: "pad", op: .pad(pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 0.5), inputs: ["p3"], outputs: ["pd"]),
            Node(name: "dwconv", op: .conv(ConvAttributes(kernelShape: [3, 3], groups: 4, autoPad: .sameUpper)),
                 inputs: ["pd", "dw"], outputs: ["c2"]),
            Node(name: "sig", op: .sigmoid, inputs: ["c2"], outputs: ["s1"]),
            Node(name: "gap", op: .globalAveragePool, inputs: ["s1"], outputs: ["g1"]),
            Node(name: "flat", op: .flatten(axis: 1), inputs: ["g1"], outputs: ["f1"]),
            Node(name: "fc", op: .gemm(GemmAttributes(alpha: 0.5, beta: 2, transB: true)), inputs: ["f1", "fc", "fcb"], outputs: ["logits"]),
            Node(name: "softmax", op: .softmax(axis: 1), inputs: ["logits"], outputs: ["probs"]),
        ]
        g.outputs = [ValueInfo(name: "probs", shape: [nil, 2])]
        return Model(graph: g, metadata: ["source": "unit test", "sparsity": "0.5"], producer: "spruce-tests")
    }

    /// Layout, arithmetic and reduction operators on a feature input.
    static func elementwise() -> Model {
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [nil, 4, 2, 2])]
        g.initializers = [
            "m": tensor([16, 3], seed: 11), "c": tensor([3], seed: 12), "d": Tensor(shape: [3], data: [1, 2, 4]),
        ]
        g.nodes = [
            Node(name: "nhwc", op: .transpose(perm: [0, 2, 3, 1]), inputs: ["x"], outputs: ["t"]),
            Node(name: "flatten", op: .reshape(shape: [0, -1], allowZero: false), inputs: ["t"], outputs: ["r"]),
            Node(name: "dense", op: .matMul, inputs: ["r", "m"], outputs: ["mm"]),
            Node(name: "unsq", op: .unsqueeze(axes: [2]), inputs: ["mm"], outputs: ["u"]),
            Node(name: "sq", op: .squeeze(axes: [2]), inputs: ["u"], outputs: ["s"]),
            Node(name: "add", op: .add, inputs: ["s", "c"], outputs: ["e1"]),
            Node(name: "sub", op: .sub, inputs: ["e1", "c"], outputs: ["e2"]),
            Node(name: "mul", op: .mul, inputs: ["e2", "d"], outputs: ["e3"]),
            Node(name: "div", op: .div, inputs: ["e3", "d"], outputs: ["e4"]),
            Node(name: "sum", op: .sum, inputs: ["e1", "e2", "e4"], outputs: ["e5"]),
            Node(name: "cat", op: .concat(axis: 1), inputs: ["e5", "e1"], outputs: ["cat"]),
            Node(name: "id", op: .identity, inputs: ["cat"], outputs: ["i1"]),
            Node(name: "drop", op: .dropout, inputs: ["i1"], outputs: ["d1"]),
            Node(name: "mean", op: .reduceMean(axes: [1], keepDims: true), inputs: ["d1"], outputs: ["rm"]),
            Node(name: "meanflat", op: .reduceMean(axes: [1], keepDims: false), inputs: ["d1"], outputs: ["rm2"]),
            Node(name: "rev", op: .transpose(perm: nil), inputs: ["rm"], outputs: ["tr"]),
        ]
        g.outputs = [ValueInfo(name: "tr", shape: [1, nil]), ValueInfo(name: "rm2", shape: [nil])]
        return Model(graph: g, producer: "spruce-tests")
    }

    /// Operators whose ONNX forms differ most (squeeze-all, allowzero, gemm transA, no bias).
    static func static2D() -> Model {
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [1, 6, 1])]
        g.initializers = ["w": tensor([6, 2], seed: 21)]
        g.nodes = [
            Node(name: "squeezeAll", op: .squeeze(axes: nil), inputs: ["x"], outputs: ["s"]),
            Node(name: "reshape", op: .reshape(shape: [6, 1], allowZero: true), inputs: ["s"], outputs: ["r"]),
            Node(name: "gemm", op: .gemm(GemmAttributes(transA: true)), inputs: ["r", "w"], outputs: ["y"]),
            Node(name: "softmax", op: .softmax(axis: -1), inputs: ["y"], outputs: ["p"]),
            Node(name: "pad", op: .pad(pads: [1, 0, 0, 2], value: 0), inputs: ["p"], outputs: ["q"]),
        ]
        g.outputs = [ValueInfo(name: "q", shape: [2, 4])]
        return Model(graph: g)
    }

    /// Slice (negative indices and steps, PyTorch's INT64 bounds), Split (sizes, equal halves) and
    /// Pad in reflect and edge mode (with a crop).
    static func slicing() -> Model {
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [nil, 6, 4, 5])]
        g.nodes = [
            Node(name: "split", op: .split(axis: 1, sizes: [2, 4]), inputs: ["x"], outputs: ["a", "b"]),
            Node(name: "halves", op: .split(axis: -2, sizes: []), inputs: ["b"], outputs: ["top", "bottom"]),
            Node(name: "crop", op: .slice(starts: [-1, 1], ends: [Int.min, Int.max], axes: [1, -1], steps: [-2, 2]),
                 inputs: ["a"], outputs: ["c"]),
            Node(name: "rows", op: .slice(starts: [0], ends: [1], axes: [2], steps: [1]), inputs: ["top"], outputs: ["r"]),
            Node(name: "mirror", op: .pad(pads: [0, 0, 1, 2, 0, 0, 1, 2], value: 0, mode: .reflect), inputs: ["bottom"], outputs: ["m"]),
            Node(name: "edge", op: .pad(pads: [0, 1, 0, -1, 0, 0, 2, 3], value: 0, mode: .edge), inputs: ["m"], outputs: ["e"]),
        ]
        g.outputs = [ValueInfo(name: "c", shape: [nil, 1, 4, 2]), ValueInfo(name: "r", shape: [nil, 4, 1, 5]),
                     ValueInfo(name: "bottom", shape: [nil, 4, 2, 5]), ValueInfo(name: "e", shape: [nil, 5, 6, 11])]
        return Model(graph: g, producer: "spruce-tests")
    }

    /// LayerNormalization over the last axis (scale and bias) and over two axes (scale only), Erf.
    static func normalization() -> Model {
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [nil, 4, 3, 5])]
        g.initializers = ["s": tensor([4], seed: 41), "b": tensor([4], seed: 42), "s2": tensor([5, 4], seed: 43)]
        g.nodes = [
            Node(name: "nhwc", op: .transpose(perm: [0, 2, 3, 1]), inputs: ["x"], outputs: ["t"]),
            Node(name: "norm", op: .layerNormalization(axis: -1, epsilon: 1e-6), inputs: ["t", "s", "b"], outputs: ["n"]),
            Node(name: "norm2", op: .layerNormalization(axis: 2, epsilon: 1e-5), inputs: ["n", "s2"], outputs: ["n2"]),
            Node(name: "erf", op: .erf, inputs: ["n2"], outputs: ["e"]),
        ]
        g.outputs = [ValueInfo(name: "e", shape: [nil, 3, 5, 4])]
        return Model(graph: g, producer: "spruce-tests")
    }

    static var all: [(String, Model)] {
        [("convolutional", convolutional()), ("convolutional-sparse-weights", convolutional(zeroEvery: 3)),
         ("elementwise", elementwise()), ("static2D", static2D()), ("slicing", slicing()), ("normalization", normalization())]
    }
}

@Suite struct RoundTripTests {
    @Test func samplesCoverEveryOperator() {
        let names = Set(SampleModels.all.flatMap { $0.1.graph.nodes.map(\.op.onnxName) })
        let every: Set<String> = ["Conv", "BatchNormalization", "Relu", "Clip", "Add", "Sub", "Mul", "Div", "Sum",
                                  "GlobalAveragePool", "ReduceMean", "MaxPool", "AveragePool", "Gemm", "MatMul",
                                  "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Sigmoid",
                                  "Softmax", "Pad", "Identity", "Dropout", "Slice", "Split", "LayerNormalization", "Erf"]
        #expect(every.subtracting(names).isEmpty, "operators without a round-trip sample: \(every.subtracting(names))")
    }

    @Test(arguments: [0, 1, 2, 3, 4, 5], [false, true])
    func exportThenImportIsIdentity(sample: Int, sparse: Bool) throws {
        let (name, model) = SampleModels.all[sample]
        let bytes = try ONNXExporter.encode(model, sparseInitializers: sparse)
        let imported = try ONNXImporter.decode(bytes)
        #expect(imported.graph.nodes == model.graph.nodes, "\(name): nodes differ")
        #expect(imported.graph.initializers == model.graph.initializers, "\(name): initializers differ")
        #expect(imported.graph.inputs == model.graph.inputs, "\(name): inputs differ")
        #expect(imported.graph.outputs == model.graph.outputs, "\(name): outputs differ")
        #expect(imported.metadata == model.metadata)
        #expect(imported.producer == model.producer)
        #expect(imported == model)
    }

    /// An equal Split that does not divide its axis (Split-18's rule) has no Split-13 form without
    /// sizes: it is written with explicit sizes and computes the same pieces after re-import.
    @Test func unevenEqualSplitIsWrittenWithSizes() throws {
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [nil, 7, 2])]
        g.nodes = [Node(name: "split", op: .split(axis: 1, sizes: []), inputs: ["x"], outputs: ["a", "b", "c"])]
        g.outputs = ["a", "b", "c"].map { ValueInfo(name: $0, shape: []) }
        try g.verify()
        let imported = try ONNXImporter.decode(try ONNXExporter.encode(Model(graph: g)))
        #expect(imported.graph.nodes.first?.op == .split(axis: 1, sizes: [3, 3, 1]))
        let x = SampleModels.tensor([2, 7, 2], seed: 31)
        let before = try ReferenceExecutor(graph: g).run(["x": x])
        let after = try ReferenceExecutor(graph: imported.graph).run(["x": x])
        for name in ["a", "b", "c"] { #expect(before[name] == after[name], "\(name)") }
        #expect(before["c"]?.shape == [2, 1, 2])
    }

    /// Gelu is an opset 20 operator: a model with it is written at opset 20 (IR 9), where
    /// ReduceMean takes its axes as an input and an equal Split its piece count, and reads back
    /// unchanged; a model without it stays at opset 17.
    @Test func geluModelIsWrittenAtOpset20() throws {
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [nil, 4, 3])]
        g.nodes = [
            Node(name: "gelu", op: .gelu(tanhApproximation: false), inputs: ["x"], outputs: ["g"]),
            Node(name: "gelu_tanh", op: .gelu(tanhApproximation: true), inputs: ["g"], outputs: ["t"]),
            Node(name: "mean", op: .reduceMean(axes: [2], keepDims: true), inputs: ["t"], outputs: ["m"]),
            Node(name: "halves", op: .split(axis: 1, sizes: []), inputs: ["m"], outputs: ["a", "b"]),
            Node(name: "sizes", op: .split(axis: 1, sizes: [1, 3]), inputs: ["t"], outputs: ["c", "d"]),
        ]
        g.outputs = [ValueInfo(name: "a", shape: [nil, 2, 1]), ValueInfo(name: "b", shape: [nil, 2, 1]),
                     ValueInfo(name: "c", shape: [nil, 1, 3]), ValueInfo(name: "d", shape: [nil, 3, 3])]
        try g.verify()
        let model = Model(graph: g, producer: "spruce-tests")
        func versions(_ bytes: [UInt8]) throws -> (opset: Int64, ir: Int64) {
            let parsed = try #require(bytes.withUnsafeBufferPointer { onnx__model_proto__unpack(nil, $0.count, $0.baseAddress) })
            defer { onnx__model_proto__free_unpacked(parsed, nil) }
            let opset = try #require(parsed.pointee.opset_import?[0])
            return (opset.pointee.version, parsed.pointee.ir_version)
        }
        let bytes = try ONNXExporter.encode(model)
        #expect(try versions(bytes) == (20, 9))
        let imported = try ONNXImporter.decode(bytes)
        #expect(imported.graph.nodes == model.graph.nodes)
        #expect(imported == model)
        #expect(try versions(ONNXExporter.encode(SampleModels.elementwise())) == (17, 8))
    }

    @Test func exportIsDeterministic() throws {
        let model = SampleModels.convolutional()
        #expect(try ONNXExporter.encode(model) == ONNXExporter.encode(model))
    }

    /// Sparse export stores exactly the conv/gemm weights that contain zeros as sparse_initializer.
    @Test func sparseInitializersAreWrittenSparse() throws {
        var model = SampleModels.convolutional()
        // 90 % zeros in the conv/gemm weights, so COO (4-byte value + 8-byte index) beats dense.
        for name in ["w1", "dw", "fc"] {
            let t = try #require(model.graph.initializers[name])
            model.graph.initializers[name] = Tensor(shape: t.shape, data: t.data.enumerated().map { $0.offset % 10 == 0 ? $0.element : 0 })
        }
        let bytes = try ONNXExporter.encode(model, sparseInitializers: true)
        let dense = try ONNXExporter.encode(model, sparseInitializers: false)
        let parsed = try #require(bytes.withUnsafeBufferPointer { onnx__model_proto__unpack(nil, $0.count, $0.baseAddress) })
        defer { onnx__model_proto__free_unpacked(parsed, nil) }
        let graph = try #require(parsed.pointee.graph)
        var sparseNames: Set<String> = []
        for i in 0..<graph.pointee.n_sparse_initializer {
            let s = try #require(graph.pointee.sparse_initializer[i])
            sparseNames.insert(String(cString: try #require(s.pointee.values?.pointee.name)))
        }
        #expect(sparseNames == ["w1", "dw", "fc"])
        #expect(bytes.count < dense.count)
        #expect(try ONNXImporter.decode(bytes) == model)
    }

    /// A lowered conv with a fused activation exports as Conv + Relu/Clip computing the same values.
    @Test(arguments: [FusedActivation.relu, .clip(min: 0, max: 6), .clip(min: -0.5, max: 0.5)])
    func fusedActivationExportsAsSeparateNode(activation: FusedActivation) throws {
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [1, 2, 5, 5])]
        g.initializers = ["w": SampleModels.tensor([3, 2, 3, 3], seed: 31), "b": SampleModels.tensor([3], seed: 32)]
        g.nodes = [Node(name: "conv", op: .conv(ConvAttributes(kernelShape: [3, 3], activation: activation)),
                        inputs: ["x", "w", "b"], outputs: ["y"])]
        g.outputs = [ValueInfo(name: "y", shape: [1, 3, 3, 3])]
        let model = Model(graph: g)
        let imported = try ONNXImporter.decode(try ONNXExporter.encode(model))
        #expect(imported.graph.nodes.count == 2)
        let expectedName = activation == .relu ? "Relu" : "Clip"
        #expect(imported.graph.nodes.last?.op.onnxName == expectedName)
        let input = SampleModels.tensor([1, 2, 5, 5], seed: 33)
        let want = try ReferenceExecutor(graph: g).run(["x": input])["y"]
        let got = try ReferenceExecutor(graph: imported.graph).run(["x": input])["y"]
        #expect(want != nil && want == got)
    }

    @Test func writeIsAtomicAndLoadable() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/model.onnx"
        let model = SampleModels.elementwise()
        try ONNXExporter.write(model, to: path)
        #expect(try ONNXImporter.load(path: path) == model)
        #expect(try directory.contents() == ["model.onnx"], "no temporary file may be left behind")
        #expect(throws: ONNXError.self) { try ONNXExporter.write(model, to: directory.path + "/missing/dir/model.onnx") }
    }
}
