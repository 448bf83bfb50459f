// Tests of N-class classification: the multi-class report against figures worked out by hand
// (top-1/top-k, balanced accuracy, per-class precision/recall/AUC, confusion matrix), logits turned
// into probability rows, categorical label columns, and replacing a model's classifier head while
// the backbone keeps its weights.
import Foundation
import Testing
import SpruceCore
@testable import SpruceTrain

@Suite struct MulticlassTests {
    // Four images, three classes: image 2 (label 2) is called class 0, its label second.
    let rows: [Float] = [0.7, 0.2, 0.1,
                         0.3, 0.4, 0.3,
                         0.55, 0.2, 0.25,
                         0.1, 0.2, 0.7]
    let labels = [0, 1, 2, 2]

    @Test func reportMatchesHandComputedFigures() throws {
        let r = try MulticlassReport(probabilities: rows, classes: 3, labels: labels, classNames: ["a", "b", "c"])
        #expect(r.images == 4)
        #expect(r.top1 == 0.75)
        #expect(r.topK == 3 && r.topKAccuracy == 1)
        #expect(r.confusion == [[1, 0, 0], [0, 1, 0], [1, 0, 1]])
        #expect(abs(r.balancedAccuracy - 2.5 / 3) < 1e-12)
        #expect(r.perClass.map(\.name) == ["a", "b", "c"])
        #expect(r.perClass.map(\.images) == [1, 1, 2])
        #expect(r.perClass.map(\.precision) == [0.5, 1, 1])
        #expect(r.perClass.map(\.recall) == [1, 1, 0.5])
        // Class c: positives 0.25 and 0.7 against negatives 0.1 and 0.3 win 3 of 4 pairs.
        #expect(r.perClass.map(\.auc) == [1, 1, 0.75])
        #expect(abs(r.macroAUC! - 2.75 / 3) < 1e-12)
        #expect(r.textSummary.contains("top-1 0.7500, top-3 1.0000"))
    }

    @Test func topFiveCountsRankWithTiesToTheLabel() throws {
        // Six classes: the label ranks fifth in row 0 (in the top 5), sixth in row 1 (out).
        let probs: [Float] = [0.3, 0.25, 0.2, 0.15, 0.06, 0.04,
                              0.3, 0.25, 0.2, 0.15, 0.06, 0.04]
        let r = try MulticlassReport(probabilities: probs, classes: 6, labels: [4, 5])
        #expect(r.topK == 5)
        #expect(r.topKAccuracy == 0.5)
        #expect(r.top1 == 0)
        // A class without images has no recall and no AUC and is left out of both means.
        #expect(r.perClass[0].recall == nil && r.perClass[0].auc == nil)
        #expect(r.balancedAccuracy == 0)
    }

