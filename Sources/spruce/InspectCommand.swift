// `spruce inspect`: a model's inputs, outputs, operators, parameters and per-tensor sparsity,
// as an aligned text report or as JSON (the same fields, from one ModelSummary). For a `.spruce`
// artifact it reports storage instead: encodings and bytes per tensor (from one ArtifactSummary).
import ArgumentParser
import Foundation
import SpruceCore
import SprucePipeline

/// `spruce inspect MODEL [--json]`
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Summarise a model: inputs, outputs, operators, parameters and sparsity.",
        discussion: """
            Sparsity is the fraction of weights that are exactly zero, per tensor and over all \
            tensors. --json prints the same report as one JSON object with the keys producer, \
            metadata, inputs, outputs, operators, nodes, parameters, zeros, sparsity and tensors \
            (each {name, shape, elements, zeros, sparsity}); dynamic dimensions are null.

            For a .spruce artifact the report is about storage: per tensor the node reading it, \
            shape, encoding (dense, csr with its index widths, bitmask), value type (f32, f16, \
            int8 … int2, with /f16 when the row scales are binary16), non-zeros, \
            sparsity, bytes of values / indices / scales (raw/stored), bits per stored value and \
            per stored position (after zstd), bits per non-zero and \
            stored bytes; then totals against the same tensors as dense float32. Its JSON has at \
            the top level sparsity (zeros over all conv and Gemm weights), bytes (file size), \
            dense_bytes, ratio (dense_bytes / bytes) and tensors, one object per tensor with the \
            table's fields (name, operator, node, shape, encoding, index_formats, value_type, \
            is_weight, elements, nonzeros, sparsity, value_bytes, index_bytes, scale_bytes, \
            value_bytes_stored, index_bytes_stored, scale_bytes_stored, stored_values, \
            bits_per_value, bits_per_position, bits_per_nonzero, \
            stored_bytes), besides format_version, producer, metadata, inputs, outputs, nodes, \
            weight_elements, elements and the byte totals.

            --html writes one self-contained page (inline CSS and SVG) for a .spruce artifact: \
            where its bytes go (values, positions, scales, other tensors, header and manifest) and, \
            per conv/Gemm weight, encoding, value type, sparsity, bits per non-zero and stored \
            bytes as a bar; --compare adds more artifacts and a table comparing them.

            Examples:
              spruce inspect model.onnx
              spruce inspect model.onnx --json
              spruce inspect model.spruce --json
              spruce inspect model.spruce --html report.html --compare other.spruce
            """)

    @OptionGroup var options: ModelOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: ArgumentHelp("Write a self-contained HTML page of a .spruce artifact's storage (where the bytes go, per layer) to this file.",
                               valueName: "report.html"))
    var html: String?

    @Option(parsing: .upToNextOption,
            help: ArgumentHelp("With --html: more .spruce artifacts to compare on the same page.", valueName: "other.spruce"))
    var compare: [String] = []

    func validate() throws {
        if !compare.isEmpty && html == nil { throw ValidationError("--compare needs --html") }
        if let html, !html.lowercased().hasSuffix(".html") { throw ValidationError("--html must name a .html file, got '\(html)'") }
    }

    func run() throws {
        if let html {
            let paths = [options.model] + compare
            for path in paths where ModelFile.loader(forPath: path)?.extensions != ModelLoader.spruce.extensions {
                throw ValidationError("--html reports .spruce artifacts; \(path) is not one")
            }
            let summaries = try paths.map { ($0, ArtifactSummary(artifact: try ModelFile.loadArtifact(path: $0))) }
            try FileIO.writeAtomically(Array(ArtifactReport.html(summaries).utf8), to: html)
            print("wrote \(html)")
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        if ModelFile.loader(forPath: options.model)?.extensions == ModelLoader.spruce.extensions {
            let summary = ArtifactSummary(artifact: try ModelFile.loadArtifact(path: options.model))
            print(json ? String(decoding: try encoder.encode(summary), as: UTF8.self) : Self.text(summary, path: options.model))
            return
        }
        let summary = ModelSummary(model: try ModelFile.load(path: options.model))
        if json {
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            print(Self.text(summary, path: options.model))
        }
    }

    /// The human-readable storage report of an artifact.
    static func text(_ s: ArtifactSummary, path: String) -> String {
        var out = header("artifact: \(path) (format \(s.formatVersion))", producer: s.producer, metadata: s.metadata,
                         inputs: s.inputs, outputs: s.outputs)
        out.append("tensors (\(s.tensors.count); bytes as raw/stored):")
        let columns = ["name", "operator", "shape", "encoding", "type", "nonzeros", "sparsity",
                       "values", "indices", "scales", "b/value", "b/pos", "bits/nz", "stored"]
        let rows = s.tensors.map { t in
            [t.name, t.operator.isEmpty ? "-" : t.operator, formatShape(t.shape),
             t.indexFormats.isEmpty ? t.encoding : "\(t.encoding) \(t.indexFormats)", t.valueType,
             "\(t.nonzeros)", percent(t.sparsity),
             "\(t.valueBytes)/\(t.valueBytesStored)", "\(t.indexBytes)/\(t.indexBytesStored)",
             "\(t.scaleBytes)/\(t.scaleBytesStored)", String(format: "%.2f", t.bitsPerValue),
             String(format: "%.2f", t.bitsPerPosition), String(format: "%.2f", t.bitsPerNonzero), "\(t.storedBytes)"]
        }
        out += table([columns] + rows, indent: 2, rightAligned: Set(5...13))
        out.append("total: \(s.elements) elements; sparsity \(percent(s.sparsity)) of \(s.weightElements) conv/gemm weights")
        out.append("bytes: values \(s.valueBytes), indices \(s.indexBytes), scales \(s.scaleBytes) raw; "
                   + "tensors \(s.storedBytes) stored; file \(s.bytes)")
        out.append("dense float32: \(s.denseBytes) bytes; ratio \(String(format: "%.2f", s.ratio))x")
        return out.joined(separator: "\n")
    }

    /// The human-readable report.
    static func text(_ s: ModelSummary, path: String) -> String {
        var out = header("model: \(path)", producer: s.producer, metadata: s.metadata, inputs: s.inputs, outputs: s.outputs)
        out.append("operators (\(s.nodes) nodes):")
        let byCount = s.operators.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        out += table(byCount.map { [$0.key, "\($0.value)"] }, indent: 2, rightAligned: [1])
        out.append("tensors (\(s.tensors.count)):")
        let rows = [["name", "shape", "elements", "zeros", "sparsity"]]
            + s.tensors.map { [$0.name, formatShape($0.shape), "\($0.elements)", "\($0.zeros)", percent($0.sparsity)] }
        out += table(rows, indent: 2, rightAligned: [2, 3, 4])
        out.append("total: \(s.parameters) parameters, \(s.zeros) zeros, sparsity \(percent(s.sparsity))")
        return out.joined(separator: "\n")
    }

    /// The lines both reports open with: title, producer, metadata, inputs and outputs.
    private static func header(_ title: String, producer: String, metadata: [String: String],
                               inputs: [ModelSummary.Value], outputs: [ModelSummary.Value]) -> [String] {
        var out = [title, "producer: \(producer.isEmpty ? "(none)" : producer)"]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            out.append("metadata: \(key) = \(value)")
        }
        out.append("inputs:")
        out += table(inputs.map { [$0.name, formatShape($0.shape)] }, indent: 2)
        out.append("outputs:")
        out += table(outputs.map { [$0.name, formatShape($0.shape)] }, indent: 2)
        return out
    }

    private static func percent(_ fraction: Double) -> String {
        String(format: "%.2f%%", fraction * 100)
    }

    /// Rows padded to column widths; columns in `rightAligned` are padded on the left.
    private static func table(_ rows: [[String]], indent: Int, rightAligned: Set<Int> = []) -> [String] {
        guard let columns = rows.map(\.count).max() else { return [] }
        let widths = (0..<columns).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            let cells = row.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return rightAligned.contains(c) ? pad + cell : (c == row.count - 1 ? cell : cell + pad)
            }
            return String(repeating: " ", count: indent) + cells.joined(separator: "  ")
        }
    }
}
