// `spruce zoo`: builds one of the study's architectures untrained (He initialisation, the study's
// sigmoid head), prints its layers and Keras-style parameter counts, and optionally writes it as
// ONNX. The architectures themselves live in SpruceTrain/Zoo; this file parses, prints and writes.
import ArgumentParser
import Foundation
import SpruceCore
import SpruceONNX
import SpruceTrain

/// `spruce zoo NAME [--size N] [--width W] [--summary] [--json] [-o MODEL.onnx] [--seed S]`
struct ZooCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoo",
        abstract: "Build an untrained zoo model, report its parameters and write it as ONNX.",
        discussion: """
            NAME is one of \(ZooModel.allCases.map(\.rawValue).joined(separator: ", ")): Keras's \
            architectures with the study's head (global average pooling, dense(1), sigmoid), NCHW \
            input [N, 3, SIZE, SIZE]. Weights are He normal from --seed; BatchNorm starts at \
            identity. Parameter counts follow Keras: BatchNorm moving mean and variance are \
            non-trainable, everything else trainable. --width is MobileNet v2's α.

            --json prints one object with the keys model, input_shape, total_parameters, \
            trainable_parameters, non_trainable_parameters and layers (each {name, op, \
            output_shape, parameters}; the batch dimension is null).

            Examples:
              spruce zoo mobilenetv2 --size 96 --width 0.35
              spruce zoo inceptionv3 --summary
              spruce zoo resnet50v2 --size 96 -o resnet50v2.onnx
            """)

    @Argument(help: ArgumentHelp("Architecture: \(ZooModel.allCases.map(\.rawValue).joined(separator: ", ")).",
                                 valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("Input height and width (default 224; 299 for inceptionv3).", valueName: "n"))
    var size: Int?

    @Option(help: ArgumentHelp("Width multiplier α (mobilenetv2 only).", valueName: "w"))
    var width: Float = 1.0

    @Option(help: ArgumentHelp("Seed of the He-normal initialisation.", valueName: "s"))
    var seed: UInt64 = 0

    @Flag(help: "Add a per-layer table (name, operator, output shape, parameters).")
    var summary = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(name: [.short, .long], help: ArgumentHelp("Write the untrained model to this .onnx file.", valueName: "model.onnx"))
    var output: String?

    func validate() throws {
        if let output, !output.lowercased().hasSuffix(".onnx") {
            throw ValidationError("--output must name a .onnx file, got '\(output)'")
        }
    }

    func run() throws {
        let architecture = try ZooModel(name: name)
        let inputSize = size ?? architecture.defaultInputSize
        let model = try ModelZoo.build(architecture, inputSize: inputSize, width: width, seed: seed)
        let report = try ZooReport(model: model, architecture: architecture, inputSize: inputSize)
        if let output { try ONNXExporter.write(model, to: output) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        print(report.text(architecture: architecture, width: width, seed: seed, perLayer: summary))
        if let output { print("wrote \(output)") }
    }
}

/// What `spruce zoo` reports about a built model (the JSON keys are the snake_case names).
struct ZooReport: Encodable {
    struct Layer: Encodable {
        var name: String
        var op: String
        var outputShape: [Int?]
        var parameters: Int

        enum CodingKeys: String, CodingKey {
            case name, op, parameters
            case outputShape = "output_shape"
        }
    }

    var model: String
    var inputShape: [Int?]
    var totalParameters: Int
    var trainableParameters: Int
    var nonTrainableParameters: Int
    var layers: [Layer]

    enum CodingKeys: String, CodingKey {
        case model, layers
        case inputShape = "input_shape"
        case totalParameters = "total_parameters"
        case trainableParameters = "trainable_parameters"
        case nonTrainableParameters = "non_trainable_parameters"
    }

    init(model: Model, architecture: ZooModel, inputSize: Int) throws {
        let graph = model.graph
        let shapes = try graph.inferShapes(inputShapes: [ModelZoo.inputName: [1, 3, inputSize, inputSize]])
        let perNode = graph.parametersPerNode
        let counts = model.parameterCounts
        self.model = architecture.rawValue
        inputShape = [nil, 3, inputSize, inputSize]
        totalParameters = counts.total
        trainableParameters = counts.trainable
        nonTrainableParameters = counts.nonTrainable
        layers = zip(graph.nodes, perNode).map { node, parameters in
            let shape = shapes[node.outputs[0]] ?? []
            return Layer(name: node.name, op: node.op.onnxName,
                         outputShape: shape.enumerated().map { $0.offset == 0 ? nil : $0.element }, parameters: parameters)
        }
    }

    /// The human-readable report.
    func text(architecture: ZooModel, width: Float, seed: UInt64, perLayer: Bool) -> String {
        var out: [String] = []
        let widthText = architecture == .mobileNetV2 ? ", width \(width)" : ""
        out.append("model: \(architecture.displayName) (\(model))\(widthText), input \(Self.shapeText(inputShape)), seed \(seed)")
        var histogram: [String: Int] = [:]
        for layer in layers { histogram[layer.op, default: 0] += 1 }
        let ops = histogram.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        out.append("layers: \(layers.count) (\(ops))")
        if perLayer {
            let rows = [["layer", "operator", "output shape", "parameters"]]
                + layers.map { [$0.name, $0.op, Self.shapeText($0.outputShape), Self.grouped($0.parameters)] }
            let widths = (0..<4).map { c in rows.map { $0[c].count }.max() ?? 0 }
            for row in rows {
                let cells = row.enumerated().map { c, cell in
                    let pad = String(repeating: " ", count: widths[c] - cell.count)
                    return c == 3 ? pad + cell : cell + pad
                }
                out.append("  " + cells.joined(separator: "  "))
            }
        }
        out.append("parameters: \(Self.grouped(totalParameters)) total, \(Self.grouped(trainableParameters)) trainable, "
                   + "\(Self.grouped(nonTrainableParameters)) non-trainable")
        return out.joined(separator: "\n")
    }

    static func shapeText(_ shape: [Int?]) -> String {
        "[" + shape.map { $0.map(String.init) ?? "N" }.joined(separator: ", ") + "]"
    }

    /// 2259265 → "2,259,265".
    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }
}
