// Import of the ONNX forms real exporters write: old and new opset spellings of Clip,
// ReduceMean, Squeeze/Unsqueeze, Pad and Reshape; typed and raw tensor data; initializers
// listed as inputs; dynamic dims; Constant nodes; folding of shape computations and float
// folded values turned into initializers; opset < 13 Softmax on a middle axis.
import SpruceCore
import SpruceONNX
import Testing
import _SpruceSupport

@Suite struct ImporterTests {
    let image = [P.valueInfo("x", [nil, 2, 2, 2])]

    func importOne(_ nodes: [ProtoMessage], initializers: [ProtoMessage] = [], inputs: [ProtoMessage]? = nil,
                   output: String = "y", opset: Int = 17) throws -> Model {
        try ONNXImporter.decode(tinyModel(nodes, initializers: initializers, inputs: inputs ?? image,
                                          outputs: [P.valueInfo(output, nil)], opset: opset))
    }

    @Test func dynamicDimsAndInitializersListedAsInputs() throws {
        let inputs = [P.valueInfo("x", [nil, 2, 2, 2]), P.valueInfo("w", [2]), P.valueInfo("z", [1, nil, 3])]
        let model = try ONNXImporter.decode(tinyModel([P.node("Add", ["x", "w"], ["y"], name: "add")],
                                                      initializers: [P.floats("w", [2], [1, 2])], inputs: inputs,
                                                      outputs: [P.valueInfo("y", [nil, 2, 2, 2])]))
        #expect(model.graph.inputs == [ValueInfo(name: "x", shape: [nil, 2, 2, 2]), ValueInfo(name: "z", shape: [1, nil, 3])])
        #expect(model.graph.initializers["w"] == Tensor(shape: [2], data: [1, 2]))
        #expect(model.producer == "test")
    }

    @Test func missingOutputShapeIsInferred() throws {
        let model = try importOne([P.node("Relu", ["x"], ["y"], name: "r")])
        #expect(model.graph.outputs == [ValueInfo(name: "y", shape: [nil, 2, 2, 2])])
    }

    @Test func floatDataAndTypedIntegers() throws {
        let w = P.tensor("w", dims: [2], type: P.float, floatData: [0.5, -1])
        let shape = P.tensor("shape", dims: [2], type: P.int64, int64Data: [0, -1])
        let shape32 = P.tensor("shape32", dims: [2], type: P.int32, raw: rawBytes(int32s: [0, 8]))
        let model = try importOne([P.node("Mul", ["x", "w"], ["m"], name: "mul"),
                                   P.node("Reshape", ["m", "shape"], ["r"], name: "reshape"),
                                   P.node("Reshape", ["r", "shape32"], ["y"], name: "reshape32")],
                                  initializers: [w, shape, shape32])
        #expect(model.graph.initializers.keys.sorted() == ["w"])
        #expect(model.graph.initializers["w"]?.data == [0.5, -1])
        #expect(model.graph.nodes.map(\.op) == [.mul, .reshape(shape: [0, -1], allowZero: false), .reshape(shape: [0, 8], allowZero: false)])
    }

    @Test func unnamedNodesGetUniqueNames() throws {
        let model = try importOne([P.node("Relu", ["x"], ["a"]), P.node("Relu", ["a"], ["b"], name: "Relu_0"),
                                   P.node("Sigmoid", ["b"], ["y"])])
        #expect(model.graph.nodes.map(\.name) == ["Relu_0", "Relu_0_1", "Sigmoid_2"])
    }

    @Test func clipForms() throws {
        let attr = try importOne([P.node("Clip", ["x"], ["y"], name: "c", [.float("min", 0), .float("max", 6)])], opset: 6)
        #expect(attr.graph.nodes.first?.op == .clip(min: 0, max: 6))
        let inputs = try importOne([P.node("Constant", [], ["lo"], [.tensor("value", P.floats("", [], [-1]))]),
                                    P.node("Clip", ["x", "lo", "hi"], ["y"], name: "c")],
                                   initializers: [P.floats("hi", [], [1])], opset: 13)
        #expect(inputs.graph.nodes.map(\.op) == [.clip(min: -1, max: 1)])
        #expect(inputs.graph.nodes.first?.inputs == ["x"])
        #expect(inputs.graph.initializers.isEmpty, "bounds consumed as attributes leave no initializers")
        let onlyMax = try importOne([P.node("Clip", ["x", "", "hi"], ["y"], name: "c")], initializers: [P.floats("hi", [1], [6])])
        #expect(onlyMax.graph.nodes.first?.op == .clip(min: -.infinity, max: 6))
    }

