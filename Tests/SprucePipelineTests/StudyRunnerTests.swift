// A tiny end-to-end study on fixtures/images (MobileNet v2 width 0.35, 32×32, one epoch, sparsities
// 0 and 0.5, one learning rate): results.json with the expected keys, a report with the figures,
// and a rerun that recomputes nothing. It checks the machinery, not the accuracy of such a model.
import Foundation
import Testing
import SpruceFormat
@testable import SprucePipeline

/// Lines a study logs, collected from any thread.
final class LogLines: @unchecked Sendable {
    // @unchecked: `lines` is only touched under `lock`.
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

@Suite(.serialized) struct StudyRunnerTests {
    static func options(_ dir: String) -> StudyOptions {
        StudyOptions(data: fixtureImages, models: ["mobilenetv2"], sparsities: [0, 0.5], output: dir, size: 32, width: 0.35,
                     epochs: 1, finetuneEpochs: 1, learningRates: [1e-3], seed: 0, latencyRuns: 3, extraValueBits: [4])
    }

    static func modified(_ path: String) throws -> Date {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
    }

    @Test("a tiny study writes every file, and a rerun skips every finished step")
    func tinyStudyAndResume() throws {
        let dir = NSTemporaryDirectory() + "spruce-study-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runner = StudyRunner(options: Self.options(dir))
        let first = LogLines()
        let results = try runner.run(log: first.append)

        for file in ["split.csv", "results.json", "report.html", "mobilenetv2/trained.onnx", "mobilenetv2/trained.json",
                     "mobilenetv2/mobilenetv2-0.00.spruce", "mobilenetv2/mobilenetv2-0.50.spruce",
                     "mobilenetv2/mobilenetv2-0.50-int4.spruce",
                     "cells/mobilenetv2-0.00.json", "cells/mobilenetv2-0.50.json"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/" + file), "\(file)")
        }
        #expect(results.cells.map(\.sparsity) == [0, 0.5])
        #expect(results.cells[1].nonzeroParameters < results.cells[0].nonzeroParameters)
        #expect(results.cells[1].measuredSparsity > 0.2)
        #expect(results.cells.allSatisfy { $0.engine.hasPrefix("runtime") && $0.test.images == results.setup.testImages })
        // Each cell's model packed again with 4-bit values: a smaller 2.0 file, evaluated.
        for cell in results.cells {
            let point = try #require(cell.widths?.first)
            #expect(cell.widths?.count == 1 && point.bits == 4 && point.artifactBytes < cell.artifactBytes && point.testAUC != nil)
            let packed = try ArtifactReader.decode(try FileIO.read(dir + "/" + cell.artifact.replacingOccurrences(of: ".spruce", with: "-int4.spruce")))
            #expect(packed.majorVersion == 2 && packed.tensors.contains { $0.valueBits == 4 })
        }

        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/results.json"))) as? [String: Any])
        #expect(Set(json.keys) == ["spruceVersion", "generated", "setup", "training", "cells", "seconds"])
        let cells = try #require(json["cells"] as? [[String: Any]])
        let cellKeys: Set<String> = ["model", "sparsity", "measuredSparsity", "validationAUC", "test", "roc", "artifactBytes",
                                     "parameters", "nonzeroParameters", "latencyMedianMs", "latencyP90Ms", "engine",
                                     "stageSeconds", "artifact"]
        #expect(cells.count == 2 && cells.allSatisfy { cellKeys.isSubset(of: Set($0.keys)) })
        let stages = try #require(cells[0]["stageSeconds"] as? [String: Double])
        #expect(Set(stages.keys) == Set(StudyRunner.stageOrder))
        let test = try #require(cells[0]["test"] as? [String: Any])
        for key in ["auc", "sensitivity", "specificity", "percent_tp", "percent_tn", "percent_fp", "percent_fn", "at_youden", "by_diagnosis"] {
            #expect(test.keys.contains(key), "\(key)")
        }
        let training = try #require((json["training"] as? [[String: Any]])?.first)
        #expect(training["chosenLearningRate"] as? Double == 1e-3)

        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        #expect(html.components(separatedBy: "<svg").count - 1 == 6)
        #expect(html.contains("ROC, mobilenetv2") && html.contains("Test AUC vs non-zero parameters"))
        #expect(html.contains("Test AUC vs artifact size, mobilenetv2") && html.contains("Narrower values"))

        // Rerun: nothing is retrained or recomputed; the step files are untouched.
        let kept = ["cells/mobilenetv2-0.00.json", "cells/mobilenetv2-0.50.json", "mobilenetv2/trained.onnx",
                    "mobilenetv2/lr-0.001.onnx", "mobilenetv2/mobilenetv2-0.50.spruce", "split.csv"]
        let before = try kept.map { try Self.modified(dir + "/" + $0) }
        let second = LogLines()
        let again = try runner.run(log: second.append)
        let after = try kept.map { try Self.modified(dir + "/" + $0) }
        #expect(before == after)
        #expect(again.cells == results.cells)
        #expect(again.training == results.training)
        let lines = second.all
        #expect(lines.filter { $0.contains("skipped") }.count == 3)  // dense training + 2 cells
        #expect(!lines.contains { $0.contains("training") || $0.contains("finetune") || $0.contains("prune") })
        #expect(first.all.contains { $0.contains("finetune epoch 1/1") })

        // Other settings in the same folder are refused, naming what changed; nothing is touched.
        var other = Self.options(dir)
        other.epochs = 2
        #expect(throws: StudyError.settingsChanged(path: dir + "/settings.json", changes: "epochs 1 → 2")) {
            try StudyRunner(options: other).run(log: { _ in })
        }
        var global = Self.options(dir)
        global.allocation = .global(minimumDensity: 0.05)
        #expect(throws: StudyError.settingsChanged(path: dir + "/settings.json", changes: "allocation uniform → global")) {
            try StudyRunner(options: global).run(log: { _ in })
        }
        #expect(try kept.map { try Self.modified(dir + "/" + $0) } == before)

