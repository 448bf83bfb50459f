// The study report: one self-contained HTML page (inline CSS and SVG, no scripts, no network) with
// the setup, the summary table, the study's figures (ROC per model, AUC against sparsity and
// against non-zero parameters), the TP/TN/FP/FN and by-diagnosis tables, and what the study lacked
// (artifact bytes, runtime latency, wall time per stage). It renders StudyResults; it measures nothing.
import Foundation

/// Renders `StudyResults` as HTML.
public enum StudyReport {
    /// The whole page.
    public static func html(_ r: StudyResults) -> String {
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Spruce study: \(esc(r.setup.models.joined(separator: ", ")))</title>
            <style>\(css)</style></head><body>
            <h1>Spruce study: pruning and int8 on \(esc(r.setup.models.joined(separator: ", ")))</h1>
            <p class="meta">Generated \(esc(r.generated)) by spruce \(esc(r.spruceVersion)); this invocation took \(esc(duration(r.seconds))) (steps finished by an earlier invocation of the same study were read from its files, not recomputed). Every number below is in results.json next to this page.</p>

            """
        h += setup(r)
        h += summary(r)
        h += againstStudy(r)
        h += "<h2>Figures</h2>\n<div class=\"figs\">\n"
        for chart in charts(r) + sizeCharts(r) { h += "<figure>\(chart.render())</figure>\n" }
        h += "</div>\n<h2>ROC curves on the test split</h2>\n<div class=\"figs\">\n"
        for chart in rocCharts(r) { h += "<figure>\(chart.render())</figure>\n" }
        h += "</div>\n"
        h += widths(r)
        h += peers(r)
        h += confusion(r)
        h += diagnoses(r)
        h += training(r)
        h += times(r)
        return h + "</body></html>\n"
    }

    static let css = """
        body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;max-width:1240px;padding:0 16px;color:#222;line-height:1.4}
        h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
        .meta{color:#666;font-size:14px;margin-top:0}
        table{border-collapse:collapse;font-size:14px;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}td{white-space:nowrap}td.l{white-space:normal}
        th{background:#f3f5f7}td.l,th.l{text-align:left}tr.dense td{background:#fafafa}
        .figs{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;flex:0 1 600px;border:1px solid #eee}
        svg.chart{display:block;width:100%;height:auto;font-size:13px}svg .title{font-size:15px;font-weight:600}
        svg .tick{fill:#444;font-size:12px}svg .axis-label{font-size:13px}
        ul{margin:4px 0}code{background:#f3f5f7;padding:1px 4px}
        """

    static func esc(_ s: String) -> String { SVGChart.escape(s) }
    static func f(_ v: Double?, _ digits: Int = 4) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "n/a" }
    static func pct(_ v: Double?) -> String { v.map { String(format: "%.1f%%", $0) } ?? "n/a" }
    static func label(_ s: Double) -> String { String(format: "%.0f%%", s * 100) }
    static func duration(_ s: Double) -> String {
        s < 60 ? String(format: "%.1f s", s) : s < 3600 ? String(format: "%.1f min", s / 60) : String(format: "%.2f h", s / 3600)
    }

    static func setup(_ r: StudyResults) -> String {
        let parts = r.parts ?? [r.setup]
        var h = "<h2>Setup</h2>\n"
        if parts.count > 1 {
            h += "<p>This page combines \(parts.count) studies (<code>spruce study --combine</code>), each run with its own settings below.</p>\n"
        }
        for s in parts { h += setupTable(s) }
        let sizes = parts.map { "\($0.size)×\($0.size)" }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        return h + """
            <p>How this differs from the study:</p>
            <ul><li>no ImageNet pretraining: every model starts from random weights;</li>
            <li>source images are 128×128 (downscaled HAM10000), resized to \(sizes.joined(separator: ", "));</li>
            <li>the split is by lesion (<code>lesion_id</code>), so no lesion appears in two subsets;</li>
            <li>beyond the study: int8 weights, the packed artifact's bytes and its latency on the runtime.</li></ul>

            """
    }

    static func setupTable(_ s: StudySetup) -> String {
        let lrs = s.learningRates.map { "\($0)" }.joined(separator: ", ")
        return """
            <table><tbody>
            <tr><th class="l">data</th><td class="l"><code>\(esc(s.data))</code>: \(s.images) images</td></tr>
            <tr><th class="l">split</th><td class="l">\(s.trainImages) train / \(s.validationImages) validation / \(s.testImages) test (\(s.testPositives) malignant in test); \(esc(s.split))</td></tr>
            <tr><th class="l">models</th><td class="l">\(esc(s.models.joined(separator: ", "))) from the zoo, \(s.size)×\(s.size) input\(s.models.contains("mobilenetv2") ? ", MobileNet v2 width \(s.width)" : ""), random (He) initialisation, seed \(s.seed)</td></tr>
            <tr><th class="l">dense training</th><td class="l">\(s.epochs) epoch\(s.epochs == 1 ? "" : "s"), Adam, batch \(s.batchSize), learning rates \(lrs); the best by validation AUC is kept</td></tr>
            <tr><th class="l">compression</th><td class="l">magnitude pruning (\((s.allocation ?? "uniform") == "global" ? "one global threshold, each layer keeping ≥ 5 %" : "uniform per layer")) of the conv/dense layers (first conv, depthwise convs and classifier left dense) to \(esc(s.sparsities.sorted().map(label).joined(separator: ", "))) on a polynomial schedule during \(s.finetuneEpochs) fine-tuning epoch\(s.finetuneEpochs == 1 ? "" : "s") (Adam \(s.finetuneLearningRate)); BatchNorm folded; int8 weights; packed <code>.spruce</code></td></tr>
            <tr><th class="l">evaluation</th><td class="l">the packed artifact on the Spruce runtime (1 thread) on the test split; latency: median of \(s.latencyRuns) batch-1 runs on this machine (\(s.cores) cores), \(esc(s.build)) build\(s.build == "release" ? "" : " — <strong>latencies of a debug build are not representative of the runtime</strong>")</td></tr>
            </tbody></table>

            """
    }

    static func dense(_ r: StudyResults, _ model: String) -> DenseTraining? { r.training.first { $0.model == model } }

    static func summary(_ r: StudyResults) -> String {
        var h = """
            <h2>Results</h2>
            <p>Test AUC of each packed int8 artifact; Δ is against the float model before pruning (its test AUC in the first row of each model).</p>
            <table><thead><tr><th class="l">model</th><th>sparsity</th><th>measured sparsity¹</th><th>test AUC</th><th>Δ AUC</th><th>val AUC</th><th>sens / spec @0.5</th><th>sens / spec @Youden</th><th>artifact bytes</th><th>non-zero params</th><th>latency ms (p90)</th></tr></thead><tbody>

            """
        for model in r.setup.models {
            let base = dense(r, model)
            if let base {
                h += "<tr class=\"dense\"><td class=\"l\">\(esc(model))</td><td>float</td><td>-</td><td>\(f(base.testAUC))</td><td></td><td>\(f(base.trials.first { $0.learningRate == base.chosenLearningRate }?.validationAUC))</td><td colspan=\"3\" class=\"l\">dense float32, learning rate \(base.chosenLearningRate)</td><td>\(base.parameters)</td><td></td></tr>\n"
            }
            for c in r.cells where c.model == model {
                let delta = c.test.auc.flatMap { a in base?.testAUC.map { String(format: "%+.4f", a - $0) } } ?? "n/a"
                h += "<tr><td class=\"l\">\(esc(model))</td><td>\(label(c.sparsity))</td><td>\(pct(c.measuredSparsity * 100))</td><td>\(f(c.test.auc))</td><td>\(delta)</td><td>\(f(c.validationAUC))</td>"
                h += "<td>\(f(c.test.sensitivity, 3)) / \(f(c.test.specificity, 3))</td><td>\(f(c.test.atYouden?.sensitivity, 3)) / \(f(c.test.atYouden?.specificity, 3))</td>"
                h += "<td>\(c.artifactBytes)</td><td>\(c.nonzeroParameters)</td><td>\(String(format: "%.2f (%.2f)", c.latencyMedianMs, c.latencyP90Ms))</td></tr>\n"
            }
        }
        return h + "</tbody></table>\n<p class=\"meta\">¹ zeros among all conv and dense weights, counting the layers left dense. Latency: median (90th percentile) of batch-1 runs on the runtime, one thread.</p>\n"
    }

    /// The study's own dense test AUCs (ImageNet weights, 224–299 px) and the sparsity at which
    /// it reported each network best, where it said so.
    static let published: [String: (auc: Double, best: String)] = [
        "mobilenetv2": (0.885, "-"), "inceptionv3": (0.925, "-"),
        "resnet50v2": (0.890, "25%"), "resnet152v2": (0.905, "50%"),
    ]

    /// Each network beside the study's figures: its dense AUC, then the int8 artifact's at every sparsity.
    static func againstStudy(_ r: StudyResults) -> String {
        let models = r.setup.models.filter { published[$0] != nil }
        guard !models.isEmpty else { return "" }
        let sparsities = Set(r.cells.map { $0.sparsity }).sorted()
        var h = """
            <h2>Beside the study</h2>
            <p>The study's dense test AUC (ImageNet weights, 224–299 px input) and the sparsity it reported best; then Spruce's dense float model (random initialisation, the input below, lesion-grouped split) and its packed int8 artifacts, best in bold.</p>
            <table><thead><tr><th class="l">model</th><th>study: dense AUC</th><th>study: best sparsity</th><th>Spruce input</th><th>Spruce dense AUC</th>
            """
        h += sparsities.map { "<th>\(label($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for m in models {
            let p = published[m]!
            let cells = r.cells.filter { $0.model == m }
            let best = cells.compactMap { $0.test.auc }.max()
            h += "<tr><td class=\"l\">\(esc(m))</td><td>\(f(p.auc, 3))</td><td>\(p.best)</td><td>\(r.setup(of: m).size)²</td><td>\(f(dense(r, m)?.testAUC))</td>"
            for s in sparsities {
                let auc = cells.first { $0.sparsity == s }?.test.auc
                h += auc == nil ? "<td>-</td>" : auc == best ? "<td><strong>\(f(auc))</strong></td>" : "<td>\(f(auc))</td>"
            }
            h += "</tr>\n"
        }
        return h + "</tbody></table>\n"
    }

    /// The study's two figures and the two it lacked.
    public static func charts(_ r: StudyResults) -> [SVGChart] {
        func per(_ point: (StudyCell) -> (x: Double, y: Double)) -> [SVGSeries] {
            r.setup.models.map { m in SVGSeries(name: m, points: r.cells.filter { $0.model == m }.map(point)) }
        }
        let pctAxis = SVGAxis(label: "target sparsity of the pruned layers (%)", format: { SVGAxis.decimal($0) })
        return [
            SVGChart(title: "Test AUC vs sparsity", x: pctAxis, y: SVGAxis(label: "test AUC"),
                     series: per { ($0.sparsity * 100, $0.test.auc ?? .nan) }),
            SVGChart(title: "Test AUC vs non-zero parameters", x: SVGAxis(label: "non-zero parameters (log scale)", log: true, format: SVGAxis.metric),
                     y: SVGAxis(label: "test AUC"), series: per { (Double($0.nonzeroParameters), $0.test.auc ?? .nan) }),
            SVGChart(title: "Artifact size vs sparsity (int8)", x: pctAxis, y: SVGAxis(label: "artifact bytes (log scale)", log: true, format: SVGAxis.metric),
                     series: per { ($0.sparsity * 100, Double($0.artifactBytes)) }),
            SVGChart(title: "Runtime latency vs sparsity (batch 1, 1 thread)", x: pctAxis, y: SVGAxis(label: "median latency (ms)"),
                     series: per { ($0.sparsity * 100, $0.latencyMedianMs) }),
        ]
    }

    /// Per model with narrower value widths: test AUC against artifact bytes, one series per
    /// width (int8 from the cells themselves), its points the sparsities.
    public static func sizeCharts(_ r: StudyResults) -> [SVGChart] {
        r.setup.models.compactMap { m in
            let cells = r.cells.filter { $0.model == m }
            let bits = Set(cells.flatMap { ($0.widths ?? []).map(\.bits) }).sorted(by: >)
            guard !bits.isEmpty else { return nil }
            let int8 = SVGSeries(name: "int8", points: cells.map { (Double($0.artifactBytes), $0.test.auc ?? .nan) })
            let narrow = bits.map { b in
                SVGSeries(name: "\(b)-bit", points: cells.compactMap { c in
                    c.widths?.first { $0.bits == b }.map { (Double($0.artifactBytes), $0.testAUC ?? .nan) }
                })
            }
            return SVGChart(title: "Test AUC vs artifact size, \(m) (points: sparsities)",
                            x: SVGAxis(label: "artifact bytes (log scale)", log: true, format: SVGAxis.metric),
                            y: SVGAxis(label: "test AUC"), series: [int8] + narrow)
        }
    }

    /// The cells' fine-tuned models packed with narrower values.
    static func widths(_ r: StudyResults) -> String {
        let rows = r.cells.flatMap { c in (c.widths ?? []).map { (c, $0) } }
        guard !rows.isEmpty else { return "" }
        var h = """
            <h2>Narrower values (format 2.0)</h2>
            <p>Each cell's fine-tuned model packed again with b-bit values (per-row scales, nearest rounding, no further training) and evaluated on the runtime on the test split; Δ is against the cell's int8 artifact.</p>
            <table><thead><tr><th class="l">model</th><th>sparsity</th><th>bits</th><th>artifact bytes</th><th>vs int8 bytes</th><th>test AUC</th><th>Δ AUC vs int8</th></tr></thead><tbody>

            """
        for (c, w) in rows {
            let delta = w.testAUC.flatMap { a in c.test.auc.map { String(format: "%+.4f", a - $0) } } ?? "n/a"
            h += "<tr><td class=\"l\">\(esc(c.model))</td><td>\(label(c.sparsity))</td><td>\(w.bits)</td><td>\(w.artifactBytes)</td>"
            h += "<td>\(String(format: "%.2f×", Double(c.artifactBytes) / Double(max(1, w.artifactBytes))))</td><td>\(f(w.testAUC))</td><td>\(delta)</td></tr>\n"
        }
        return h + "</tbody></table>\n"
    }

    /// tfmot + TFLite's bytes against Spruce's on the same pruned weights.
    static func peers(_ r: StudyResults) -> String {
        guard let rows = r.peerSizes, !rows.isEmpty else { return "" }
        var h = """
            <h2>Sizes against tfmot + TFLite</h2>
            <p>Each network as keras.applications builds it (random weights, this study's head), pruned by tfmot's <code>prune_low_magnitude</code> (every layer to the sparsity, one shot) and <code>strip_pruning</code>, then stored by TFLite with int8 weights and gzip -9 (the peer's best size), and by Spruce from the same weights (tf2onnx, <code>spruce pack --int8</code> / <code>--bits 4</code>): the same zeros and values, so the ratio is the formats'. Measured by <code>Tests/Benchmarks/tflite_size_bench.py</code>.</p>
            <table><thead><tr><th class="l">model</th><th>sparsity</th><th>zeros of the kernels</th><th>TFLite int8 + gzip bytes</th><th>Spruce int8 bytes</th><th>TFLite ÷ Spruce</th><th>Spruce 4-bit bytes</th><th>TFLite ÷ Spruce 4-bit</th></tr></thead><tbody>

            """
        for p in rows {
            h += "<tr><td class=\"l\">\(esc(p.model)) \(p.size)²</td><td>\(label(p.sparsity))</td><td>\(pct(p.kernelZeros * 100))</td>"
            h += "<td>\(p.tfliteInt8GzipBytes)</td><td>\(p.spruceInt8Bytes)</td><td>\(String(format: "%.2f×", Double(p.tfliteInt8GzipBytes) / Double(max(1, p.spruceInt8Bytes))))</td>"
            h += "<td>\(p.spruce4BitBytes)</td><td>\(String(format: "%.2f×", Double(p.tfliteInt8GzipBytes) / Double(max(1, p.spruce4BitBytes))))</td></tr>\n"
        }
        return h + "</tbody></table>\n"
    }

    /// One ROC chart per model, one curve per sparsity.
    public static func rocCharts(_ r: StudyResults) -> [SVGChart] {
        r.setup.models.map { m in
            SVGChart(title: "ROC, \(m) (test split)", x: SVGAxis(label: "false positive rate (1 − specificity)", range: 0...1),
                     y: SVGAxis(label: "true positive rate (sensitivity)", range: 0...1),
                     series: r.cells.filter { $0.model == m }.map { c in
                         SVGSeries(name: "\(label(c.sparsity)) AUC \(f(c.test.auc, 3))",
                                   points: c.roc.map { ($0.falsePositiveRate, $0.truePositiveRate) }, markers: false)
                     }, diagonal: true)
        }
    }

    static func confusion(_ r: StudyResults) -> String {
        var h = """
            <h2>True and false positives and negatives (% of test images)</h2>
            <table><thead><tr><th class="l">model</th><th>sparsity</th><th>threshold</th><th>TP</th><th>TN</th><th>FP</th><th>FN</th><th>accuracy</th><th>sensitivity</th><th>specificity</th></tr></thead><tbody>

            """
        for c in r.cells {
            var rows = [("0.5", c.test.atThreshold)]
            if let y = c.test.atYouden { rows.append(("Youden " + String(format: "%.3f", y.threshold), y)) }
            for (name, m) in rows {
                h += "<tr><td class=\"l\">\(esc(c.model))</td><td>\(label(c.sparsity))</td><td>\(name)</td><td>\(pct(m.percentTP))</td><td>\(pct(m.percentTN))</td><td>\(pct(m.percentFP))</td><td>\(pct(m.percentFN))</td><td>\(f(m.accuracy, 3))</td><td>\(f(m.sensitivity, 3))</td><td>\(f(m.specificity, 3))</td></tr>\n"
            }
        }
        return h + "</tbody></table>\n"
    }

    static func diagnoses(_ r: StudyResults) -> String {
        let dxs = Set(r.cells.flatMap { $0.test.byDiagnosis.keys }).sorted()
        var h = "<h2>Errors by diagnosis (threshold 0.5)</h2>\n<p>Wrong / images of each diagnosis in the test split (FP: benign called malignant, FN: malignant called benign).</p>\n"
        h += "<table><thead><tr><th class=\"l\">model</th><th>sparsity</th>" + dxs.map { "<th>\(esc($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for c in r.cells {
            h += "<tr><td class=\"l\">\(esc(c.model))</td><td>\(label(c.sparsity))</td>"
            for dx in dxs {
                guard let e = c.test.byDiagnosis[dx] else { h += "<td>-</td>"; continue }
                let kind = e.falsePositives > 0 && e.falseNegatives > 0 ? " (\(e.falsePositives) FP, \(e.falseNegatives) FN)"
                    : e.falsePositives > 0 ? " FP" : e.falseNegatives > 0 ? " FN" : ""
                h += "<td>\(e.errors)/\(e.images)\(kind)</td>"
            }
            h += "</tr>\n"
        }
        return h + "</tbody></table>\n"
    }

    static func training(_ r: StudyResults) -> String {
        var h = "<h2>Dense training</h2>\n<table><thead><tr><th class=\"l\">model</th><th>learning rate</th><th>best val AUC</th><th>epochs</th><th>wall time</th><th class=\"l\">kept</th><th>test AUC (float)</th></tr></thead><tbody>\n"
        for t in r.training {
            for trial in t.trials {
                h += "<tr><td class=\"l\">\(esc(t.model))</td><td>\(trial.learningRate)</td><td>\(f(trial.validationAUC))</td><td>\(trial.epochs)</td><td>\(duration(trial.seconds))</td><td class=\"l\">\(trial.learningRate == t.chosenLearningRate ? "yes" : "")</td><td>\(trial.learningRate == t.chosenLearningRate ? f(t.testAUC) : "")</td></tr>\n"
            }
        }
        return h + "</tbody></table>\n"
    }

    static func times(_ r: StudyResults) -> String {
        let stages = StudyRunner.stageOrder
        var h = "<h2>Wall time per stage</h2>\n<table><thead><tr><th class=\"l\">model</th><th>sparsity</th>" + stages.map { "<th>\($0)</th>" }.joined() + "<th>total</th></tr></thead><tbody>\n"
        for c in r.cells {
            h += "<tr><td class=\"l\">\(esc(c.model))</td><td>\(label(c.sparsity))</td>"
            h += stages.map { "<td>\(c.stageSeconds[$0].map(duration) ?? "-")</td>" }.joined()
            h += "<td>\(duration(c.stageSeconds.values.reduce(0, +)))</td></tr>\n"
        }
        h += "</tbody></table>\n"
        // Sums over everything recorded, so a study finished over several runs still shows its cost.
        var lines: [String] = []
        var all = 0.0
        for model in r.setup.models {
            let dense = r.training.filter { $0.model == model }.flatMap(\.trials).reduce(0) { $0 + $1.seconds }
            let cells = r.cells.filter { $0.model == model }.reduce(0) { $0 + $1.stageSeconds.values.reduce(0, +) }
            all += dense + cells
            lines.append("\(esc(model)): dense training \(duration(dense)) + cells \(duration(cells)) = \(duration(dense + cells))")
        }
        lines.append("all models: \(duration(all)) of recorded stage time (this run's own wall time: \(duration(r.seconds)))")
        return h + "<p>" + lines.joined(separator: "<br>\n") + "</p>\n"
    }
}
