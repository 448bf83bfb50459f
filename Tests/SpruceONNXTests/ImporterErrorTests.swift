// Every import error path: garbage, each truncation of a small model, missing graph/opset,
// unsupported operators and attributes, bad tensor sizes, external data problems, folded
// constants used as tensors, dropped outputs that are read. Each must throw, never crash.
import SpruceCore
import SpruceONNX
import Testing

typealias P = OnnxProto

/// x[1,2] → Relu → y: the smallest valid model.
func tinyModel(_ nodes: [ProtoMessage] = [P.node("Relu", ["x"], ["y"], name: "relu")],
               initializers: [ProtoMessage] = [], inputs: [ProtoMessage] = [P.valueInfo("x", [1, 2])],
               outputs: [ProtoMessage] = [P.valueInfo("y", [1, 2])], opset: Int? = 17) -> [UInt8] {
    P.model(P.graph(nodes: nodes, initializers: initializers, inputs: inputs, outputs: outputs), opset: opset)
}

/// Runs `body` and returns the ONNXError it throws (nil if it returns or throws something else).
func onnxError(_ body: () throws -> Model) -> ONNXError? {
    do { _ = try body(); return nil } catch let error as ONNXError { return error } catch { return nil }
}

@Suite struct ImporterErrorTests {
    @Test func tinyModelImports() throws {
        let model = try ONNXImporter.decode(tinyModel())
        #expect(model.graph.nodes == [Node(name: "relu", op: .relu, inputs: ["x"], outputs: ["y"])])
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5])
    func garbageBytesThrow(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let bytes = (0..<(64 * Int(seed))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        #expect(throws: ONNXError.self) { try ONNXImporter.decode(bytes) }
    }

    @Test func textIsNotAModel() {
        let error = onnxError { try ONNXImporter.decode(Array("hello, this is not onnx".utf8)) }
        guard case .notProtobuf = error else { Issue.record("got \(String(describing: error))"); return }
    }

    /// Every proper prefix of a small exported model fails cleanly. (The model carries no
    /// metadata: a cut just before metadata_props would otherwise leave a valid model.)
    @Test func everyTruncationThrows() throws {
        var model = SampleModels.static2D()
        model.metadata = [:]
        let bytes = try ONNXExporter.encode(model)
        #expect(try ONNXImporter.decode(bytes) == model)
        for length in 0..<bytes.count {
            #expect(throws: ONNXError.self, "prefix of \(length) bytes") { try ONNXImporter.decode(Array(bytes[..<length])) }
        }
    }

    @Test func missingGraphAndOpset() {
        guard case .missingGraph = onnxError({ try ONNXImporter.decode(P.model(nil)) }) else {
            Issue.record("missing graph not reported"); return
        }
        guard case .missingOpset = onnxError({ try ONNXImporter.decode(tinyModel(opset: nil)) }) else {
            Issue.record("missing opset not reported"); return
        }
    }

    @Test func unreadableFile() {
        let error = onnxError { try ONNXImporter.load(path: "/nonexistent/model.onnx") }
        guard case .unreadableFile(let path, _) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path == "/nonexistent/model.onnx")
    }

    @Test func unsupportedOperatorNamesOpAndNode() {
        let error = onnxError { try ONNXImporter.decode(tinyModel([P.node("LeakyRelu", ["x"], ["y"], name: "act7")])) }
        #expect(error == .unsupportedOperator(op: "LeakyRelu", node: "act7"))
        #expect(error?.description.contains("LeakyRelu") == true && error?.description.contains("act7") == true)
        let unnamed = onnxError { try ONNXImporter.decode(tinyModel([P.node("Relu", ["x"], ["h"]), P.node("Elu", ["h"], ["y"])])) }
        #expect(unnamed == .unsupportedOperator(op: "Elu", node: "Elu_1"))
        let domain = onnxError { try ONNXImporter.decode(tinyModel([P.node("FusedConv", ["x"], ["y"], name: "f", domain: "com.microsoft")])) }
        #expect(domain == .unsupportedOperator(op: "com.microsoft.FusedConv", node: "f"))
    }

    @Test func badRawDataSize() {
        let weight = P.tensor("w", dims: [2, 2], type: P.float, raw: rawBytes(floats: [1, 2, 3]))
        let error = onnxError { try ONNXImporter.decode(tinyModel([P.node("Add", ["x", "w"], ["y"], name: "add")], initializers: [weight])) }
        #expect(error == .badTensorDataSize(tensor: "w", expected: 16, actual: 12, field: "raw_data"))
        let typed = P.tensor("w", dims: [3], type: P.float, floatData: [1, 2])
        let typedError = onnxError { try ONNXImporter.decode(tinyModel(initializers: [typed])) }
        #expect(typedError == .badTensorDataSize(tensor: "w", expected: 3, actual: 2, field: "float_data"))
    }

    @Test func invalidDimsAndDataTypes() {
        let negative = P.tensor("w", dims: [-1, 2], type: P.float, raw: [])
        #expect(onnxError { try ONNXImporter.decode(tinyModel(initializers: [negative])) } == .invalidTensorShape(tensor: "w", dims: [-1, 2]))
        let huge = P.tensor("w", dims: [1 << 40, 1 << 40], type: P.float, raw: [])
        #expect(onnxError { try ONNXImporter.decode(tinyModel(initializers: [huge])) } == .invalidTensorShape(tensor: "w", dims: [1 << 40, 1 << 40]))
        let strings = P.tensor("labels", dims: [1], type: 8)
        #expect(onnxError { try ONNXImporter.decode(tinyModel(initializers: [strings])) } == .unsupportedDataType(tensor: "labels", dataType: "STRING"))
        let intInput = P.valueInfo("x", [1, 2], elemType: P.int64)
        #expect(onnxError { try ONNXImporter.decode(tinyModel(inputs: [intInput])) } == .unsupportedDataType(tensor: "x", dataType: "INT64"))
    }

    @Test func externalDataMissingAndOutOfRange() throws {
        let directory = try TemporaryDirectory()
        try directory.write(rawBytes(floats: [1, 2, 3, 4]), to: "weights.bin")
        func model(_ location: String, offset: Int, length: Int) -> [UInt8] {
            let w = P.tensor("w", dims: [2], type: P.float, external: [("location", location), ("offset", "\(offset)"), ("length", "\(length)")])
            return tinyModel([P.node("Add", ["x", "w"], ["y"], name: "add")], initializers: [w])
        }
        let ok = try ONNXImporter.decode(model("weights.bin", offset: 8, length: 8), baseDirectory: directory.path)
        #expect(ok.graph.initializers["w"] == Tensor(shape: [2], data: [3, 4]))
        try directory.write(model("weights.bin", offset: 4, length: 8), to: "model.onnx")
        #expect(try ONNXImporter.load(path: directory.path + "/model.onnx").graph.initializers["w"]?.data == [2, 3])

        let missing = onnxError { try ONNXImporter.decode(model("nope.bin", offset: 0, length: 8), baseDirectory: directory.path) }
        #expect(missing == .externalDataMissing(tensor: "w", path: directory.path + "/nope.bin"))
        let range = onnxError { try ONNXImporter.decode(model("weights.bin", offset: 12, length: 8), baseDirectory: directory.path) }
        #expect(range == .externalDataOutOfRange(tensor: "w", path: directory.path + "/weights.bin", offset: 12, length: 8, fileSize: 16))
        let negative = onnxError { try ONNXImporter.decode(model("weights.bin", offset: -4, length: 8), baseDirectory: directory.path) }
        guard case .externalDataOutOfRange = negative else { Issue.record("negative offset: \(String(describing: negative))"); return }
        let short = onnxError { try ONNXImporter.decode(model("weights.bin", offset: 0, length: 4), baseDirectory: directory.path) }
        #expect(short == .badTensorDataSize(tensor: "w", expected: 8, actual: 4, field: "external data"))
    }

    @Test func nonConstantWhereConstantRequired() {
        let nodes = [P.node("Relu", ["x"], ["lo"], name: "r"), P.node("Clip", ["x", "lo"], ["y"], name: "clip")]
        #expect(onnxError { try ONNXImporter.decode(tinyModel(nodes)) } == .nonConstantInput(node: "clip", op: "Clip", input: "lo"))
    }

    /// Bad Slice and Split attributes fail with one error naming the node and what is wrong.
    @Test func sliceAndSplitErrorsNameTheNode() {
        let lists = [P.int64s("s", [1], [0]), P.int64s("e", [1], [2]), P.int64s("a", [1], [1]), P.int64s("zero", [1], [0])]
        let zeroStep = onnxError { try ONNXImporter.decode(tinyModel([P.node("Slice", ["x", "s", "e", "a", "zero"], ["y"], name: "crop")],
                                                                   initializers: lists)) }
        guard case .invalidGraph(.invalidAttribute("crop", "Slice", let detail)) = zeroStep else {
            Issue.record("got \(String(describing: zeroStep))"); return
        }
        #expect(detail.contains("step 0"))
        let dynamic = [P.node("Relu", ["x"], ["r"], name: "r"), P.node("Slice", ["x", "r", "e"], ["y"], name: "crop")]
        #expect(onnxError { try ONNXImporter.decode(tinyModel(dynamic, initializers: lists)) }
            == .nonConstantInput(node: "crop", op: "Slice", input: "r"))

        let twoOutputs = [P.valueInfo("y", [1, 1]), P.valueInfo("z", [1, 1])]
        let badSizes = onnxError { try ONNXImporter.decode(tinyModel([P.node("Split", ["x", "sizes"], ["y", "z"], name: "cut", [.int("axis", 1)])],
                                                                   initializers: [P.int64s("sizes", [2], [1, 2])], outputs: twoOutputs)) }
        guard case .invalidGraph(.shapeMismatch("cut", "Split", let sizesDetail)) = badSizes else {
            Issue.record("got \(String(describing: badSizes))"); return
        }
        #expect(sizesDetail.contains("[1, 2]"))
        let uneven = onnxError { try ONNXImporter.decode(tinyModel([P.node("Split", ["x"], ["y", "z", "w"], name: "cut", [.int("axis", 1)])],
                                                                 outputs: twoOutputs)) }
        guard case .unsupportedAttribute("cut", "Split", "split", _) = uneven else { Issue.record("got \(String(describing: uneven))"); return }
        let count = onnxError { try ONNXImporter.decode(tinyModel([P.node("Split", ["x"], ["y", "z"], name: "cut", [.int("axis", 1), .int("num_outputs", 3)])],
                                                                outputs: twoOutputs, opset: 18)) }
        guard case .unsupportedAttribute("cut", "Split", "num_outputs", _) = count else { Issue.record("got \(String(describing: count))"); return }
    }

    @Test func unsupportedAttributeValues() {
        let pads = P.int64s("pads", [4], [0, 1, 0, 1])
        let wrap = [P.node("Pad", ["x", "pads"], ["y"], name: "pad", [.string("mode", "wrap")])]
        let error = onnxError { try ONNXImporter.decode(tinyModel(wrap, initializers: [pads], outputs: [P.valueInfo("y", [1, 4])], opset: 19)) }
        guard case .unsupportedAttribute(let node, let op, let attribute, _) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(node == "pad" && op == "Pad" && attribute == "mode")
        #expect(error?.description.contains("'wrap' padding") == true)

        let conv1d = [P.node("Conv", ["x", "w"], ["y"], name: "c", [.ints("kernel_shape", [1])])]
        let w = P.floats("w", [1, 1, 1], [1])
        guard case .unsupportedAttribute(_, _, "kernel_shape", _) = onnxError({
            try ONNXImporter.decode(tinyModel(conv1d, initializers: [w], inputs: [P.valueInfo("x", [1, 1, 2])]))
        }) else { Issue.record("1-D conv accepted"); return }
    }

    @Test func legacySoftmaxForms() throws {
        let image = [P.valueInfo("x", [1, 2, 3, 3])]
        // Axis 1 of a 4-D input with two dynamic dims: one Reshape cannot restore both.
        let twoDynamic = [P.valueInfo("x", [nil, 2, nil, 3])]
        let bad = onnxError { try ONNXImporter.decode(tinyModel([P.node("Softmax", ["x"], ["y"], name: "sm")], inputs: twoDynamic,
                                                                  outputs: [P.valueInfo("y", nil)], opset: 11)) }
        guard case .unsupportedAttribute("sm", "Softmax", "axis", _) = bad else { Issue.record("got \(String(describing: bad))"); return }
        let outOfRange = onnxError { try ONNXImporter.decode(tinyModel([P.node("Softmax", ["x"], ["y"], name: "sm", [.int("axis", 4)])],
                                                                         inputs: image, outputs: [P.valueInfo("y", nil)], opset: 11)) }
        guard case .unsupportedAttribute("sm", "Softmax", "axis", _) = outOfRange else { Issue.record("got \(String(describing: outOfRange))"); return }
        let static4D = try ONNXImporter.decode(tinyModel([P.node("Softmax", ["x"], ["y"], name: "sm")], inputs: image,
                                                         outputs: [P.valueInfo("y", [1, 2, 3, 3])], opset: 11))
        #expect(static4D.graph.nodes.map(\.op) == [.flatten(axis: 1), .softmax(axis: 1), .reshape(shape: [1, 2, 3, 3], allowZero: false)])
        let ok = try ONNXImporter.decode(tinyModel([P.node("Softmax", ["x"], ["y"], name: "sm")], opset: 11))
        #expect(ok.graph.nodes.first?.op == .softmax(axis: 1))
        let modern = try ONNXImporter.decode(tinyModel([P.node("Softmax", ["x"], ["y"], name: "sm")], inputs: image,
                                                       outputs: [P.valueInfo("y", [1, 2, 3, 3])], opset: 13))
        #expect(modern.graph.nodes.first?.op == .softmax(axis: -1))
    }

    @Test func droppedOutputsMustBeUnused() {
        let bnInit = ["s", "b", "m", "v"].map { P.floats($0, [2], [1, 1]) }
        let image = [P.valueInfo("x", [1, 2, 2, 2])]
        let bn = P.node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "runMean"], name: "bn")
        let used = onnxError { try ONNXImporter.decode(tinyModel([bn, P.node("Relu", ["runMean"], ["z"], name: "r")], initializers: bnInit,
                                                                   inputs: image, outputs: [P.valueInfo("y", nil), P.valueInfo("z", nil)])) }
        #expect(used == .unsupportedOutputUsed(node: "bn", op: "BatchNormalization", output: "runMean"))

        let pool = P.node("MaxPool", ["x"], ["y", "idx"], name: "mp", [.ints("kernel_shape", [2, 2])])
        let poolError = onnxError { try ONNXImporter.decode(tinyModel([pool], inputs: image, outputs: [P.valueInfo("y", nil), P.valueInfo("idx", nil)])) }
        #expect(poolError == .unsupportedOutputUsed(node: "mp", op: "MaxPool", output: "idx"))
    }

    /// LayerNormalization's Mean and InvStdDev are training outputs: unused they are dropped,
    /// read by anything they are an error naming the node and the output. A scale that does not
    /// match the normalized axes and an unknown Gelu approximation are errors naming the node.
    @Test func layerNormalizationAndGeluErrors() throws {
        let scale = [P.floats("s", [2], [1, 2])]
        let ln = P.node("LayerNormalization", ["x", "s"], ["y", "mean", "invStd"], name: "ln", [.float("epsilon", 1e-6)])
        let plain = try ONNXImporter.decode(tinyModel([ln], initializers: scale))
        #expect(plain.graph.nodes == [Node(name: "ln", op: .layerNormalization(axis: -1, epsilon: 1e-6), inputs: ["x", "s"],
                                           outputs: ["y"])])
        for (output, consumer) in [("mean", "Relu"), ("invStd", "Sigmoid")] {
            let error = onnxError { try ONNXImporter.decode(tinyModel([ln, P.node(consumer, [output], ["z"], name: "reader")],
                                                                       initializers: scale,
                                                                       outputs: [P.valueInfo("y", nil), P.valueInfo("z", nil)])) }
            #expect(error == .unsupportedOutputUsed(node: "ln", op: "LayerNormalization", output: output))
            #expect(error?.description.contains("'\(output)'") == true)
        }
        let asOutput = onnxError { try ONNXImporter.decode(tinyModel([ln], initializers: scale,
                                                                      outputs: [P.valueInfo("y", nil), P.valueInfo("invStd", nil)])) }
        #expect(asOutput == .unsupportedOutputUsed(node: "ln", op: "LayerNormalization", output: "invStd"))

        let wrongScale = onnxError { try ONNXImporter.decode(tinyModel([P.node("LayerNormalization", ["x", "s3"], ["y"], name: "ln3")],
                                                                        initializers: [P.floats("s3", [3], [1, 2, 3])])) }
        guard case .invalidGraph(let graphError) = wrongScale else { Issue.record("got \(String(describing: wrongScale))"); return }
        #expect("\(graphError)".contains("ln3"))

        let gelu = onnxError { try ONNXImporter.decode(tinyModel([P.node("Gelu", ["x"], ["y"], name: "act", [.string("approximate", "erf")])],
                                                                  opset: 20)) }
        #expect(gelu == .unsupportedAttribute(node: "act", op: "Gelu", attribute: "approximate", detail: "'erf' (none and tanh are defined)"))
        let tanh = try ONNXImporter.decode(tinyModel([P.node("Gelu", ["x"], ["y"], name: "act", [.string("approximate", "tanh")])], opset: 20))
        #expect(tanh.graph.nodes.first?.op == .gelu(tanhApproximation: true))
    }

    @Test func foldedValueUsedAsTensor() {
        let nodes = [P.node("Shape", ["x"], ["s"], name: "shape"), P.node("Relu", ["s"], ["y"], name: "relu")]
        #expect(onnxError { try ONNXImporter.decode(tinyModel(nodes)) } == .foldedValueUsedAtRuntime(node: "relu", value: "s"))
        let asOutput = [P.node("Shape", ["x"], ["y"], name: "shape")]
        #expect(onnxError { try ONNXImporter.decode(tinyModel(asOutput)) } == .foldedValueUsedAtRuntime(node: "graph output", value: "y"))
    }

    @Test func foldedIntegersAndDynamicValuesStayImportTimeOnly() {
        // An int64 ConstantOfShape read by a float Mul: ONNX itself would reject the mixed types.
        let ints = [P.node("ConstantOfShape", ["shape"], ["k"], name: "cos", [.tensor("value", P.int64s("", [1], [3]))]),
                    P.node("Mul", ["x", "k"], ["y"], name: "mul")]
        #expect(onnxError { try ONNXImporter.decode(tinyModel(ints, initializers: [P.int64s("shape", [1], [2])])) }
                == .foldedValueUsedAtRuntime(node: "mul", value: "k"))
        // A float made from the dynamic batch size has no single value to store.
        let dynamic = [P.node("Shape", ["x"], ["s"], name: "shape"),
                       P.node("Cast", ["s"], ["sf"], name: "cast", [.int("to", 1)]),
                       P.node("Mul", ["x", "sf"], ["y"], name: "mul")]
        #expect(onnxError { try ONNXImporter.decode(tinyModel(dynamic, inputs: [P.valueInfo("x", [nil, 2])], outputs: [P.valueInfo("y", nil)])) }
                == .foldedValueUsedAtRuntime(node: "mul", value: "sf"))
    }

    @Test func brokenGraphIsReported() {
        let nodes = [P.node("Relu", ["nowhere"], ["y"], name: "relu")]
        guard case .invalidGraph = onnxError({ try ONNXImporter.decode(tinyModel(nodes)) }) else {
            Issue.record("undefined input not reported"); return
        }
    }
}

