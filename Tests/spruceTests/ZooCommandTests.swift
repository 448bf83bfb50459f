// End-to-end tests of `spruce zoo` through the built binary: the text report and per-layer table,
// `--json` keys and the study's parameter counts, `-o` writing an ONNX file that imports and
// computes what the zoo built, and one `error:` line (no output file) for every bad request.
import Foundation
import SpruceCore
import SpruceONNX
import SpruceTrain
import Testing

@Suite struct ZooCommandTests {
    @Test(arguments: [("mobilenetv2", 224, 2_259_265, 2_225_153, 34_112), ("inceptionv3", 299, 21_804_833, 21_770_401, 34_432),
                      ("resnet50v2", 224, 23_566_849, 23_521_409, 45_440), ("resnet152v2", 224, 58_333_697, 58_189_953, 143_744)])
    func jsonCarriesTheStudysCounts(name: String, size: Int, total: Int, trainable: Int, nonTrainable: Int) throws {
        let result = try runSpruce(["zoo", name, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(Set(json.keys) == ["model", "input_shape", "total_parameters", "trainable_parameters",
                                   "non_trainable_parameters", "layers"])
        #expect(json["model"] as? String == name)
        #expect(json["total_parameters"] as? Int == total)
        #expect(json["trainable_parameters"] as? Int == trainable)
        #expect(json["non_trainable_parameters"] as? Int == nonTrainable)
        let shape = try #require(json["input_shape"] as? [Any])
        #expect(shape.count == 4 && shape[0] is NSNull && shape.dropFirst().compactMap { $0 as? Int } == [3, size, size])
        let layers = try #require(json["layers"] as? [[String: Any]])
        #expect(layers.compactMap { $0["parameters"] as? Int }.reduce(0, +) == total)
        #expect(layers.last?["name"] as? String == "predictions_sigmoid")
        #expect(layers.allSatisfy { Set($0.keys) == ["name", "op", "output_shape", "parameters"] })
    }

    @Test func helpListsZoo() throws {
        let root = try runSpruce(["--help"])
        #expect(root.stdout.contains("  spruce zoo mobilenetv2 --size 96 --width 0.35 -o mobilenetv2.onnx\n"))
        #expect(root.stdout.contains("  zoo                     Build an untrained zoo model, report its parameters\n"))
        let zoo = try runSpruce(["zoo", "--help"])
        #expect(zoo.status == 0)
        #expect(zoo.stdout.contains(
            "USAGE: spruce zoo <name> [--size <n>] [--width <w>] [--seed <s>] [--summary] [--json] [--output <model.onnx>]"))
        #expect(zoo.stdout.contains("spruce zoo resnet50v2 --size 96 -o resnet50v2.onnx"))
    }

    @Test func textReportAndSummaryTable() throws {
        let plain = try runSpruce(["zoo", "mobilenetv2", "--size", "96", "--width", "0.35"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.contains("model: MobileNet v2 (mobilenetv2), width 0.35, input [N, 3, 96, 96], seed 0"))
        #expect(plain.stdout.contains("parameters: 411,489 total, 397,409 trainable, 14,080 non-trainable"))
        #expect(plain.stdout.contains("layers: 153 ("))
        #expect(!plain.stdout.contains("block_3_depthwise"))
        let table = try runSpruce(["zoo", "mobilenetv2", "--size", "96", "--width", "0.35", "--summary"])
        #expect(table.status == 0)
        let row = table.stdout.split(separator: "\n").first { $0.contains("block_3_depthwise ") }
        // 3×3 depthwise over 8·6 = 48 channels at 24×24, stride 2 → 12×12.
        let cells = try #require(row).split(separator: " ", omittingEmptySubsequences: true)
        #expect(cells.first == "block_3_depthwise" && cells.last == "432")
        #expect(try #require(row).contains("[N, 48, 12, 12]"))
    }

    @Test func writesTheUntrainedModelAsONNX() throws {
        let w = Workspace()
        let result = try runSpruce(["zoo", "mobilenetv2", "--size", "32", "--width", "0.35", "--seed", "4", "-o", w.file("m.onnx")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("wrote \(w.file("m.onnx"))"))
        #expect(w.listing() == ["m.onnx"])
        let imported = try ONNXImporter.load(path: w.file("m.onnx"))
        let built = try ModelZoo.build(.mobileNetV2, inputSize: 32, width: 0.35, seed: 4)
        #expect(imported.graph.initializers == built.graph.initializers)
        #expect(imported.parameterCounts == built.parameterCounts)
        #expect(imported.metadata["zoo.model"] == "mobilenetv2")
        var rng = SplitMix64(state: 8)
        let x = rng.tensor([1, 3, 32, 32])
        let a = try ReferenceExecutor(graph: imported.graph).run(["input": x])["output"]
        let b = try ReferenceExecutor(graph: built.graph).run(["input": x])["output"]
        #expect(a != nil && a == b)
    }

    @Test(arguments: [
        (["zoo", "vgg16"], "unknown zoo model 'vgg16' (expected one of: mobilenetv2, inceptionv3, resnet50v2, resnet152v2)"),
        (["zoo", "inceptionv3", "--size", "74"], "inceptionv3 needs an input size of at least 75, got 74"),
        (["zoo", "mobilenetv2", "--size", "16", "-o", "OUT/m.onnx"], "mobilenetv2 needs an input size of at least 32, got 16"),
        (["zoo", "resnet50v2", "--width", "0.5"], "resnet50v2 has no width multiplier"),
        (["zoo", "mobilenetv2", "--width", "0"], "width multiplier 0.0 must be a positive finite number"),
        (["zoo", "mobilenetv2", "--size", "99999"], "mobilenetv2 accepts input sizes up to 4096, got 99999"),
        (["zoo", "mobilenetv2", "-o", "OUT/m.txt"], "--output must name a .onnx file"),
        (["zoo", "mobilenetv2", "--size", "32", "-o", "OUT/missing/m.onnx"], "missing/m.onnx"),
        (["zoo"], "Missing expected argument"),
    ])
    func errorsAreOneLine(arguments: [String], fragment: String) throws {
        let w = Workspace()
        let result = try runSpruce(arguments.map { $0.replacingOccurrences(of: "OUT", with: w.path) })
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[1].isEmpty, "stderr: \(result.stderr)")
        #expect(result.stderr.hasPrefix("error: "))
        #expect(result.stderr.contains(fragment), "stderr: \(result.stderr)")
        #expect(w.listing().isEmpty)
    }
}