    @Test func reduceMeanForms() throws {
        let old = try importOne([P.node("ReduceMean", ["x"], ["y"], name: "rm", [.ints("axes", [-1, 2]), .int("keepdims", 0)])])
        #expect(old.graph.nodes.first?.op == .reduceMean(axes: [2, 3], keepDims: false))
        let new = try importOne([P.node("ReduceMean", ["x", "axes"], ["y"], name: "rm")],
                                initializers: [P.int64s("axes", [2], [2, 3])], opset: 18)
        #expect(new.graph.nodes.first?.op == .reduceMean(axes: [2, 3], keepDims: true))
        #expect(new.graph.nodes.first?.inputs == ["x"])
    }

    @Test func squeezeUnsqueezeForms() throws {
        let old = try importOne([P.node("Unsqueeze", ["x"], ["u"], name: "u", [.ints("axes", [4])]),
                                 P.node("Squeeze", ["u"], ["y"], name: "s", [.ints("axes", [4])])], opset: 11)
        #expect(old.graph.nodes.map(\.op) == [.unsqueeze(axes: [4]), .squeeze(axes: [4])])
        let new = try importOne([P.node("Unsqueeze", ["x", "a"], ["u"], name: "u"), P.node("Squeeze", ["u", "a"], ["y"], name: "s")],
                                initializers: [P.int64s("a", [1], [4])])
        #expect(new.graph.nodes.map(\.op) == [.unsqueeze(axes: [4]), .squeeze(axes: [4])])
        #expect(new.graph.initializers.isEmpty)
    }

    @Test func padForms() throws {
        let old = try importOne([P.node("Pad", ["x"], ["y"], name: "p", [.ints("pads", [0, 0, 1, 1, 0, 0, 1, 1]), .float("value", 2)])], opset: 2)
        #expect(old.graph.nodes.first?.op == .pad(pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 2))
        let new = try importOne([P.node("Pad", ["x", "pads", "v"], ["y"], name: "p")],
                                initializers: [P.int64s("pads", [8], [0, 0, 1, 1, 0, 0, 1, 1]), P.floats("v", [], [2])])
        #expect(new.graph.nodes.first?.op == .pad(pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 2))
        let axes = try importOne([P.node("Pad", ["x", "pads", "", "axes"], ["y"], name: "p")],
                                 initializers: [P.int64s("pads", [4], [1, 1, 2, 2]), P.int64s("axes", [2], [2, -1])], opset: 18)
        #expect(axes.graph.nodes.first?.op == .pad(pads: [0, 0, 1, 1, 0, 0, 2, 2], value: 0))
        // Reflect and edge, as attributes (Pad-2) and as inputs; a value input means nothing there.
        let oldReflect = try importOne([P.node("Pad", ["x"], ["y"], name: "p", [.ints("pads", [0, 0, 1, 1, 0, 0, 1, 1]),
                                                                               .string("mode", "reflect"), .float("value", 3)])], opset: 2)
        #expect(oldReflect.graph.nodes.first?.op == .pad(pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 0, mode: .reflect))
        let edge = try importOne([P.node("Pad", ["x", "pads", "v"], ["y"], name: "p", [.string("mode", "edge")])],
                                 initializers: [P.int64s("pads", [8], [0, 0, 2, 0, 0, 0, 0, 3]), P.floats("v", [], [2])])
        #expect(edge.graph.nodes.first?.op == .pad(pads: [0, 0, 2, 0, 0, 0, 0, 3], value: 0, mode: .edge))
        #expect(edge.graph.initializers.isEmpty)
    }