        // A cell pruned from another dense model (a rerun with other --lr kept another one) is recomputed.
        let cellFile = dir + "/cells/mobilenetv2-0.50.json"
        #expect(results.cells.allSatisfy { $0.denseLearningRate == 1e-3 })
        var stale: StudyCell = try StudyRunner.decode(cellFile)
        stale.denseLearningRate = 0.5
        try Data(try StudyRunner.json(stale)).write(to: URL(fileURLWithPath: cellFile))
        // Sparsities given in any order: cells (and the charts' lines) come out sorted.
        var reversed = Self.options(dir)
        reversed.sparsities = [0.5, 0]
        let third = LogLines()
        let redone = try StudyRunner(options: reversed).run(log: third.append)
        #expect(redone.cells.map(\.sparsity) == [0, 0.5])
        #expect(third.all.contains { $0.contains("pruned from the learning rate 0.5 model") })
        #expect(third.all.filter { $0.contains("skipped") }.count == 2)  // dense training + the 0 % cell
        #expect(redone.cells.map(\.denseLearningRate) == [1e-3, 1e-3])

        // --report-only: the finished cells go into the report; a missing one (0.25) and a stale one
        // are left out and nothing is decoded, trained, computed or written besides results.json and report.html.
        stale.denseLearningRate = 0.5
        try Data(try StudyRunner.json(stale)).write(to: URL(fileURLWithPath: cellFile))
        let staleDate = try Self.modified(cellFile)
        var more = Self.options(dir)
        more.sparsities = [0, 0.25, 0.5]
        let fourth = LogLines()
        let reported = try StudyRunner(options: more, reportOnly: true).run(log: fourth.append)
        #expect(reported.cells.map(\.sparsity) == [0])
        #expect(reported.training == redone.training)
        #expect(!FileManager.default.fileExists(atPath: dir + "/cells/mobilenetv2-0.25.json"))
        #expect(try Self.modified(cellFile) == staleDate)
        #expect(fourth.all.contains { $0.contains("mobilenetv2 @ 0.25: not computed yet") })
        #expect(fourth.all.contains { $0.contains("mobilenetv2 @ 0.50:") && $0.hasSuffix("stale, left out of the report") })
        #expect(!fourth.all.contains { $0.contains("mobilenetv2 @ 0.50: not computed yet") })
        #expect(!fourth.all.contains { $0.contains("recomputing") || $0.contains("finetune") || $0.contains("training") })
        #expect(!fourth.all.contains { $0.contains("decoding images") })  // the report needs no pixels
        let written: StudyResults = try StudyRunner.decode(dir + "/results.json")
        #expect(written.cells == reported.cells)

