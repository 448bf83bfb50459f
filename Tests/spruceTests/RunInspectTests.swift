// The `spruce` commands as a user meets them: the whole root help, `run` and `inspect` on tiny
// exported models, and one test per error path (one `error:` line, non-zero exit, no output file).
import Foundation
import Testing
import SpruceCore
import SpruceONNX
import SpruceTrain

@Suite struct HelpTests {
    @Test("the root help lists the subcommands, word for word")
    func rootHelp() throws {
        let result = try runSpruce(["--help"])
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty)
        #expect(result.stdout == """
            OVERVIEW: Compress convolutional networks and run them from the compressed
            file.

            Spruce reads ONNX image classifiers, prunes and packs them into compact .spruce
            artifacts, and runs either form on NumPy tensors or images.

            Examples:
              spruce inspect model.onnx
              spruce run model.onnx lesion.jpg
              spruce pack model.onnx -o model.spruce --sparsity 0.9 --int8
              spruce zoo mobilenetv2 --size 96 --width 0.35 -o mobilenetv2.onnx
              spruce train --model mobilenetv2 --data ham10000 --epochs 10 -o trained.onnx
              spruce eval trained.onnx --data ham10000 --split-file trained.split.csv
              spruce compress model.onnx --data images/ --target-size 300KB -o model.spruce
              spruce study --data ham10000 --models mobilenetv2,resnet50v2 -o study

            USAGE: spruce <subcommand>

            OPTIONS:
              --version               Show the version.
              -h, --help              Show help information.

            SUBCOMMANDS:
              run                     Run a model on .npy tensors or images.
              inspect                 Summarise a model: inputs, outputs, operators,
                                      parameters and sparsity.
              pack                    Pack a model into a compact .spruce artifact (lower,
                                      prune, encode, quantize).
              export                  Export a .spruce artifact back to ONNX.
              bench                   Time batch-1 inference of a model and report peak
                                      memory.
              zoo                     Build an untrained zoo model, report its parameters
                                      and write it as ONNX.
              train                   Train a zoo model or an ONNX model on labelled
                                      images; keep the best-validation weights.
              eval                    Evaluate a classifier on labelled images (AUC,
                                      sensitivity, specificity, errors by diagnosis;
                                      N-class metrics).
              compress                Prune, fine-tune, quantize and pack a model to a
                                      sparsity or a byte budget.
              study                   Train, prune, quantize and evaluate models across
                                      sparsities; write results and an HTML report.

              See 'spruce help <subcommand>' for detailed help.

