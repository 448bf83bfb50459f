// `spruce compress` as a user runs it: end to end on fixtures/images with the tiny zoo MobileNet
// (prune on a schedule, one fine-tuning epoch, int8, target size), recipe save/replay, and the
// error paths (impossible budget, bad flags): one `error:` line, non-zero exit, no output file.
import Foundation
import Testing
import SpruceCore
import SpruceFormat
import SprucePipeline
@testable import spruce

@Suite(.serialized) struct CompressCommandTests {
    static let images = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path + "/fixtures/images"

    /// The tiny zoo model as ONNX in `ws`.
    func tinyModel(_ ws: Workspace) throws -> String {
        let path = ws.file("tiny.onnx")
        let r = try runSpruce(["zoo", "mobilenetv2", "--size", "32", "--width", "0.35", "-o", path])
        #expect(r.status == 0, "\(r.stderr)")
        return path
    }

    @Test("end to end: target size with data, one fine-tuning epoch; the artifact fits and reads back")
    func endToEnd() throws {
        let ws = Workspace()
        let model = try tinyModel(ws)
        let out = ws.file("tiny.spruce"), report = ws.file("report.json"), recipe = ws.file("recipe.json")
        let r = try runSpruce(["compress", model, "--data", Self.images, "--target-size", "250KB", "--finetune-epochs", "1",
                               "--batch-size", "8", "-o", out, "--report", report, "--save-recipe", recipe])
        #expect(r.status == 0, "\(r.stderr)")
        let bytes = try #require(FileManager.default.contents(atPath: out))
        #expect(bytes.count <= 250_000)
        // The pixel scaling fine-tuning used is recorded for run, C and Python.
        #expect(InputNormalization(metadata: try ArtifactReader.decode(Array(bytes)).metadata) == .unit)
        for stage in ["load", "prune", "finetune", "fold", "quantize", "encode", "pack"] {
            #expect(r.stdout.contains("\n\(stage) "), "stage table lists \(stage)")
        }
        #expect(r.stdout.contains("finetune epoch 1/1"))
        #expect(r.stdout.contains("artifact: \(out)"))
        #expect(r.stdout.contains("dense float32:"))
        // The artifact's validation AUC beside the loaded model's; the checkpoint folder is gone.
        #expect(r.stdout.contains("validation AUC: ") && r.stdout.contains(" as loaded, "), "\(r.stdout)")
        #expect(!FileManager.default.fileExists(atPath: out + ".checkpoint"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        #expect((json["stages"] as? [Any])?.count == 7)
        #expect(try Recipe.read(path: recipe).fineTunes)
    }

    @Test("a validation AUC more than 0.02 below the loaded model's gets a warning; within it, none")
    func accuracyWarning() {
        #expect(CompressCommand.accuracyLine(loaded: 0.86, artifact: 0.85)?.warning == nil)
        #expect(CompressCommand.accuracyLine(loaded: 0.86, artifact: 0.90)?.warning == nil)
        let fell = CompressCommand.accuracyLine(loaded: 0.86, artifact: 0.83)
        #expect(fell?.text == "validation AUC: 0.8600 as loaded, 0.8300 from the artifact (-0.0300)")
        #expect(fell?.warning?.hasPrefix("the artifact's validation AUC is 0.0300 below the loaded model's") == true)
        #expect(CompressCommand.accuracyLine(loaded: nil, artifact: 0.8) == nil)
    }

