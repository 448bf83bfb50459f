// The study report's SVG charts and HTML on fixed data: exact polyline coordinates for a known ROC,
// ticks on linear and log axes, escaping, and a page with every figure and table and no scripts.
// It does not run a study (StudyRunnerTests does).
import Foundation
import Testing
@testable import SprucePipeline
import SpruceTrain

@Suite struct StudySVGTests {
    @Test("a known ROC maps to the expected polyline points")
    func rocPolyline() {
        // Plot area: x 64…450 (386 px), y 36…344 (308 px) for 600×400 with the default margins.
        let chart = SVGChart(title: "ROC", x: SVGAxis(label: "FPR", range: 0...1), y: SVGAxis(label: "TPR", range: 0...1),
                             series: [SVGSeries(name: "dense", points: [(0, 0), (0.25, 0.5), (1, 1)], markers: false)],
                             diagonal: true)
        let svg = chart.render()
        #expect(svg.contains("points=\"64.0,344.0 160.5,190.0 450.0,36.0\""))
        #expect(svg.contains("class=\"chance\" x1=\"64.0\" y1=\"344.0\" x2=\"450.0\" y2=\"36.0\""))
        #expect(!svg.contains("<circle"))
        for tick in ["0", "0.2", "0.4", "0.6", "0.8", "1"] { #expect(svg.contains(">\(tick)</text>")) }
        #expect(svg.contains(">FPR</text>") && svg.contains(">TPR</text>"))
        #expect(svg.contains("<text x=\"490.0\" y=\"48.0\">dense</text>"))  // legend right of the plot
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>"))
    }

    @Test("series get palette colours, markers, escaped names")
    func seriesAndEscaping() {
        let chart = SVGChart(title: "AUC <&> \"x\"", x: SVGAxis(label: "s"), y: SVGAxis(label: "auc"),
                             series: [SVGSeries(name: "a<b", points: [(0, 0.9), (50, 0.8)]),
                                      SVGSeries(name: "c", points: [(0, 0.7), (50, 0.6)])])
        let svg = chart.render()
        #expect(svg.contains("AUC &lt;&amp;&gt; &quot;x&quot;"))
        #expect(svg.contains("data-series=\"a&lt;b\""))
        #expect(svg.contains("stroke=\"\(SVGChart.palette[0])\"") && svg.contains("stroke=\"\(SVGChart.palette[1])\""))
        #expect(svg.components(separatedBy: "<circle").count - 1 == 4)
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
    }

    @Test("log axes put ticks on decades, with 2x and 5x over short ranges", arguments: [
        (ClosedRange<Double>(uncheckedBounds: (100, 1_000_000)), ["100", "1k", "10k", "100k", "1M"]),
        (ClosedRange<Double>(uncheckedBounds: (100_000, 1_000_000)), ["100k", "200k", "500k", "1M"]),
    ])
    func logTicks(range: ClosedRange<Double>, labels: [String]) {
        let axis = SVGAxis(label: "n", range: range, log: true, format: SVGAxis.metric)
        let chart = SVGChart(title: "t", x: axis, y: SVGAxis(label: "y", range: 0...1),
                             series: [SVGSeries(name: "s", points: [(range.lowerBound, 0), (range.upperBound, 1)])])
        let r = chart.resolvedRange(axis, values: [])
        let ticks = chart.ticks(r, log: true).map { SVGAxis.metric(pow(10, $0)) }
        #expect(ticks == labels)
        #expect(chart.render().contains("points=\"64.0,344.0 450.0,36.0\""))
    }

    @Test("ticks closer than the format's 2 decimals get the decimals their step needs")
    func fineTicks() {
        let chart = SVGChart(title: "t", x: SVGAxis(label: "x", range: 0...100), y: SVGAxis(label: "AUC"),
                             series: [SVGSeries(name: "s", points: [(0, 0.8802), (100, 0.8987)])])
        let yr = chart.resolvedRange(chart.y, values: [0.8802, 0.8987])
        let labels = SVGChart.labels(chart.ticks(yr, log: false), chart.y)
        #expect(labels.count >= 3 && Set(labels).count == labels.count, "\(labels)")
        #expect(labels.allSatisfy { $0.split(separator: ".").last?.count == 3 }, "\(labels)")
        // Ticks the 2-decimal format tells apart keep it.
        #expect(SVGChart.labels([0, 25, 50], chart.x) == ["0", "25", "50"])
    }

    @Test("the report page has every figure and table, inline, without scripts or remote resources")
    func reportPage() throws {
        let results = try Self.fixedResults()
        let html = StudyReport.html(results)
        #expect(html.components(separatedBy: "<svg").count - 1 == 5)  // 4 study figures + 1 ROC
        for heading in ["Setup", "Results", "True and false positives", "Errors by diagnosis", "Dense training", "Wall time per stage"] {
            #expect(html.contains("<h2>\(heading)"))
        }
        for title in ["Test AUC vs sparsity", "Test AUC vs non-zero parameters", "Artifact size vs sparsity", "Runtime latency vs sparsity", "ROC, mobilenetv2"] {
            #expect(html.contains(title))
        }
        #expect(html.contains("no ImageNet pretraining") && html.contains("128×128") && html.contains("lesion"))
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href="))
        #expect(html.contains("debug build are not representative"))
        #expect(html.contains("<td>1/2 FN</td>"))  // mel at 50 %: one malignant missed
        #expect(html.contains("dense) to 0%, 50% on a polynomial"))  // sorted, whatever order --sparsities gave
        #expect(html.contains("<td>+0.0000</td>") && html.contains("<td>-0.5000</td>"))  // Δ against the float AUC 1
        // Stage totals: a 2 s dense trial plus two cells of 11.1 s.
        #expect(html.contains("mobilenetv2: dense training 2.0 s + cells 22.2 s = 24.2 s"))
        #expect(html.contains("all models: 24.2 s of recorded stage time (this run's own wall time: 12.0 s)"))
        // The ROC polyline of the 50 % cell, from its curve points.
        let roc = StudyReport.rocCharts(results)[0].render()
        #expect(roc.contains("points=\"64.0,344.0 64.0,190.0 257.0,190.0 450.0,190.0 450.0,36.0\""))
        #expect(!html.contains("Sizes against tfmot + TFLite"))

        // With tfmot + TFLite's sizes measured: their table, with the ratios.
        var withPeers = results
        withPeers.peerSizes = [PeerSize(model: "mobilenetv2", size: 32, sparsity: 0.5, kernelZeros: 0.49, tfliteInt8GzipBytes: 300_000,
                                        spruceInt8Bytes: 200_000, spruce4BitBytes: 120_000)]
        let peers = StudyReport.html(withPeers)
        #expect(peers.contains("<h2>Sizes against tfmot + TFLite"))
        #expect(peers.contains("<td>300000</td><td>200000</td><td>1.50×</td><td>120000</td><td>2.50×</td>"))
    }

    /// Two cells of a made-up study with four test images.
    static func fixedResults() throws -> StudyResults {
        let labels = [1, 1, 0, 0]
        let dx: [String?] = ["mel", "mel", "nv", "nv"]
        func cell(_ s: Double, _ scores: [Float]) throws -> StudyCell {
            StudyCell(model: "mobilenetv2", sparsity: s, measuredSparsity: s * 0.9, validationAUC: 0.8,
                      test: try EvaluationReport(scores: scores, labels: labels, diagnoses: dx),
                      roc: try ROC.curve(scores: scores, labels: labels), artifactBytes: s == 0 ? 400_000 : 250_000,
                      parameters: 390_000, nonzeroParameters: s == 0 ? 390_000 : 210_000,
                      latencyMedianMs: s == 0 ? 3 : 2, latencyP90Ms: 4, engine: "runtime (1 thread)",
                      stageSeconds: ["prune": 0.1, "finetune": 10, "pack": 1], artifact: "mobilenetv2/x.spruce")
        }
        let setup = StudySetup(data: "fixtures/images", images: 24, trainImages: 14, validationImages: 6, testImages: 4,
                               testPositives: 2, split: "seed 0", size: 32, width: 0.35, epochs: 1, finetuneEpochs: 1,
                               learningRates: [1e-3], finetuneLearningRate: 1e-4, sparsities: [0.5, 0],
                               models: ["mobilenetv2"], seed: 0, batchSize: 16, latencyRuns: 5, cores: 2, build: "debug")
        let training = DenseTraining(model: "mobilenetv2", trials: [LearningRateTrial(learningRate: 1e-3, validationAUC: 0.8, seconds: 2, epochs: 1)],
                                     chosenLearningRate: 1e-3, parameters: 411_489, testAUC: 1)
        // 50 %: scores put one malignant below both benign images → AUC 0.5, one FN at 0.5.
        return StudyResults(spruceVersion: "0.1.0", generated: "2026-11-26T00:00:00Z", setup: setup, training: [training],
                            cells: [try cell(0, [0.9, 0.8, 0.2, 0.1]), try cell(0.5, [0.9, 0.1, 0.6, 0.55])], seconds: 12)
    }
}