    @Test func dropoutMaskAndUnusedTrainingOutputsAreDropped() throws {
        let bnInit = ["s", "b", "m", "v"].map { P.floats($0, [2], [1, 1]) }
        let model = try importOne([P.node("BatchNormalization", ["x", "s", "b", "m", "v"], ["n", "rm", "rv"], name: "bn"),
                                   P.node("Dropout", ["n"], ["y", "mask"], name: "drop", [.float("ratio", 0.2)])],
                                  initializers: bnInit)
        #expect(model.graph.nodes.map(\.outputs) == [["n"], ["y"]])
        #expect(model.graph.nodes.map(\.op) == [.batchNormalization(epsilon: 1e-5), .dropout])
    }

    @Test func poolAndConvAttributes() throws {
        let w = P.floats("w", [2, 1, 3, 3], [Float](repeating: 0.1, count: 18))
        let model = try importOne([P.node("Conv", ["x", "w"], ["c"], name: "conv", [.int("group", 2), .string("auto_pad", "SAME_UPPER")]),
                                   P.node("AveragePool", ["c"], ["a"], name: "ap",
                                          [.ints("kernel_shape", [2, 2]), .int("count_include_pad", 1), .int("ceil_mode", 1), .ints("pads", [0, 0, 1, 1])]),
                                   P.node("MaxPool", ["a"], ["y"], name: "mp", [.ints("kernel_shape", [1, 1]), .string("auto_pad", "VALID")])],
                                  initializers: [w])
        #expect(model.graph.nodes[0].op == .conv(ConvAttributes(kernelShape: [3, 3], groups: 2, autoPad: .sameUpper)))
        #expect(model.graph.nodes[1].op == .averagePool(PoolAttributes(kernelShape: [2, 2], pads: [0, 0, 1, 1], countIncludePad: true, ceilMode: true)))
        #expect(model.graph.nodes[2].op == .maxPool(PoolAttributes(kernelShape: [1, 1], autoPad: .valid)))
    }

    @Test func identityOfWeightIsAnAlias() throws {
        let w = P.floats("w", [2, 2, 1, 1], [1, 0, 0, 1])
        let model = try importOne([P.node("Identity", ["w"], ["w2"], name: "id"),
                                   P.node("Conv", ["x", "w2"], ["y"], name: "conv")], initializers: [w])
        #expect(model.graph.nodes.map(\.name) == ["conv"])
        #expect(model.graph.initializers["w2"] == model.graph.initializers["w"])
        #expect(model.graph.nodes[0].op == .conv(ConvAttributes(kernelShape: [1, 1])))
    }

    @Test func constantNodeForms() throws {
        let model = try importOne([
            P.node("Constant", [], ["f"], name: "cf", [.float("value_float", 2)]),
            P.node("Constant", [], ["fs"], name: "cfs", [.ints("value_ints", [0, -1])]),
            P.node("Mul", ["x", "f"], ["m"], name: "mul"),
            P.node("Reshape", ["m", "fs"], ["y"], name: "reshape"),
        ])
        #expect(model.graph.initializers == ["f": Tensor(scalar: 2)])
        #expect(model.graph.nodes.map(\.op) == [.mul, .reshape(shape: [0, -1], allowZero: false)])
        let stringConstant = onnxError { try importOne_([P.node("Constant", [], ["y"], name: "c", [.string("value_string", "hi")])],
                                                        initializers: []) }
        #expect(stringConstant == .unsupportedAttribute(node: "c", op: "Constant", attribute: "value_string", detail: "constant kind not supported"))
    }

