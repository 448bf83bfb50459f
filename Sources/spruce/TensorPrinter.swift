// Text rendering of output tensors for `spruce run`: classifier scores one per line, other tensors
// as name, shape and values, truncated with a count so huge outputs stay readable.
import Foundation
import SpruceCore
import SprucePipeline

/// Renders run outputs for a terminal.
enum TensorPrinter {
    /// Values shown before truncating.
    static let maxValues = 64

    /// The text for one output; `alone` when it is the model's only output.
    static func describe(_ tensor: Tensor, name: String, rowLabels: [String], alone: Bool) -> String {
        if alone && tensor.rank == 2 && tensor.shape[1] == 1 {
            let labels = rowLabels.count == tensor.shape[0] ? rowLabels : (0..<tensor.shape[0]).map { "[\($0)]" }
            return zip(labels, tensor.data).map { "\($0): \(String(format: "%.4f", $1))" }.joined(separator: "\n")
        }
        var lines = ["\(name) \(formatShape(tensor.shape))"]
        if tensor.rank == 2 && tensor.shape[0] > 1 && tensor.count <= maxValues {
            let width = tensor.shape[1]
            for row in 0..<tensor.shape[0] {
                lines.append(format(tensor.data[(row * width)..<((row + 1) * width)]))
            }
        } else {
            var text = format(tensor.data.prefix(maxValues))
            if tensor.count > maxValues { text += " ... (\(tensor.count - maxValues) more)" }
            lines.append(text)
        }
        return lines.joined(separator: "\n")
    }

    private static func format(_ values: ArraySlice<Float>) -> String {
        values.map { String(format: "%.6g", Double($0)) }.joined(separator: " ")
    }
}
