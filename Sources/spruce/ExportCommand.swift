// `spruce export`: a `.spruce` artifact back to ONNX, weights expanded to dense float32 (int8
// values dequantized) and stored dense or as ONNX sparse initializers. The write is atomic.
import ArgumentParser
import Foundation
import SpruceONNX
import SprucePipeline

/// `spruce export MODEL.spruce -o MODEL.onnx [--sparse-initializers]`
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a .spruce artifact back to ONNX.",
        discussion: """
            The graph is the artifact's inference graph (already lowered: BatchNorm folded, \
            activations fused into Conv are written back as Conv followed by Relu or Clip). \
            Weights are written as dense float32; int8 weights are dequantized, so onnxruntime \
            computes what `spruce run` computes up to float rounding. --sparse-initializers \
            stores tensors with zeros as ONNX sparse_initializer (COO) instead. The file is \
            written whole or not at all.

            Examples:
              spruce export model.spruce -o model.onnx
              spruce export model.spruce -o model-sparse.onnx --sparse-initializers
            """)

    @Argument(help: ArgumentHelp("The .spruce artifact.", valueName: "model.spruce"))
    var model: String

    @Option(name: [.short, .long], help: ArgumentHelp("The ONNX file to write.", valueName: "model.onnx"))
    var output: String

    @Flag(help: "Store weights as ONNX sparse initializers.")
    var sparseInitializers = false

    func validate() throws {
        guard model.lowercased().hasSuffix(".spruce") else {
            throw ValidationError("\(model): export reads a .spruce artifact")
        }
        guard output.lowercased().hasSuffix(".onnx") else {
            throw ValidationError("--output must name a .onnx file, got '\(output)'")
        }
    }

    func run() throws {
        let artifact = try ModelFile.loadArtifact(path: model)
        do {
            try ONNXExporter.write(artifact.denseModel(), to: output, sparseInitializers: sparseInitializers)
        } catch let error as ONNXError {
            throw PipelineError.unwritable(path: output, reason: error.description)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        print("exported \(model) -> \(output) (\(size) bytes, \(sparseInitializers ? "sparse" : "dense") initializers)")
    }
}