            """)
    }

    @Test("each subcommand's help has its usage and an example", arguments: [
        ("run", "USAGE: spruce run <model> <input> ... [--output <out.npy>] [--batch] [--threads <N>]", "spruce run model.onnx input.npy --output logits.npy"),
        ("inspect", "USAGE: spruce inspect <model> [--json]", "spruce inspect model.onnx --json"),
        ("pack", "USAGE: spruce pack <model> --output <model.spruce> [--int8] [--bits <N>] [--sparsity <S>] [--prune-all] [--uniform] [--calibrate <image-or-folder> ...] [--zstd-level <N>]",
         "spruce pack model.onnx -o model-90.spruce --sparsity 0.9 --int8"),
        ("export", "USAGE: spruce export <model.spruce> --output <model.onnx> [--sparse-initializers]",
         "spruce export model.spruce -o model.onnx"),
        ("bench", "USAGE: spruce bench <model> [--threads <N>] [--runs <N>] [--warmup <N>] [--json]",
         "spruce bench model.spruce --threads 2 --runs 50 --json"),
    ])
    func subcommandHelp(command: String, usage: String, example: String) throws {
        let result = try runSpruce([command, "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains(usage))
        #expect(result.stdout.contains(example))
    }
}

@Suite struct RunTests {
    let workspace = Workspace()

    func model(_ name: String = "model.onnx", _ model: Model = TinyModels.classifier()) throws -> String {
        let path = workspace.file(name)
        try ONNXExporter.write(model, to: path)
        return path
    }

    @Test("an .npy batch prints one score per row")
    func npyInput() throws {
        var rng = SplitMix64(state: 1)
        let x = rng.tensor([2, 3, 4, 4])
        let input = try workspace.write("x.npy", x.npyBytes())
        let result = try runSpruce(["run", try model(), input])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
        let expected = TinyModels.logits(x).enumerated()
            .map { "\(input)[\($0.offset)]: \(String(format: "%.4f", TinyModels.sigmoid($0.element)))" }
        #expect(result.stdout == expected.joined(separator: "\n") + "\n")
    }

    @Test("--output writes the output tensor as .npy and nothing else")
    func output() throws {
        var rng = SplitMix64(state: 2)
        let x = rng.tensor([3, 3, 4, 4])
        let input = try workspace.write("x.npy", x.npyBytes())
        let out = workspace.file("prob.npy")
        let result = try runSpruce(["run", try model(), input, "--output", out])
        #expect(result.status == 0, "\(result.stderr)")
        let written = try Tensor(npyBytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: out))))
        #expect(written.shape == [3, 1])
        let expected = TinyModels.logits(x).map(TinyModels.sigmoid)
        #expect(zip(written.data, expected).allSatisfy { abs($0 - $1) <= 1e-6 })
        #expect(workspace.listing() == ["model.onnx", "prob.npy", "x.npy"])
    }

    @Test("several outputs are written as OUT.<name>.npy")
    func severalOutputs() throws {
        var rng = SplitMix64(state: 3)
        let x = rng.tensor([1, 3, 4, 4])
        let input = try workspace.write("x.npy", x.npyBytes())
        let result = try runSpruce(["run", try model("two.onnx", TinyModels.classifier(extraOutput: true)), input,
                                    "-o", workspace.file("out.npy")])
        #expect(result.status == 0, "\(result.stderr)")
        let logit = try Tensor(npyBytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: workspace.file("out.logit.npy")))))
        let prob = try Tensor(npyBytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: workspace.file("out.prob.npy")))))
        #expect(abs(logit.data[0] - TinyModels.logits(x)[0]) <= 1e-6)
        #expect(abs(prob.data[0] - TinyModels.sigmoid(TinyModels.logits(x)[0])) <= 1e-6)
        #expect(!workspace.exists("out.npy"))
    }

    @Test("images are resized to the input, laid out as it is, stacked, and labelled by file",
          arguments: [false, true])
    func images(nhwc: Bool) throws {
        let a = try workspace.write("a.png", testPNG)
        let b = try workspace.write("b.PNG", testPNG)
        let paths = nhwc ? [a] : [a, b]  // the NHWC model has a fixed batch of 1
        let result = try runSpruce(["run", try model("m.onnx", TinyModels.classifier(nhwc: nhwc))] + paths)
        #expect(result.status == 0, "\(result.stderr)")
        let x = try ImageLoader.loadTensor(path: a, height: 4, width: 4)
        let score = String(format: "%.4f", TinyModels.sigmoid(TinyModels.logits(x)[0]))
        #expect(result.stdout == paths.map { "\($0): \(score)\n" }.joined())
    }

    @Test("--batch stacks several .npy files into the single input")
    func batchFlag() throws {
        var rng = SplitMix64(state: 4)
        let x1 = rng.tensor([1, 3, 4, 4]), x2 = rng.tensor([2, 3, 4, 4])
        let p1 = try workspace.write("one.npy", x1.npyBytes()), p2 = try workspace.write("two.npy", x2.npyBytes())
        let result = try runSpruce(["run", try model(), p1, p2, "--batch"])
        #expect(result.status == 0, "\(result.stderr)")
        let logits = TinyModels.logits(x1) + TinyModels.logits(x2)
        let labels = [p1, "\(p2)[0]", "\(p2)[1]"]
        #expect(result.stdout == zip(labels, logits).map { "\($0): \(String(format: "%.4f", TinyModels.sigmoid($1)))\n" }.joined())
    }

    @Test("inspect --json reports inputs, operators, parameters and sparsity")
    func inspectJSON() throws {
        let result = try runSpruce(["inspect", try model(), "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["producer"] as? String == "spruce-tests")
        #expect(json["parameters"] as? Int == 4)
        #expect(json["zeros"] as? Int == 1)
        #expect(json["sparsity"] as? Double == 0.25)
        #expect(json["operators"] as? [String: Int] == ["Conv": 1, "GlobalAveragePool": 1, "Flatten": 1, "Sigmoid": 1])
        let inputs = try #require(json["inputs"] as? [[String: Any]])
        #expect(inputs.count == 1)
        #expect(inputs.first?["name"] as? String == "x")
        #expect((inputs.first?["shape"] as? [Any])?.count == 4)
        #expect((inputs.first?["shape"] as? [Any])?.first is NSNull)
        let tensors = try #require(json["tensors"] as? [[String: Any]])
        #expect(tensors.compactMap { $0["name"] as? String } == ["b", "w"])
        let w = try #require(tensors.last)
        #expect(w["shape"] as? [Int] == [1, 3, 1, 1])
        #expect(w["elements"] as? Int == 3)
        #expect(w["zeros"] as? Int == 1)
        #expect(abs((w["sparsity"] as? Double ?? 0) - 1.0 / 3) < 1e-12)
    }

    @Test("inspect prints a readable report")
    func inspectText() throws {
        let path = try model()
        let result = try runSpruce(["inspect", path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == """
            model: \(path)
            producer: spruce-tests
            metadata: purpose = cli test
            inputs:
              x  [?, 3, 4, 4]
            outputs:
              prob  [?, 1]
            operators (4 nodes):
              Conv               1
              Flatten            1
              GlobalAveragePool  1
              Sigmoid            1
            tensors (2):
              name  shape         elements  zeros  sparsity
              b     [1]                  1      0     0.00%
              w     [1, 3, 1, 1]         3      1    33.33%
            total: 4 parameters, 1 zeros, sparsity 25.00%

