// `spruce train` and `spruce eval` end to end on fixtures/images with a tiny MobileNet v2
// (width 0.35, 32×32): outputs and their contents, resume through the CLI, Ctrl-C leaving no
// output, eval's JSON keys and agreement with the metrics module, and the error lines.
import Foundation
import Testing
import SpruceCore
import SpruceONNX
import SpruceTrain

enum CLIFixtures {
    static var images: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/images").path
    }

    static func trainArguments(_ output: String, epochs: Int = 2, extra: [String] = []) -> [String] {
        ["train", "--model", "mobilenetv2", "--width", "0.35", "--size", "32", "--epochs", "\(epochs)", "--batch", "8",
         "--seed", "3", "--threads", "2", "--data", images, "-o", output] + extra
    }

    static func json(_ path: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
        return try #require(object as? [String: Any])
    }

    static func bits(_ path: String) throws -> [String: [UInt32]] {
        try ONNXImporter.load(path: path).graph.initializers.mapValues { $0.data.map(\.bitPattern) }
    }
}

@Suite(.serialized) struct TrainCommandTests {
    let workspace = Workspace()

    @Test("train writes the model, the split and the report; plain lines off a terminal")
    func trainOutputs() throws {
        let output = workspace.file("t.onnx")
        let result = try runSpruce(CLIFixtures.trainArguments(output))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
        #expect(!result.stdout.contains("\r"))
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("epoch 1  loss ") && $0.contains("val AUC") })
        #expect(lines.contains { $0.hasPrefix("epoch 2  loss ") })
        #expect(lines.last == "wrote \(output), \(workspace.file("t.split.csv")), \(workspace.file("t.train.json")) "
                + "(checkpoint: \(workspace.file("t.checkpoint")))")
        #expect(workspace.listing() == ["t.checkpoint", "t.onnx", "t.split.csv", "t.train.json"])

        let report = try CLIFixtures.json(workspace.file("t.train.json"))
        for key in ["model", "input_size", "data", "split", "seed", "batch", "learning_rate", "epochs", "best_epoch",
                    "selection", "train_images", "validation_images", "steps", "seconds", "output"] {
            #expect(report[key] != nil, "missing \(key)")
        }
        let epochs = try #require(report["epochs"] as? [[String: Any]])
        #expect(epochs.count == 2)
        #expect(epochs.allSatisfy { $0["train_loss"] is Double && $0["validation_auc"] != nil })
        #expect(report["selection"] as? String == "validation_auc")
        #expect(report["learning_rate"] as? Double == 0.001)

        // The split is grouped by lesion and readable back; the model imports with its input.
        let dataset = try Dataset.load(directory: CLIFixtures.images)
        let split = try Split.read(from: workspace.file("t.split.csv"), dataset: dataset)
        #expect(split.count(of: .train) == report["train_images"] as? Int)
        #expect(split.count(of: .validation) == report["validation_images"] as? Int)
        let model = try ONNXImporter.load(path: output)
        #expect(model.graph.inputs.first?.shape == [nil, 3, 32, 32])
        #expect(model.metadata["train.best_epoch"] == "\(report["best_epoch"] as? Int ?? -1)")
    }

    @Test("--resume after a shorter run gives the same weights as one straight run")
    func resume() throws {
        let straight = try runSpruce(CLIFixtures.trainArguments(workspace.file("a.onnx"), epochs: 2))
        #expect(straight.status == 0, "\(straight.stderr)")
        let first = try runSpruce(CLIFixtures.trainArguments(workspace.file("b.onnx"), epochs: 1))
        #expect(first.status == 0, "\(first.stderr)")
        let second = try runSpruce(CLIFixtures.trainArguments(workspace.file("b.onnx"), epochs: 2, extra: ["--resume"]))
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("resuming at epoch 2 of 2"))
        #expect(try CLIFixtures.bits(workspace.file("a.onnx")) == CLIFixtures.bits(workspace.file("b.onnx")))
        let report = try CLIFixtures.json(workspace.file("b.train.json"))
        #expect(report["resumed_at_epoch"] as? Int == 2)
        #expect((report["epochs"] as? [Any])?.count == 2)
    }

    @Test("Ctrl-C stops the run with no output files; the checkpoint resumes it")
    func interrupt() throws {
        let output = workspace.file("i.onnx")
        let process = Process()
        process.executableURL = spruceExecutable()
        process.arguments = CLIFixtures.trainArguments(output, epochs: 200)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Wait (event, not time) for the first checkpoint, then interrupt.
        let checkpoint = workspace.file("i.checkpoint/checkpoint.sprucekpt")
        var polls = 0
        while !FileManager.default.fileExists(atPath: checkpoint) && process.isRunning && polls < 6000 {
            usleep(20_000)
            polls += 1
        }
        #expect(process.isRunning)
        process.interrupt()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        #expect(stderr.contains("error: interrupted after "))
        #expect(stderr.contains("run the same command with --resume to continue"))
        #expect(workspace.listing() == ["i.checkpoint"])

        // Resuming with fewer epochs than already done just writes the outputs.
        let resumed = try runSpruce(CLIFixtures.trainArguments(output, epochs: 1, extra: ["--resume"]))
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(workspace.listing() == ["i.checkpoint", "i.onnx", "i.split.csv", "i.train.json"])
    }

    @Test("train errors are one line, non-zero, no output", arguments: [
        (["--model", "nosuchnet"], "error: unknown zoo model 'nosuchnet'"),
        (["--model", "/nonexistent/m.onnx"], "error: /nonexistent/m.onnx: no such file"),
        (["--data", "/nonexistent/data"], "error: /nonexistent/data: no such dataset folder"),
        (["--epochs", "0"], "error: --epochs must be at least 1, got 0"),
        (["--size", "16"], "error: mobilenetv2 needs an input size of at least 32, got 16"),
    ])
    func trainErrors(change: [String], message: String) throws {
        var arguments = CLIFixtures.trainArguments(workspace.file("e.onnx"))
        for pair in stride(from: 0, to: change.count, by: 2) {
            if let at = arguments.firstIndex(of: change[pair]) { arguments[at + 1] = change[pair + 1] }
        }
        let result = try runSpruce(arguments)
        #expect(result.status != 0)
        #expect(result.stderr.hasPrefix(message), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(workspace.listing().isEmpty)
    }
}