        // --combine: this study and another (here its results renamed to a second network at another
        // size) on one page, each keeping its setup; a model found in two studies is refused.
        let otherDir = dir + "-other", allDir = dir + "-all"
        defer { for d in [otherDir, allDir] { try? FileManager.default.removeItem(atPath: d) } }
        var second152 = written
        second152.setup.models = ["resnet152v2"]
        second152.setup.size = 56
        second152.training = second152.training.map { var t = $0; t.model = "resnet152v2"; return t }
        second152.cells = second152.cells.map { var c = $0; c.model = "resnet152v2"; return c }
        try FileManager.default.createDirectory(atPath: otherDir, withIntermediateDirectories: true)
        try Data(try StudyRunner.json(second152)).write(to: URL(fileURLWithPath: otherDir + "/results.json"))
        let combined = try StudyRunner.combine(folders: [dir, otherDir], output: allDir)
        #expect(combined.setup.models == ["mobilenetv2", "resnet152v2"])
        #expect(combined.cells.count == 2 * written.cells.count && combined.training.count == 2)
        #expect(combined.setup(of: "resnet152v2").size == 56 && combined.setup(of: "mobilenetv2").size == 32)
        let page = try String(contentsOfFile: allDir + "/report.html", encoding: .utf8)
        #expect(page.contains("This page combines 2 studies") && page.contains("resized to 32×32, 56×56"))
        #expect(page.contains("Beside the study") && page.contains("<td>0.905</td><td>50%</td><td>56²</td>"))
        #expect(page.contains("ROC, mobilenetv2") && page.contains("ROC, resnet152v2"))
        #expect(try StudyRunner.decode(allDir + "/results.json") as StudyResults == combined)
        #expect(throws: StudyError.invalidOption("mobilenetv2 is in two of the combined studies; a model may come from one only")) {
            try StudyRunner.combine(folders: [dir, allDir], output: allDir + "-again")
        }
        #expect(!FileManager.default.fileExists(atPath: allDir + "-again"))
        #expect(throws: StudyError.invalidOption("\(otherDir)/ is one of the combined studies; write the combined page to another folder")) {
            try StudyRunner.combine(folders: [dir, otherDir], output: otherDir + "/")
        }
        // A folder without a study is refused, and left without files.
        let empty = dir + "-empty"
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(throws: StudyError.invalidOption("\(empty) holds no study to report on (no settings.json)")) {
            try StudyRunner(options: Self.options(empty), reportOnly: true).run(log: { _ in })
        }
        #expect(!FileManager.default.fileExists(atPath: empty))
    }

    @Test("a study stopped mid-training continues from the last finished epoch")
    func interruptedTrainingResumes() throws {
        let dir = NSTemporaryDirectory() + "spruce-study-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = Self.options(dir)
        options.epochs = 2
        options.sparsities = [0.5]
        let stop = CancellationFlag()
        let first = LogLines()
        #expect(throws: StageError.cancelled) {
            try StudyRunner(options: options).run(log: { line in
                first.append(line)
                if line.contains("train epoch 1/2") { stop.cancel() }  // as Ctrl-C after the first epoch
            }, cancellation: stop)
        }
        let checkpoints = dir + "/mobilenetv2/lr-0.001.checkpoint"
        #expect(FileManager.default.fileExists(atPath: checkpoints))
        #expect(!FileManager.default.fileExists(atPath: dir + "/mobilenetv2/lr-0.001.json"))

        let second = LogLines()
        let results = try StudyRunner(options: options).run(log: second.append)
        #expect(second.all.contains { $0.contains("note: train: resuming from the checkpoint at epoch 2 of 2") })
        #expect(!second.all.contains { $0.contains("train epoch 1/2") })
        #expect(second.all.contains { $0.contains("train epoch 2/2") })
        let trial = try #require(results.training.first?.trials.first)
        #expect(trial.epochs == 2 && trial.seconds > 0)
        // Finished steps leave no checkpoints behind.
        #expect(!FileManager.default.fileExists(atPath: checkpoints))
        #expect(!FileManager.default.fileExists(atPath: dir + "/mobilenetv2/mobilenetv2-0.50.checkpoint"))
        #expect(results.cells.count == 1)
    }

    @Test("bad options fail before anything is written", arguments: [
        ("sparsity", StudyOptions(data: fixtureImages, models: ["mobilenetv2"], sparsities: [1.0], output: "")),
        ("model", StudyOptions(data: fixtureImages, models: ["vgg16"], sparsities: [0.5], output: "")),
        ("lr", StudyOptions(data: fixtureImages, models: ["mobilenetv2"], sparsities: [0.5], output: "", learningRates: [])),
        ("bits", StudyOptions(data: fixtureImages, models: ["mobilenetv2"], sparsities: [0.5], output: "", extraValueBits: [8])),
    ])
    func badOptions(name: String, options: StudyOptions) throws {
        let dir = NSTemporaryDirectory() + "spruce-study-bad-\(name)-\(getpid())"
        var o = options
        o.output = dir
        #expect(throws: (any Error).self) { try StudyRunner(options: o).run(log: { _ in }) }
        #expect(!FileManager.default.fileExists(atPath: dir))
    }
}
