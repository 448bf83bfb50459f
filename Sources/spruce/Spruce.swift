// The `spruce` command: the root lists the subcommands (one file each) and owns error reporting.
// Every failure reaches the user as one `error: ...` line on stderr with a non-zero exit status;
// help and version go to stdout as ArgumentParser prints them.
import ArgumentParser
import Foundation
import SpruceCore
import SprucePipeline

/// The `spruce` command-line tool.
@main
struct Spruce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spruce",
        abstract: "Compress convolutional networks and run them from the compressed file.",
        discussion: """
            Spruce reads ONNX image classifiers, prunes and packs them into compact .spruce \
            artifacts, and runs either form on NumPy tensors or images.

            Examples:
              spruce inspect model.onnx
              spruce run model.onnx lesion.jpg
              spruce pack model.onnx -o model.spruce --sparsity 0.9 --int8
              spruce zoo mobilenetv2 --size 96 --width 0.35 -o mobilenetv2.onnx
              spruce train --model mobilenetv2 --data ham10000 --epochs 10 -o trained.onnx
              spruce eval trained.onnx --data ham10000 --split-file trained.split.csv
              spruce compress model.onnx --data images/ --target-size 300KB -o model.spruce
              spruce study --data ham10000 --models mobilenetv2,resnet50v2 -o study
            """,
        version: SpruceVersion.current,
        subcommands: [
            RunCommand.self, InspectCommand.self, PackCommand.self, ExportCommand.self, BenchCommand.self,
            ZooCommand.self, TrainCommand.self, EvalCommand.self, CompressCommand.self, StudyCommand.self,
        ])

    /// Parses and runs, turning any error into one line on stderr.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }  // --help, --version
            // ArgumentParser's messages can span lines (a usage hint); the contract is one line.
            let message = message(for: error).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
            FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            Foundation.exit(code.rawValue)
        }
    }
}