@Suite(.serialized) struct EvalCommandTests {
    let workspace = Workspace()

    func trained() throws -> String {
        let output = workspace.file("m.onnx")
        let result = try runSpruce(CLIFixtures.trainArguments(output, epochs: 1))
        #expect(result.status == 0, "\(result.stderr)")
        return output
    }

    @Test("eval --json has the study's keys and equals EvaluationReport on the same scores")
    func evalJSON() throws {
        let model = try trained()
        let splitFile = workspace.file("m.split.csv")
        let result = try runSpruce(["eval", model, "--data", CLIFixtures.images, "--split", "validation",
                                    "--split-file", splitFile, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        let json = try #require(object as? [String: Any])
        for key in ["images", "positives", "negatives", "auc", "threshold", "accuracy", "sensitivity", "specificity",
                    "tp", "tn", "fp", "fn", "percent_tp", "percent_tn", "percent_fp", "percent_fn", "youden_threshold",
                    "youden_index", "at_youden", "by_diagnosis", "model", "engine", "data", "split", "split_file"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        #expect(json["split"] as? String == "validation")

        // The same images scored independently through the library.
        let dataset = try Dataset.load(directory: CLIFixtures.images)
        let split = try Split.read(from: splitFile, dataset: dataset)
        let cache = try dataset.subset(split.indices(of: .validation, in: dataset)).decodeImages(height: 32, width: 32)
        let session = try TrainingSession(model: ONNXImporter.load(path: model))
        var scores: [Float] = []
        for batch in try BatchLoader(cache: cache, options: .evaluation()).epoch(0) { scores += try session.predict(batch.images) }
        let samples = cache.dataset.samples
        let expected = try EvaluationReport(scores: scores, labels: samples.map(\.label), diagnoses: samples.map(\.diagnosis))
        #expect(json["images"] as? Int == expected.images)
        #expect(json["positives"] as? Int == expected.positives)
        #expect((json["auc"] as? Double).map { abs($0 - (expected.auc ?? -1)) < 1e-9 } == true)
        #expect(json["tp"] as? Int == expected.atThreshold.tp)
        #expect(json["tn"] as? Int == expected.atThreshold.tn)
        #expect(json["fp"] as? Int == expected.atThreshold.fp)
        #expect(json["fn"] as? Int == expected.atThreshold.fn)
        let youden = try #require(json["at_youden"] as? [String: Any])
        #expect(youden["tp"] as? Int == expected.atYouden?.tp)
        #expect(youden["fp"] as? Int == expected.atYouden?.fp)
        let byDx = try #require(json["by_diagnosis"] as? [String: [String: Int]])
        #expect(byDx.mapValues { $0["errors"] ?? -1 } == expected.byDiagnosis.mapValues(\.errors))

        // --scaling imagenet feeds the model ImageNet-normalized pixels.
        let imagenet = try runSpruce(["eval", model, "--data", CLIFixtures.images, "--split", "validation",
                                      "--split-file", splitFile, "--scaling", "imagenet", "--json"])
        #expect(imagenet.status == 0, "\(imagenet.stderr)")
        let imagenetJSON = try #require(try JSONSerialization.jsonObject(with: Data(imagenet.stdout.utf8)) as? [String: Any])
        scores = []
        for batch in try BatchLoader(cache: cache, options: .evaluation(scaling: .imageNet)).epoch(0) {
            scores += try session.predict(batch.images)
        }
        let expectedImageNet = try EvaluationReport(scores: scores, labels: samples.map(\.label), diagnoses: samples.map(\.diagnosis))
        #expect((imagenetJSON["auc"] as? Double).map { abs($0 - (expectedImageNet.auc ?? -1)) < 1e-9 } == true)
        #expect(imagenetJSON["tp"] as? Int == expectedImageNet.atThreshold.tp)
    }

    @Test("without a split file every image is evaluated, and the text says so")
    func evalAllImages() throws {
        let model = try trained()
        let result = try runSpruce(["eval", model, "--data", CLIFixtures.images])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("data: all 24 images in \(CLIFixtures.images) (no --split-file), 32x32"))
        #expect(result.stdout.contains("images 24 (12 positive, 12 negative), AUC "))
        #expect(result.stdout.contains("\nthreshold 0.5: accuracy "))
        #expect(result.stdout.contains("\nYouden "))
        #expect(result.stdout.contains("\n  nv: "))
    }

    @Test("eval errors are one line and non-zero", arguments: [
        (["--data", "/nonexistent/data"], "error: /nonexistent/data: no such dataset folder"),
        (["--data", "IMAGES", "--split", "holdout", "--split-file", "x.csv"],
         "error: bad split name 'holdout': expected train, validation or test"),
        (["--data", "IMAGES", "--split", "test"], "error: --split test needs --split-file"),
        (["--data", "IMAGES", "--scaling", "caffe"], "error: --scaling must be unit, symmetric or imagenet, got 'caffe'"),
        (["--data", "IMAGES", "--split-file", "/nonexistent/split.csv"], "error: /nonexistent/split.csv"),
    ])
    func evalErrors(arguments: [String], message: String) throws {
        let model = workspace.file("z.onnx")
        try ONNXExporter.write(try ModelZoo.build(.mobileNetV2, inputSize: 32, width: 0.35), to: model)
        let result = try runSpruce(["eval", model] + arguments.map { $0 == "IMAGES" ? CLIFixtures.images : $0 })
        #expect(result.status != 0)
        #expect(result.stderr.hasPrefix(message), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test("train and eval help show their usage and examples", arguments: [
        ("train", "USAGE: spruce train [<options>] --model <name|model.onnx> --data <dir> --output <trained.onnx>",
         "spruce train --model mobilenetv2 --data ham --epochs 10 -o mnv2.onnx --resume"),
        ("eval", "USAGE: spruce eval <model> --data <dir> [--split <name>] [--split-file <file>]",
         "spruce eval mnv2.onnx --data ham --split test --split-file mnv2.split.csv"),
    ])
    func help(command: String, usage: String, example: String) throws {
        let result = try runSpruce([command, "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains(usage), "\(result.stdout)")
        #expect(result.stdout.contains(example))
    }
}