    @Test func badInputsAreNamed() {
        #expect(throws: MetricError.labelOutOfRange(index: 1, label: 3, classes: 3)) {
            try MulticlassReport(probabilities: rows, classes: 3, labels: [0, 3, 1, 1])
        }
        #expect(throws: MetricError.countMismatch(scores: 4, labels: 3)) {
            try MulticlassReport(probabilities: rows, classes: 3, labels: [0, 1, 2])
        }
        #expect(throws: MetricError.tooFewClasses(1)) {
            try MulticlassReport(probabilities: [1], classes: 1, labels: [0])
        }
    }

    @Test func logitsBecomeSoftmaxRowsAndProbabilitiesStay() {
        #expect(MulticlassReport.probabilityRows(rows, classes: 3) == rows)
        let logits: [Float] = [0, log(3), 2, 2]
        let p = MulticlassReport.probabilityRows(logits, classes: 2)
        #expect(abs(p[0] - 0.25) < 1e-6 && abs(p[1] - 0.75) < 1e-6)
        #expect(p[2] == 0.5 && p[3] == 0.5)
    }

    @Test func validationMetricsUseTheMacroAUCForWideHeads() throws {
        let m = Trainer.validationMetrics(outputs: rows, labels: labels.map(Float.init))
        #expect(abs(m.auc! - 2.75 / 3) < 1e-12)
        let ce = -(log(0.7) + log(0.4) + log(0.25) + log(0.7)) / 4
        #expect(abs(m.loss - ce) < 1e-6)
        // Two-wide rows are binary: class 1's probability.
        let two = Trainer.validationMetrics(outputs: [0.9, 0.1, 0.2, 0.8], labels: [0, 1])
        #expect(two.auc == 1)
    }

    @Test func textLabelColumnsBecomeSortedClasses() throws {
        let dir = TempDir()
        try DataTestSupport.hamFolder(dir, rows: [("A", "L1", "nv", 0), ("B", "L2", "mel", 1), ("C", "L3", "bcc", 1),
                                                  ("D", "L4", "nv", 0)])
        var options = DatasetOptions()
        options.labelColumn = "dx"
        let data = try Dataset.load(directory: dir.path, options: options)
        #expect(data.classNames == ["bcc", "mel", "nv"])
        #expect(data.samples.map(\.label) == [2, 1, 0, 2])
        #expect(!data.isBinary)
        // The default column is still the binary task.
        #expect(try Dataset.load(directory: dir.path).classNames == ["0", "1"])
    }

    @Test func aZooHeadIsReplacedAndTheBackboneKept() throws {
        let model = try ModelZoo.build(.mobileNetV2, inputSize: 32, width: 0.35, seed: 1)
        let replaced = try ClassifierHead.replace(in: model, classes: 7, seed: 2)
        #expect(ClassifierHead.classes(of: replaced.graph) == 7)
        #expect(replaced.graph.initializers["predictions/kernel"]?.shape == [7, 1280])
        #expect(replaced.graph.initializers["predictions/bias"]?.shape == [7])
        #expect(replaced.graph.nodes.last?.op == .softmax(axis: -1))
        for (name, tensor) in model.graph.initializers where !name.hasPrefix("predictions/") {
            #expect(replaced.graph.initializers[name] == tensor, "\(name) changed")
        }
        // It trains with softmax cross-entropy and predicts rows that sum to one.
        let session = try TrainingSession(model: replaced)
        #expect(session.lossKind == .softmaxCrossEntropy)
        let images = Tensor(shape: [2, 3, 32, 32], data: (0..<(2 * 3 * 32 * 32)).map { Float($0 % 7) / 7 })
        let loss = try session.step(inputs: images, labels: [3, 6])
        #expect(loss.isFinite)
        let p = try session.predict(images)
        #expect(p.count == 14)
        #expect(abs(p[0..<7].reduce(0, +) - 1) < 1e-5)
        // Back to one sigmoid output.
        let binary = try ClassifierHead.replace(in: replaced, classes: 1)
        #expect(binary.graph.nodes.last?.op == .sigmoid)
        #expect(ClassifierHead.classes(of: binary.graph) == 1)
    }

    @Test func aLinearHeadWithABiasAddIsReplaced() throws {
        // x [N, 4] → MatMul W [4, 3] → Add b [3] → output (logits).
        let graph = Graph(
            nodes: [Node(name: "fc", op: .matMul, inputs: ["x", "W"], outputs: ["h"]),
                    Node(name: "fc_bias", op: .add, inputs: ["h", "b"], outputs: ["y"])],
            initializers: ["W": Tensor(shape: [4, 3], repeating: 1), "b": Tensor(shape: [3], repeating: 1)],
            inputs: [ValueInfo(name: "x", shape: [nil, 4])], outputs: [ValueInfo(name: "y", shape: [nil, 3])])
        let replaced = try ClassifierHead.replace(in: Model(graph: graph), classes: 5)
        #expect(replaced.graph.initializers["W"]?.shape == [4, 5])
        #expect(replaced.graph.initializers["b"] == Tensor(shape: [5], repeating: 0))
        #expect(replaced.graph.outputs[0].shape == [nil, 5])
        let y = try ReferenceExecutor(graph: replaced.graph).run(["x": Tensor(shape: [2, 4], repeating: 0.5)])
        #expect(y["y"]?.shape == [2, 5])
    }

    @Test func aHeadThatIsNotAClassifierIsRefused() throws {
        let graph = Graph(
            nodes: [Node(name: "conv", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["x", "W"], outputs: ["y"])],
            initializers: ["W": Tensor(shape: [2, 3, 1, 1], repeating: 1)],
            inputs: [ValueInfo(name: "x", shape: [nil, 3, 4, 4])], outputs: [ValueInfo(name: "y", shape: [nil, 2, 4, 4])])
        #expect(throws: TrainingError.badHead(detail: "no Gemm or MatMul classifier layer to replace")) {
            try ClassifierHead.replace(in: Model(graph: graph), classes: 3)
        }
    }

    @Test func dataThatDoesNotFitTheHeadIsNamed() throws {
        let model = try ModelZoo.build(.mobileNetV2, inputSize: 32, width: 0.35)
        let data = Dataset(root: "ham", samples: [], classNames: ["a", "b", "c"])
        #expect(throws: DatasetError.classCountMismatch(path: "ham", modelClasses: 1, dataClasses: 3, labelColumn: "dx")) {
            try data.checkFits(model.graph, labelColumn: "dx")
        }
        try Dataset(root: "ham", samples: [], classNames: ["0", "1"]).checkFits(model.graph, labelColumn: "malignant")
    }
}
