// The model zoo: the study's parameter-count table exactly, every architecture verifies and runs
// through the reference executor with probabilities in (0, 1), Keras's layer names and paddings,
// He initialisation statistics, determinism by seed, and the size / width / name errors.
import SpruceCore
@testable import SpruceTrain
import Testing

/// The study's table (Keras `model.summary()` with the dense(1) head): model, size, total, trainable, non-trainable.
let studyTable: [(ZooModel, Int, Int, Int, Int)] = [
    (.mobileNetV2, 224, 2_259_265, 2_225_153, 34_112),
    (.inceptionV3, 299, 21_804_833, 21_770_401, 34_432),
    (.resNet50V2, 224, 23_566_849, 23_521_409, 45_440),
    (.resNet152V2, 224, 58_333_697, 58_189_953, 143_744),
]

/// Keras 2.15 MobileNetV2(include_top=False, weights=None) + GAP + Dense(1) at other widths:
/// width, total, trainable, non-trainable (printed by `model.trainable_weights` in the venv).
let mobileNetWidthCounts: [(Float, Int, Int, Int)] = [
    (0.35, 411_489, 397_409, 14_080), (0.5, 707_505, 688_961, 18_544), (0.75, 1_383_345, 1_356_705, 26_640),
    (1.3, 3_767_713, 3_723_457, 44_256), (1.4, 4_365_505, 4_317_569, 47_936),
]

/// Uniform floats in [0, 1) from SplitMix64 (declared in ImageLoaderTests.swift).
func uniformTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = SplitMix64(state: seed)
    return Tensor(shape: shape, data: (0..<shape.elementCount).map { _ in Float(rng.next() >> 40) / Float(1 << 24) })
}

@Suite struct ZooModelTests {
    @Test(arguments: studyTable)
    func parameterCountsEqualTheStudysTable(model: ZooModel, size: Int, total: Int, trainable: Int, nonTrainable: Int) throws {
        let built = try ModelZoo.build(model, inputSize: size)
        let counts = built.parameterCounts
        #expect(counts.total == total)
        #expect(counts.trainable == trainable)
        #expect(counts.nonTrainable == nonTrainable)
        #expect(built.graph.parameterCount == total)
        #expect(built.graph.parametersPerNode.reduce(0, +) == total)
        try built.graph.verify()
        #expect(built.graph.inputs == [ValueInfo(name: "input", shape: [nil, 3, size, size])])
        #expect(built.graph.outputs == [ValueInfo(name: "output", shape: [nil, 1])])
    }

    @Test(arguments: [(ZooModel.mobileNetV2, 96), (.inceptionV3, 75), (.inceptionV3, 140), (.resNet50V2, 33)])
    func countsDoNotDependOnInputSize(model: ZooModel, size: Int) throws {
        let counts = try ModelZoo.build(model, inputSize: size).parameterCounts
        let row = try #require(studyTable.first { $0.0 == model })
        #expect(counts.total == row.2 && counts.trainable == row.3 && counts.nonTrainable == row.4)
    }

    @Test(arguments: mobileNetWidthCounts)
    func mobileNetWidths(width: Float, total: Int, trainable: Int, nonTrainable: Int) throws {
        let model = try ModelZoo.build(.mobileNetV2, inputSize: 96, width: width)
        #expect(model.parameterCounts == ParameterCounts(trainable: trainable, nonTrainable: nonTrainable))
        #expect(model.parameterCounts.total == total)
        try model.graph.verify()
    }

