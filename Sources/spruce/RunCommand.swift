// `spruce run`: runs a model on .npy tensors or images and prints or saves the outputs.
// Input assembly lives in SprucePipeline (RunInputs); this file parses, prints and writes.
import ArgumentParser
import Foundation
import SpruceCore
import SprucePipeline

/// `spruce run MODEL INPUT... [--output OUT.npy] [--batch] [--threads N]`
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model on .npy tensors or images.",
        discussion: """
            .npy inputs feed the model's inputs in order (float32, or float64/int32/int64/uint8 \
            converted to float32); their shapes must fit the declared ones. Images (.jpg, .jpeg, \
            .png) are decoded to RGB, scaled to [0, 1], resized bilinearly to the input's height \
            and width, laid out as the input is ([N,3,H,W] or [N,H,W,3]) and stacked into one batch.

            A single output of shape [N, 1] (a sigmoid classifier) prints one line per row, \
            `file: score` (`file[i]` for rows of one .npy batch); other outputs print their name, shape and values (long ones truncated). \
            --output writes the output as .npy instead; a model with several outputs writes one \
            file per output, OUT.<output name>.npy. Files are written whole or not at all.

            A .onnx model runs on the reference executor. A .spruce artifact runs on the Spruce \
            runtime with its weights as stored (--threads sets its worker threads); if the runtime \
            cannot run one of its operators, the reference executor runs it instead and a note \
            on stderr says so.

            Examples:
              spruce run classifier.onnx lesion1.jpg lesion2.png
              spruce run model.onnx input.npy --output logits.npy
              spruce run model.onnx a.npy b.npy --batch
              spruce run model.spruce lesion.jpg --threads 2
            """)

    @OptionGroup var options: ModelOptions

    @Argument(help: ArgumentHelp("Input files: .npy tensors, or .jpg/.jpeg/.png images.", valueName: "input"))
    var inputs: [String]

    @Option(name: [.short, .long], help: ArgumentHelp("Write the output to this .npy file.", valueName: "out.npy"))
    var output: String?

    @Flag(help: "Stack several .npy files along their first axis into the model's single input.")
    var batch = false

    @Option(help: ArgumentHelp("Worker threads for the runtime (.spruce models).", valueName: "N"))
    var threads = 1

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one input (.npy tensor or image)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if let output, !RunInputs.isNPYPath(output) {
            throw ValidationError("--output must name a .npy file, got '\(output)'")
        }
    }

    func run() throws {
        let session = try ModelFile.openSession(path: options.model, options: SessionOptions(threads: threads))
        if let artifact = session as? ArtifactSession, case .reference(let reason?) = artifact.engine {
            FileHandle.standardError.write(Data("note: \(options.model): running on the reference executor: \(reason)\n".utf8))
        }
        let normalization = (session as? ArtifactSession)?.inputNormalization ?? .unit
        let given = try RunInputs.load(paths: inputs, for: session.inputs, stackNPY: batch, normalization: normalization)
        let results = try session.run(given.feeds)
        // Declared order first; anything else the engine returned after it, by name.
        let declared = session.outputs.map(\.name).filter { results[$0] != nil }
        let outputs = (declared + results.keys.filter { !declared.contains($0) }.sorted())
            .compactMap { name in results[name].map { (name, $0) } }

        if let output {
            let files = outputs.map { name, tensor in
                (name, tensor, outputs.count == 1 ? output : Self.path(output, for: name))
            }
            // Encode everything before writing anything, then write each file atomically.
            let encoded = files.map { $0.1.npyBytes() }
            for (file, bytes) in zip(files, encoded) { try FileIO.writeAtomically(bytes, to: file.2) }
            for (name, tensor, path) in files { print("wrote \(path) (\(name) \(formatShape(tensor.shape)))") }
            return
        }
        for (name, tensor) in outputs {
            print(TensorPrinter.describe(tensor, name: name, rowLabels: given.rowLabels, alone: outputs.count == 1))
        }
    }

    /// `out.npy` + `prob:0` → `out.prob_0.npy`: output names can hold characters unfit for file names.
    static func path(_ output: String, for name: String) -> String {
        let stem = String(output.dropLast(4))
        let safe = String(name.map { $0.isLetter || $0.isNumber || "-_".contains($0) ? $0 : "_" })
        return "\(stem).\(safe).npy"
    }
}