            """)
    }
}

/// One failing invocation: its arguments, and a fragment the error line must contain.
struct FailureCase: Sendable, CustomTestStringConvertible {
    var name: String
    var arguments: @Sendable (Workspace) throws -> [String]
    var fragment: @Sendable (Workspace) -> String
    var testDescription: String { name }
}

@Suite struct ErrorTests {
    static let cases: [FailureCase] = [
        FailureCase(name: "missing model file",
                    arguments: { w in ["run", w.file("none.onnx"), try w.write("x.npy", Tensor(shape: [1, 3, 4, 4], repeating: 0).npyBytes()), "-o", w.file("out.npy")] },
                    fragment: { w in "\(w.file("none.onnx")): no such file" }),
        FailureCase(name: "garbage model file",
                    arguments: { w in ["run", try w.write("bad.onnx", Array("this is not protobuf at all \u{1}\u{2}\u{3}".utf8)),
                                       try w.write("x.npy", Tensor(shape: [1, 3, 4, 4], repeating: 0).npyBytes()), "-o", w.file("out.npy")] },
                    fragment: { w in w.file("bad.onnx") }),
        FailureCase(name: "garbage model file (inspect)",
                    arguments: { w in ["inspect", try w.write("bad.onnx", [0xFF, 0xFF, 0xFF, 0xFF, 0x0F])] },
                    fragment: { w in w.file("bad.onnx") }),
        FailureCase(name: "wrong input shape",
                    arguments: { w in ["run", try Self.model(w), try w.write("x.npy", Tensor(shape: [1, 3, 5, 5], repeating: 0).npyBytes()), "-o", w.file("out.npy")] },
                    fragment: { w in "\(w.file("x.npy")): shape [1, 3, 5, 5] does not fit model input 'x' of shape [?, 3, 4, 4]" }),
        FailureCase(name: "too many .npy inputs",
                    arguments: { w in let x = try w.write("x.npy", Tensor(shape: [1, 3, 4, 4], repeating: 0).npyBytes())
                        return ["run", try Self.model(w), x, x, "-o", w.file("out.npy")] },
                    fragment: { _ in "use --batch" }),
        FailureCase(name: "missing image",
                    arguments: { w in ["run", try Self.model(w), w.file("none.png"), "-o", w.file("out.npy")] },
                    fragment: { w in "\(w.file("none.png")): no such file" }),
        FailureCase(name: "corrupt image",
                    arguments: { w in ["run", try Self.model(w), try w.write("cut.png", Array(testPNG.prefix(60))), "-o", w.file("out.npy")] },
                    fragment: { w in "\(w.file("cut.png")): corrupt image" }),
        FailureCase(name: "corrupt .npy",
                    arguments: { w in ["run", try Self.model(w), try w.write("cut.npy", Array(Tensor(shape: [1, 3, 4, 4], repeating: 0).npyBytes().prefix(100))), "-o", w.file("out.npy")] },
                    fragment: { w in w.file("cut.npy") }),
        FailureCase(name: "unsupported model extension",
                    arguments: { w in ["inspect", try w.write("model.txt", [1, 2, 3])] },
                    fragment: { w in "\(w.file("model.txt")): unsupported model format (expected .onnx or .spruce)" }),
        FailureCase(name: "unsupported input extension",
                    arguments: { w in ["run", try Self.model(w), try w.write("x.gif", [1, 2, 3]), "-o", w.file("out.npy")] },
                    fragment: { w in "\(w.file("x.gif")): unsupported input" }),
        FailureCase(name: "images and tensors mixed",
                    arguments: { w in ["run", try Self.model(w), try w.write("a.png", testPNG),
                                       try w.write("x.npy", Tensor(shape: [1, 3, 4, 4], repeating: 0).npyBytes()), "-o", w.file("out.npy")] },
                    fragment: { _ in "not both" }),
        FailureCase(name: "output not .npy",
                    arguments: { w in ["run", try Self.model(w), try w.write("a.png", testPNG), "-o", w.file("out.txt")] },
                    fragment: { _ in "--output must name a .npy file" }),
        FailureCase(name: "output directory missing",
                    arguments: { w in ["run", try Self.model(w), try w.write("a.png", testPNG), "-o", w.file("no/such/dir/out.npy")] },
                    fragment: { w in "\(w.file("no/such/dir/out.npy")): cannot write" }),
        FailureCase(name: "no inputs", arguments: { w in ["run", try Self.model(w)] }, fragment: { _ in "Missing expected argument" }),
        FailureCase(name: "unknown subcommand", arguments: { _ in ["frobnicate"] }, fragment: { _ in "frobnicate" }),
    ]

    static func model(_ w: Workspace) throws -> String {
        let path = w.file("model.onnx")
        if !FileManager.default.fileExists(atPath: path) { try ONNXExporter.write(TinyModels.classifier(), to: path) }
        return path
    }

    @Test("every failure prints one error line, exits non-zero and writes no output", arguments: cases)
    func failure(_ failure: FailureCase) throws {
        let workspace = Workspace()
        let arguments = try failure.arguments(workspace)
        let before = workspace.listing()
        let result = try runSpruce(arguments)
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[1].isEmpty, "stderr: \(result.stderr)")
        #expect(result.stderr.hasPrefix("error: "))
        #expect(result.stderr.contains(failure.fragment(workspace)), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump"))
        #expect(workspace.listing() == before)
    }
}