    /// Probabilities of a batch of two random images, and the logits before the sigmoid.
    func run(_ graph: Graph, size: Int, batch: Int = 2) throws -> (probabilities: Tensor, logits: Tensor) {
        var g = graph
        g.outputs.append(ValueInfo(name: "predictions", shape: [nil, 1]))
        let out = try ReferenceExecutor(graph: g).run(["input": uniformTensor([batch, 3, size, size], seed: 17)])
        return (try #require(out["output"]), try #require(out["predictions"]))
    }

    @Test(arguments: [(ZooModel.mobileNetV2, 32, Float(0.35)), (.mobileNetV2, 33, 1.0), (.inceptionV3, 75, 1.0),
                      (.resNet50V2, 32, 1.0)])
    func runsThroughTheReferenceExecutor(model: ZooModel, size: Int, width: Float) throws {
        let built = try ModelZoo.build(model, inputSize: size, width: width, seed: 3)
        try built.graph.verify()
        let (y, logits) = try run(built.graph, size: size)
        #expect(y.shape == [2, 1])
        #expect(y.data.allSatisfy { $0 > 0 && $0 < 1 }, "\(y.data)")
        #expect(logits.data[0] != logits.data[1])
    }

    /// ResNet152 v2 at He initialisation with BN at identity (inference mode, as Keras would run it
    /// untrained): each of its 50 pre-activation residual additions roughly doubles the variance,
    /// so the logit is huge and the sigmoid rounds to exactly 0 or 1 in float. Training normalises
    /// with batch statistics instead; here the graph must still run and stay finite.
    @Test func resNet152RunsAndStaysFinite() throws {
        let built = try ModelZoo.build(.resNet152V2, inputSize: 32, seed: 3)
        try built.graph.verify()
        let (y, logits) = try run(built.graph, size: 32, batch: 1)
        #expect(logits.data.allSatisfy { $0.isFinite }, "\(logits.data)")
        #expect(y.data.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test func loweringKeepsProbabilities() throws {
        // BN folding and ReLU6 fusion into every conv of MobileNet v2.
        let size = 32
        let graph = try ModelZoo.build(.mobileNetV2, inputSize: size, width: 0.35, seed: 5).graph
        let lowered = try graph.lowered()
        #expect(lowered.nodes.count < graph.nodes.count)
        let y = try run(graph, size: size).probabilities, z = try run(lowered, size: size).probabilities
        for (a, b) in zip(y.data, z.data) { #expect(abs(a - b) <= Float(1e-4)) }
    }

    @Test func featureShapesMatchKeras() throws {
        func shapes(_ model: ZooModel, _ size: Int, width: Float = 1) throws -> [String: [Int]] {
            let g = try ModelZoo.build(model, inputSize: size, width: width).graph
            return try g.inferShapes(inputShapes: ["input": [1, 3, size, size]])
        }
        let m = try shapes(.mobileNetV2, 224)
        #expect(m["Conv1"] == [1, 32, 112, 112])
        #expect(m["block_1_depthwise"] == [1, 96, 56, 56])
        #expect(m["block_16_project_BN"] == [1, 320, 7, 7])
        #expect(m["out_relu"] == [1, 1280, 7, 7])
        let i = try shapes(.inceptionV3, 299)
        #expect(i["mixed0"] == [1, 256, 35, 35])
        #expect(i["mixed7"] == [1, 768, 17, 17])
        #expect(i["mixed10"] == [1, 2048, 8, 8])
        #expect(i["conv2d_93"] == [1, 192, 8, 8])
        #expect(i["conv2d_94"] == nil)
        let r = try shapes(.resNet50V2, 224)
        #expect(r["pool1_pool"] == [1, 64, 56, 56])
        #expect(r["conv2_block3_out"] == [1, 256, 28, 28])
        #expect(r["conv4_block6_out"] == [1, 1024, 7, 7])
        #expect(r["post_relu"] == [1, 2048, 7, 7])
        let r152 = try shapes(.resNet152V2, 224)
        #expect(r152["conv4_block36_out"] == [1, 1024, 7, 7])
    }

    @Test(arguments: [(224, [0, 0, 1, 1]), (225, [1, 1, 1, 1])])
    func mobileNetUsesKerasPaddings(size: Int, depthwisePads: [Int]) throws {
        let g = try ModelZoo.build(.mobileNetV2, inputSize: size).graph
        func pads(_ name: String) throws -> [Int] {
            let node = try #require(g.nodes.first { $0.name == name })
            guard case .conv(let a) = node.op else { Issue.record("\(name) is not a conv"); return [] }
            return a.pads
        }
        // TF SAME on a 3×3 stride-2 conv: the odd pixel of padding goes at the end.
        #expect(try pads("Conv1") == depthwisePads)
        // Keras correct_pad before each stride-2 depthwise conv (112 is even either way... not at 225).
        #expect(try pads("block_1_depthwise") == (size % 4 == 0 ? [0, 0, 1, 1] : [1, 1, 1, 1]))
        #expect(try pads("block_2_depthwise") == [1, 1, 1, 1])
        #expect(try pads("block_1_project") == [0, 0, 0, 0])
    }

    @Test func inceptionBatchNormHasNoScaleAndKerasEpsilon() throws {
        let g = try ModelZoo.build(.inceptionV3, inputSize: 75).graph
        let bns = g.nodes.filter { if case .batchNormalization = $0.op { true } else { false } }
        #expect(bns.count == 94)
        #expect(bns.allSatisfy { $0.inputs[1] == "" && $0.op == .batchNormalization(epsilon: 1e-3) })
        #expect(bns[0].name == "batch_normalization" && bns[93].name == "batch_normalization_93")
        let pools = g.nodes.filter { if case .averagePool(let a) = $0.op { !a.countIncludePad && a.pads == [1, 1, 1, 1] } else { false } }
        #expect(pools.count == 9)
    }

    @Test func resNetV2Structure() throws {
        let g = try ModelZoo.build(.resNet50V2, inputSize: 64).graph
        let names = Set(g.nodes.map(\.name))
        for name in ["conv1_conv", "pool1_pad", "pool1_pool", "conv2_block1_preact_bn", "conv2_block1_0_conv",
                     "conv5_block3_out", "post_bn", "post_relu", "max_pooling2d", "max_pooling2d_2", "predictions"] {
            #expect(names.contains(name), "\(name)")
        }
        #expect(!names.contains("max_pooling2d_3"))
        #expect(g.initializers["conv1_conv/bias"] != nil)
        #expect(g.initializers["conv2_block1_1_conv/bias"] == nil)
        #expect(g.initializers["conv2_block1_3_conv/bias"] != nil)
        let bn = try #require(g.nodes.first { $0.name == "post_bn" })
        #expect(bn.op == .batchNormalization(epsilon: 1.001e-5))
    }

    @Test func heNormalStatistics() throws {
        let model = try ModelZoo.build(.resNet50V2, inputSize: 32, seed: 9)
        // [512, 512, 3, 3]: 2.4 M samples, fan_in 4608.
        let w = try #require(model.graph.initializers["conv5_block1_2_conv/kernel"])
        #expect(w.shape == [512, 512, 3, 3])
        let expected = (2.0 / 4608).squareRoot()
        let mean = w.data.reduce(0.0) { $0 + Double($1) } / Double(w.count)
        let std = (w.data.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(w.count)).squareRoot()
        #expect(abs(std - expected) <= 0.05 * expected, "std \(std), expected \(expected)")
        #expect(abs(mean) <= 0.01 * expected)
        // Depthwise fan-in is the 3×3 window alone.
        let dw = try #require(try ModelZoo.build(.mobileNetV2, inputSize: 32).graph.initializers["block_13_depthwise/depthwise_kernel"])
        let dwStd = (dw.data.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(dw.count)).squareRoot()
        let dwExpected = (2.0 / 9).squareRoot()
        #expect(abs(dwStd - dwExpected) <= 0.05 * dwExpected)
        // Biases zero, BN at identity.
        #expect(model.graph.initializers["conv1_conv/bias"]?.data.allSatisfy { $0 == 0 } == true)
        #expect(model.graph.initializers["post_bn/gamma"]?.data.allSatisfy { $0 == 1 } == true)
        #expect(model.graph.initializers["post_bn/moving_variance"]?.data.allSatisfy { $0 == 1 } == true)
    }

    @Test func sameSeedSameWeights() throws {
        let a = try ModelZoo.build(.mobileNetV2, inputSize: 32, width: 0.5, seed: 42)
        let b = try ModelZoo.build(.mobileNetV2, inputSize: 32, width: 0.5, seed: 42)
        let c = try ModelZoo.build(.mobileNetV2, inputSize: 32, width: 0.5, seed: 43)
        #expect(a == b)
        #expect(a.graph.initializers["Conv1/kernel"] != c.graph.initializers["Conv1/kernel"])
        #expect(a.graph.nodes == c.graph.nodes)
        // The input size changes shapes, not weights.
        let d = try ModelZoo.build(.mobileNetV2, inputSize: 64, width: 0.5, seed: 42)
        #expect(a.graph.initializers == d.graph.initializers)
    }

    @Test func errors() throws {
        #expect(throws: ZooError.inputTooSmall(model: "inceptionv3", size: 74, minimum: 75)) {
            try ModelZoo.build(.inceptionV3, inputSize: 74)
        }
        #expect(throws: ZooError.inputTooSmall(model: "mobilenetv2", size: 31, minimum: 32)) {
            try ModelZoo.build(.mobileNetV2, inputSize: 31)
        }
        #expect(throws: ZooError.inputTooLarge(model: "resnet50v2", size: 5000, maximum: 4096)) {
            try ModelZoo.build(.resNet50V2, inputSize: 5000)
        }
        #expect(throws: ZooError.widthNotSupported(model: "resnet50v2", width: 0.5)) {
            try ModelZoo.build(.resNet50V2, inputSize: 64, width: 0.5)
        }
        for width: Float in [0, -1, .nan, .infinity] {
            #expect(throws: ZooError.self) { try ModelZoo.build(.mobileNetV2, inputSize: 64, width: width) }
        }
        #expect(throws: ZooError.unknownModel(name: "vgg16")) { try ZooModel(name: "vgg16") }
        #expect(try ZooModel(name: "ResNet152V2") == .resNet152V2)
        #expect(ZooError.inputTooSmall(model: "inceptionv3", size: 74, minimum: 75).description
                == "inceptionv3 needs an input size of at least 75, got 74")
    }

    @Test func makeDivisibleMatchesKeras() {
        // Values from Keras's _make_divisible.
        #expect(ZooGraphBuilder.makeDivisible(32 * 0.35) == 16)
        #expect(ZooGraphBuilder.makeDivisible(Double(Int(16 * 0.35))) == 8)
        #expect(ZooGraphBuilder.makeDivisible(Double(Int(24 * 0.35))) == 8)
        #expect(ZooGraphBuilder.makeDivisible(Double(Int(320 * 1.4))) == 448)
        #expect(ZooGraphBuilder.makeDivisible(1280 * 1.3) == 1664)
    }
}
