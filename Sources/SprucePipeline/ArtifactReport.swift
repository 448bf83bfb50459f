// `spruce inspect --html`: one self-contained page (inline CSS and SVG, no scripts, no external
// files) showing where an artifact's bytes go: a stacked bar of values / positions / scales /
// other tensors / header and manifest, then per weight tensor its encoding, value type, sparsity,
// bits per non-zero and a bar of its stored bytes. Several artifacts get a comparison table and
// bars on one scale first. It reads ArtifactSummary only.
import Foundation

/// HTML storage reports of artifacts.
public enum ArtifactReport {
    /// The byte categories, in bar order, with their colours.
    static let parts: [(name: String, color: String)] = [
        ("values", "#2b6cb0"), ("positions", "#dd6b20"), ("scales", "#38a169"),
        ("other tensors", "#a0aec0"), ("header and manifest", "#4a5568"),
    ]

    /// Bytes per category of `s`: weight values, weight positions, weight scales, the other
    /// tensors (biases, BatchNorm, ...), and what is not a tensor section.
    static func breakdown(_ s: ArtifactSummary) -> [Int] {
        let weights = s.tensors.filter(\.isWeight)
        let values = weights.reduce(0) { $0 + $1.valueBytesStored }
        let positions = weights.reduce(0) { $0 + $1.indexBytesStored }
        let scales = weights.reduce(0) { $0 + $1.scaleBytesStored }
        let other = s.tensors.filter { !$0.isWeight }.reduce(0) { $0 + $1.storedBytes }
        return [values, positions, scales, other, max(0, s.bytes - values - positions - scales - other)]
    }

    /// The page for `artifacts` (path and summary each), compared when there are several.
    public static func html(_ artifacts: [(path: String, summary: ArtifactSummary)]) -> String {
        let title = artifacts.count == 1 ? "Spruce artifact: \(name(artifacts[0].path))" : "Spruce artifacts compared"
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #1a202c; max-width: 1100px; }
            table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
            th, td { padding: 2px 8px; text-align: right; border-bottom: 1px solid #e2e8f0; white-space: nowrap; }
            th.l, td.l { text-align: left; }
            td.wrap { white-space: normal; max-width: 760px; }
            .legend span { display: inline-block; margin-right: 1.2em; }
            .legend i { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.3em; vertical-align: -1px; }
            .meta { color: #4a5568; }
            </style></head><body>
            <h1>\(escape(title))</h1>
            <p class="legend">\(parts.map { "<span><i style=\"background:\($0.color)\"></i>\($0.name)</span>" }.joined())</p>

            """
        if artifacts.count > 1 { h += comparison(artifacts) }
        for (path, summary) in artifacts { h += section(path: path, summary) }
        return h + "</body></html>\n"
    }

    /// The table and bars comparing several artifacts on one scale.
    static func comparison(_ artifacts: [(path: String, summary: ArtifactSummary)]) -> String {
        let largest = artifacts.map(\.summary.bytes).max() ?? 1
        var h = "<h2>Comparison</h2>\n<table><tr><th class=\"l\">file</th><th>bytes</th><th>× smaller than dense float32</th>"
            + "<th>sparsity of conv/gemm weights</th><th class=\"l\">where the bytes go</th></tr>\n"
        for (path, s) in artifacts {
            h += "<tr><td class=\"l\">\(escape(name(path)))</td><td>\(grouped(s.bytes))</td><td>\(String(format: "%.2f", s.ratio))</td>"
                + "<td>\(String(format: "%.2f%%", s.sparsity * 100))</td><td class=\"l\">\(bar(breakdown(s), scale: largest, width: 420))</td></tr>\n"
        }
        return h + "</table>\n"
    }

    /// One artifact: totals, its bar, metadata and the per-layer table.
    static func section(path: String, _ s: ArtifactSummary) -> String {
        let parts = breakdown(s)
        var h = "<h2>\(escape(name(path)))</h2>\n"
        h += "<p>\(grouped(s.bytes)) bytes, \(String(format: "%.2f", s.ratio))× smaller than the same tensors as dense float32 "
            + "(\(grouped(s.denseBytes)) bytes); \(String(format: "%.2f%%", s.sparsity * 100)) of \(grouped(s.weightElements)) "
            + "conv/gemm weights are zero. Format \(escape(s.formatVersion)).</p>\n"
        h += "<p>\(bar(parts, scale: s.bytes, width: 800))</p>\n<p class=\"meta\">"
            + zip(Self.parts, parts).map { "\($0.name) \(grouped($1)) (\(String(format: "%.1f%%", 100 * Double($1) / Double(max(s.bytes, 1)))))" }
                .joined(separator: " · ") + "</p>\n"
        if !s.metadata.isEmpty {
            h += "<table class=\"meta\">" + s.metadata.sorted { $0.key < $1.key }.map {
                "<tr><td class=\"l\">\(escape($0.key))</td><td class=\"l wrap\">\(escape($0.value))</td></tr>"
            }.joined(separator: "\n") + "</table>\n"
        }
        let weights = s.tensors.filter(\.isWeight)
        let largest = weights.map(\.storedBytes).max() ?? 1
        h += "<table><tr><th class=\"l\">weight</th><th class=\"l\">shape</th><th class=\"l\">encoding</th><th>type</th>"
            + "<th>sparsity</th><th>bits per non-zero</th><th>stored bytes</th><th class=\"l\">values / positions / scales</th></tr>\n"
        for t in weights {
            let encoding = t.indexFormats.isEmpty ? t.encoding : "\(t.encoding) \(t.indexFormats)"
            h += "<tr><td class=\"l\">\(escape(t.name))</td><td class=\"l\">\(t.shape.map(String.init).joined(separator: "×"))</td>"
                + "<td class=\"l\">\(escape(encoding))</td><td>\(escape(t.valueType))</td>"
                + "<td>\(String(format: "%.1f%%", t.sparsity * 100))</td><td>\(String(format: "%.2f", t.bitsPerNonzero))</td>"
                + "<td>\(grouped(t.storedBytes))</td>"
                + "<td class=\"l\">\(bar([t.valueBytesStored, t.indexBytesStored, t.scaleBytesStored], scale: largest, width: 220))</td></tr>\n"
        }
        return h + "</table>\n"
    }

    /// An inline SVG bar: `values` side by side in the category colours, `scale` bytes = `width` pixels.
    static func bar(_ values: [Int], scale: Int, width: Double) -> String {
        var x = 0.0
        var rects = ""
        for (value, part) in zip(values, parts) where value > 0 {
            let w = width * Double(value) / Double(max(scale, 1))
            rects += "<rect x=\"\(String(format: "%.1f", x))\" width=\"\(String(format: "%.1f", max(w, 0.5)))\" height=\"14\" fill=\"\(part.color)\">"
                + "<title>\(part.name): \(grouped(value)) bytes</title></rect>"
            x += w
        }
        return "<svg width=\"\(Int(width))\" height=\"14\" role=\"img\">\(rects)</svg>"
    }

    /// The file name of `path`.
    static func name(_ path: String) -> String { (path as NSString).lastPathComponent }

    static func grouped(_ n: Int) -> String { ByteSize.grouped(n) }

    static func escape(_ text: String) -> String { SVGChart.escape(text) }
}