    /// Sparse initializers with [nnz, rank] coordinate indices densify like linear ones.
    @Test func sparseInitializerWithCoordinates() throws {
        var sparse = ProtoMessage()
        sparse.message(1, P.floats("w", [2], [5, 7]))
        sparse.message(2, P.int64s("", [2, 2], [0, 1, 1, 0]))
        sparse.int(3, 2)
        sparse.int(3, 2)
        var graph = P.graph(nodes: [P.node("MatMul", ["x", "w"], ["y"], name: "mm")], inputs: [P.valueInfo("x", [1, 2])],
                            outputs: [P.valueInfo("y", [1, 2])])
        graph.message(15, sparse)
        let model = try ONNXImporter.decode(P.model(graph))
        #expect(model.graph.initializers["w"] == Tensor(shape: [2, 2], data: [0, 5, 7, 0]))
        var bad = ProtoMessage()
        bad.message(1, P.floats("w", [1], [5]))
        bad.message(2, P.int64s("", [1], [4]))
        bad.int(3, 2)
        bad.int(3, 2)
        var badGraph = P.graph(nodes: [], inputs: [], outputs: [])
        badGraph.message(15, bad)
        guard case .badTensorDataSize(tensor: "w", _, _, _) = onnxError({ try ONNXImporter.decode(P.model(badGraph)) }) else {
            Issue.record("out-of-range sparse index accepted"); return
        }
    }

    // MARK: - Constant folding

    /// PyTorch's `x.view(x.size(0), -1)`: Shape → Gather → Unsqueeze → Concat → Reshape.
    @Test(arguments: [11, 13])
    func pytorchFlattenFoldsToCopyAndInfer(opset: Int) throws {
        let unsqueeze = opset >= 13
            ? P.node("Unsqueeze", ["n", "zeroAxis"], ["n1"], name: "unsq")
            : P.node("Unsqueeze", ["n"], ["n1"], name: "unsq", [.ints("axes", [0])])
        let model = try importOne([
            P.node("Shape", ["x"], ["s"], name: "shape"),
            P.node("Constant", [], ["i0"], name: "c0", [.tensor("value", P.int64s("", [], [0]))]),
            P.node("Gather", ["s", "i0"], ["n"], name: "gather", [.int("axis", 0)]),
            unsqueeze,
            P.node("Concat", ["n1", "minus1"], ["target"], name: "cat", [.int("axis", 0)]),
            P.node("Reshape", ["x", "target"], ["y"], name: "reshape"),
        ], initializers: [P.int64s("minus1", [1], [-1]), P.int64s("zeroAxis", [1], [0])], opset: opset)
        #expect(model.graph.nodes == [Node(name: "reshape", op: .reshape(shape: [0, -1], allowZero: false), inputs: ["x"], outputs: ["y"])])
        #expect(model.graph.outputs == [ValueInfo(name: "y", shape: [nil, 8])])
    }

    /// Batch-dependent entry not at the same position: becomes -1 (the only unknown).
    @Test func dynamicEntryBecomesMinusOne() throws {
        let model = try importOne([
            P.node("Shape", ["x"], ["s"], name: "shape"),
            P.node("Slice", ["s", "start", "end"], ["n"], name: "slice"),
            P.node("Mul", ["n", "two"], ["n2"], name: "mul"),
            P.node("Concat", ["four", "n2"], ["target"], name: "cat", [.int("axis", 0)]),
            P.node("Reshape", ["x", "target"], ["y"], name: "reshape"),
        ], initializers: [P.int64s("start", [1], [0]), P.int64s("end", [1], [1]), P.int64s("two", [1], [2]), P.int64s("four", [1], [4])])
        #expect(model.graph.nodes.map(\.op) == [.reshape(shape: [4, -1], allowZero: false)])
    }

    @Test func twoDynamicEntriesAreRejected() {
        let error = onnxError { try importOne_([
            P.node("Shape", ["x"], ["s"], name: "shape"),
            P.node("Gather", ["s", "zero"], ["n"], name: "g"),
            P.node("Concat", ["n", "n", "minus1"], ["target"], name: "cat", [.int("axis", 0)]),
            P.node("Reshape", ["x", "target"], ["y"], name: "reshape"),
        ], initializers: [P.int64s("zero", [1], [0]), P.int64s("minus1", [1], [-1])]) }
        guard case .unsupportedAttribute("reshape", "Reshape", "shape", _) = error else { Issue.record("got \(String(describing: error))"); return }
    }

    private func importOne_(_ nodes: [ProtoMessage], initializers: [ProtoMessage]) throws -> Model {
        try importOne(nodes, initializers: initializers)
    }