    @Test("without --data: one-shot pruning, and it says so; the saved recipe replays to the same bytes")
    func oneShotAndReplay() throws {
        let ws = Workspace()
        let model = try tinyModel(ws)
        let a = ws.file("a.spruce"), b = ws.file("b.spruce"), recipe = ws.file("r.json")
        let r = try runSpruce(["compress", model, "--sparsity", "0.6", "--int8", "-o", a, "--save-recipe", recipe])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("no --data: pruning one-shot, without fine-tuning"))
        let replay = try runSpruce(["compress", "--recipe", recipe, "-o", b])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(FileManager.default.contents(atPath: a) == FileManager.default.contents(atPath: b))
    }

    @Test("--calibrate rounds compress's values by GPTQ on the images, at the --bits width, and says so in the metadata")
    func calibratedCompress() throws {
        let ws = Workspace()
        let model = try tinyModel(ws)
        let out = ws.file("c.spruce")
        let r = try runSpruce(["compress", model, "--sparsity", "0.5", "--bits", "4", "--calibrate", Fixtures.root + "/fixtures/calibration", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        let artifact = try ArtifactReader.load(path: out)
        #expect(artifact.metadata["values"]?.hasPrefix("4-bit") == true)
        #expect(artifact.metadata["values"]?.hasSuffix("GPTQ-rounded on 64 calibration images)") == true, "\(artifact.metadata)")
    }

    @Test("fine-tuning goes through the rounding by default for 2–7-bit values with data, not for int8; --no-qat and --qat decide otherwise")
    func quantizationAwareDefault() throws {
        func aware(_ flags: [String]) throws -> Bool? {
            let command = try CompressCommand.parse(["m.onnx", "--target-size", "259KB", "-o", "m.spruce"] + flags)
            for case .quantize(_, _, _, let aware) in try command.makeRecipe().stages { return aware }
            return nil
        }
        #expect(try aware(["--data", "d", "--bits", "3"]) == true)
        #expect(try aware(["--data", "d", "--bits", "3", "--no-qat"]) == false)
        #expect(try aware(["--data", "d", "--int8"]) == false)
        #expect(try aware(["--data", "d", "--int8", "--qat"]) == true)
        #expect(try aware(["--bits", "3"]) == false)  // no data: nothing is fine-tuned
        #expect(try aware(["--data", "d", "--bits", "3", "--calibrate", Fixtures.root + "/fixtures/calibration"]) == false)
        #expect(try aware(["--data", "d", "--bits", "mixed"]) == true)
        #expect(try aware(["--data", "d", "--bits", "mixed", "--no-qat"]) == false)
    }

    @Test("an impossible budget is one error line naming the smallest size, and nothing is written")
    func impossibleBudget() throws {
        let ws = Workspace()
        let model = try tinyModel(ws)
        let out = ws.file("x.spruce")
        let r = try runSpruce(["compress", model, "--target-size", "4KB", "-o", out])
        #expect(r.status != 0)
        #expect(r.stderr.hasPrefix("error: target size 4,000 bytes (4.0 KB) cannot be reached: the smallest artifact is "))
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test("flag errors", arguments: [
        (["--sparsity", "0.5", "--target-size", "1MB"], "give exactly one of --sparsity and --target-size"),
        ([String](), "give exactly one of --sparsity and --target-size"),
        (["--sparsity", "1.2"], "--sparsity must be in [0, 1)"),
        (["--target-size", "big"], "--target-size: 'big' is not a size"),
        (["--sparsity", "0.5", "--schedule", "cosine"], "--schedule must be polynomial or constant"),
        (["--sparsity", "0.5", "--exclude", "head"], "--exclude: unknown layer kind 'head'"),
        (["--sparsity", "0.5", "--qat"], "--qat fine-tunes through the rounding; it needs --data"),
        (["--sparsity", "0.5", "--data", "d", "--qat", "--calibrate", "c"], "--qat trains through nearest rounding; do not combine it with --calibrate"),
        (["--target-size", "1MB", "--bits", "9"], "--bits must be between 2 and 8, or mixed, got '9'"),
        (["--sparsity", "0.5", "--data", "d", "--bits", "mixed"], "--bits mixed chooses each layer's width for --target-size"),
        (["--target-size", "1MB", "--bits", "mixed"], "it needs --target-size and --data"),
        (["--target-size", "1MB", "--data", "d", "--bits", "mixed", "--calibrate", "c"], "--bits mixed fine-tunes through nearest rounding"),
    ])
    func flagErrors(arguments: [String], message: String) throws {
        let ws = Workspace()
        let r = try runSpruce(["compress", ws.file("m.onnx")] + arguments + ["-o", ws.file("m.spruce")])
        #expect(r.status != 0)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: ws.file("m.spruce")))
    }
}
