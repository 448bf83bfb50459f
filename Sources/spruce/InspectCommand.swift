// `spruce inspect`: a model's inputs, outputs, operators, parameters and per-tensor sparsity,
// as an aligned text report or as JSON (the same fields, from one ModelSummary).
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

            Examples:
              spruce inspect model.onnx
              spruce inspect model.onnx --json
            """)

    @OptionGroup var options: ModelOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let summary = ModelSummary(model: try ModelFile.load(path: options.model))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            print(Self.text(summary, path: options.model))
        }
    }

    /// The human-readable report.
    static func text(_ s: ModelSummary, path: String) -> String {
        var out: [String] = ["model: \(path)"]
        out.append("producer: \(s.producer.isEmpty ? "(none)" : s.producer)")
        for (key, value) in s.metadata.sorted(by: { $0.key < $1.key }) {
            out.append("metadata: \(key) = \(value)")
        }
        out.append("inputs:")
        out += table(s.inputs.map { [$0.name, formatShape($0.shape)] }, indent: 2)
        out.append("outputs:")
        out += table(s.outputs.map { [$0.name, formatShape($0.shape)] }, indent: 2)
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