    /// Static chains: Shape of a weight, Cast, ConstantOfShape, Div, Squeeze, Slice with INT64 extremes.
    @Test func staticShapeChainsFold() throws {
        let w = P.floats("w", [2, 4], [Float](repeating: 1, count: 8))
        let model = try importOne([
            P.node("Shape", ["w"], ["ws"], name: "shape"),                                   // [2, 4]
            P.node("Cast", ["ws"], ["wf"], name: "tofloat", [.int("to", 1)]),                // [2.0, 4.0]
            P.node("Div", ["wf", "two"], ["half"], name: "half"),                            // [1.0, 2.0]
            P.node("Cast", ["half"], ["hi"], name: "toint", [.int("to", 7)]),                // [1, 2]
            P.node("ConstantOfShape", ["one"], ["ones"], name: "cos", [.tensor("value", P.int64s("", [1], [2]))]),  // [2]
            P.node("Mul", ["hi", "ones"], ["dims"], name: "mul"),                            // [2, 4]
            P.node("Slice", ["dims", "big", "small", "zero", "minus1"], ["rev"], name: "reverse"),  // [4, 2]
            P.node("Unsqueeze", ["rev", "zero"], ["rev2"], name: "unsq"),                    // [[4, 2]]
            P.node("Squeeze", ["rev2", "zero"], ["target"], name: "sq"),                     // [4, 2]
            P.node("Reshape", ["w", "target"], ["wr"], name: "reshape"),
            P.node("MatMul", ["x", "wr"], ["y"], name: "mm"),
        ], initializers: [w, P.floats("two", [], [2]), P.int64s("one", [1], [1]),
                          P.tensor("big", dims: [1], type: P.int64, int64Data: [Int(Int64.max)]),
                          P.tensor("small", dims: [1], type: P.int64, int64Data: [Int(Int64.min)]),
                          P.int64s("zero", [1], [0]), P.int64s("minus1", [1], [-1])],
           inputs: [P.valueInfo("x", [nil, 4])])
        #expect(model.graph.nodes.map(\.op) == [.reshape(shape: [4, 2], allowZero: false), .matMul])
        #expect(model.graph.initializers.keys.sorted() == ["w"])
    }

    @Test func sliceWithNegativeStepFolds() throws {
        let model = try importOne([
            P.node("Shape", ["x"], ["s"], name: "shape"),                                     // [N, 2, 2, 2]
            P.node("Slice", ["s", "start", "end", "axes", "steps"], ["tail"], name: "slice"), // reversed last three: [2, 2, 2]
            P.node("Concat", ["minus1", "tail"], ["target"], name: "cat", [.int("axis", 0)]),
            P.node("Reshape", ["x", "target"], ["y"], name: "reshape"),
        ], initializers: [P.int64s("start", [1], [-1]), P.int64s("end", [1], [0]), P.int64s("axes", [1], [0]),
                          P.int64s("steps", [1], [-1]), P.int64s("minus1", [1], [-1])])
        #expect(model.graph.nodes.map(\.op) == [.reshape(shape: [-1, 2, 2, 2], allowZero: false)])
    }

    @Test func foldingErrorsNameTheNode() {
        let error = onnxError { try importOne_([
            P.node("Shape", ["x"], ["s"], name: "shape"),
            P.node("Gather", ["s", "seven"], ["n"], name: "badGather"),
            P.node("Reshape", ["x", "n"], ["y"], name: "reshape"),
        ], initializers: [P.int64s("seven", [1], [7])]) }
        guard case .constantFolding("badGather", "Gather", _) = error else { Issue.record("got \(String(describing: error))"); return }
    }