/// Single-byte corruption anywhere in small models (exported, and hand-made with folding and
/// typed data) either imports or throws an ONNXError — the process must never trap.
@Suite struct CorruptionTests {
    static func samples() throws -> [[UInt8]] {
        let folding = tinyModel([
            P.node("Shape", ["x"], ["s"], name: "shape"),
            P.node("Gather", ["s", "i0"], ["n"], name: "g"),
            P.node("Unsqueeze", ["n", "zero"], ["n1"], name: "u"),
            P.node("Concat", ["n1", "minus1"], ["t"], name: "cat", [.int("axis", 0)]),
            P.node("Reshape", ["x", "t"], ["r"], name: "reshape"),
            P.node("Clip", ["r", "lo"], ["y"], name: "clip"),
        ], initializers: [P.int64s("i0", [], [0]), P.int64s("zero", [1], [0]), P.int64s("minus1", [1], [-1]), P.floats("lo", [], [0])],
           inputs: [P.valueInfo("x", [nil, 2, 2])], outputs: [P.valueInfo("y", [nil, 4])])
        return [try ONNXExporter.encode(SampleModels.static2D()), folding]
    }

    @Test(arguments: [0, 1])
    func everyByteFlipIsHandled(sample: Int) throws {
        let bytes = try Self.samples()[sample]
        var outcomes = [0, 0]
        for position in bytes.indices {
            for mask: UInt8 in [0xFF, 0x01, 0x80] {
                var corrupt = bytes
                corrupt[position] ^= mask
                do {
                    _ = try ONNXImporter.decode(corrupt)
                    outcomes[0] += 1
                } catch is ONNXError {
                    outcomes[1] += 1
                } catch {
                    Issue.record("byte \(position) ^ \(mask): non-ONNX error \(error)")
                }
            }
        }
        #expect(outcomes[1] > 0, "corruption never detected")
    }

    @Test(arguments: [0, 1])
    func randomMultiByteCorruptionIsHandled(sample: Int) throws {
        let bytes = try Self.samples()[sample]
        #expect(throws: Never.self) { try ONNXImporter.decode(bytes) }
        var rng = SplitMix64(seed: UInt64(sample) + 7)
        for _ in 0..<2000 {
            var corrupt = bytes
            for _ in 0..<(1 + Int(rng.next() % 8)) {
                corrupt[Int(rng.next() % UInt64(corrupt.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            do { _ = try ONNXImporter.decode(corrupt) } catch is ONNXError {} catch {
                Issue.record("non-ONNX error \(error)")
            }
        }
    }
}