    /// Float values computed at import (ConstantOfShape, Cast of an int64 Constant, Shape of a
    /// weight → ConstantOfShape → Cast, float arithmetic) become initializers once a run-time
    /// node reads them, and can still feed later folding.
    @Test func foldedFloatsReadAtRunTimeBecomeInitializers() throws {
        let model = try importOne([
            P.node("Constant", [], ["shape"], name: "shapeConst", [.tensor("value", P.int64s("", [4], [1, 2, 1, 1]))]),
            P.node("ConstantOfShape", ["shape"], ["half"], name: "cos", [.tensor("value", P.floats("", [1], [0.5]))]),
            P.node("Constant", [], ["ints"], name: "intsConst", [.tensor("value", P.int64s("", [1, 2, 1, 1], [1, 2]))]),
            P.node("Cast", ["ints"], ["intsf"], name: "tofloat", [.int("to", 1)]),
            P.node("Shape", ["w"], ["ws"], name: "wshape"),
            P.node("ConstantOfShape", ["ws"], ["ones"], name: "cos2", [.tensor("value", P.int64s("", [1], [1]))]),
            P.node("Cast", ["ones"], ["onesf"], name: "tofloat2", [.int("to", 1)]),
            P.node("Mul", ["w", "onesf"], ["wc"], name: "wc"),            // folds: [3, 4]
            P.node("Mul", ["x", "half"], ["a"], name: "mul"),             // half becomes an initializer
            P.node("Add", ["half", "intsf"], ["sum"], name: "fold"),      // still folds: [1.5, 2.5]
            P.node("Add", ["a", "sum"], ["b"], name: "add"),
            P.node("Mul", ["b", "half"], ["c"], name: "mul2"),            // a second run-time reader
            P.node("Sub", ["c", "wc"], ["y"], name: "sub"),
        ], initializers: [P.floats("w", [1, 2, 1, 1], [3, 4])])
        #expect(model.graph.nodes.map(\.name) == ["mul", "add", "mul2", "sub"])
        #expect(model.graph.initializers == ["half": Tensor(shape: [1, 2, 1, 1], data: [0.5, 0.5]),
                                             "sum": Tensor(shape: [1, 2, 1, 1], data: [1.5, 2.5]),
                                             "wc": Tensor(shape: [1, 2, 1, 1], data: [3, 4])])
        // x = 2, batch 3: y = (2·0.5 + [1.5, 2.5])·0.5 − [3, 4] = [−1.75, −2.25] per channel.
        let y = try ReferenceExecutor(graph: model.graph).run(["x": Tensor(shape: [3, 2, 2, 2], repeating: 2)])["y"]
        let plane: [Float] = [Float](repeating: -1.75, count: 4) + [Float](repeating: -2.25, count: 4)
        #expect(y == Tensor(shape: [3, 2, 2, 2], data: plane + plane + plane))
    }

    /// Opset < 13 Softmax on a middle axis: Flatten → Softmax(1) → Reshape, the dynamic batch as
    /// −1, with invented node and value names that avoid the model's own.
    @Test func legacySoftmaxOnAMiddleAxis() throws {
        let model = try importOne([
            P.node("Relu", ["x"], ["sm_flatten"], name: "sm_flatten"),
            P.node("Softmax", ["sm_flatten"], ["y"], name: "sm", [.int("axis", 1)]),
        ], inputs: [P.valueInfo("x", [nil, 2, 3])], opset: 11)
        #expect(model.graph.nodes.map(\.name) == ["sm_flatten", "sm_flatten_1", "sm", "sm_reshape"])
        #expect(model.graph.nodes.map(\.op) == [.relu, .flatten(axis: 1), .softmax(axis: 1),
                                                .reshape(shape: [-1, 2, 3], allowZero: false)])
        #expect(model.graph.nodes.map(\.inputs) == [["x"], ["sm_flatten"], ["sm_flatten_1"], ["sm_softmax"]])
        #expect(model.graph.outputs == [ValueInfo(name: "y", shape: [nil, 2, 3])])
        // Each batch row normalizes over all 6 of its values; row 2 is row 1 + 10, which
        // softmax cannot see, so both rows are softmax(0, 1, …, 5).
        let x = Tensor(shape: [2, 2, 3], data: (0..<12).map { Float($0 % 6 + ($0 < 6 ? 0 : 10)) })
        let y = try #require(try ReferenceExecutor(graph: model.graph).run(["x": x])["y"])
        let e = (0..<6).map { expf(Float($0)) }
        let row = e.map { $0 / e.reduce(0, +) }
        #expect(y.shape == [2, 2, 3])
        #expect(zip(y.data, row + row).allSatisfy { abs($0 - $1) < 1e-6 })
    }
}
