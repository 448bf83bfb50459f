// The model argument every subcommand takes, shared through `@OptionGroup`.
// It checks only the extension here; opening and parsing the file is the subcommand's job.
// Also the per-rank progress output the training commands share.
import ArgumentParser
import Foundation
import SprucePipeline

/// The MODEL positional argument, checked for a supported extension.
struct ModelOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("Model file (\(ModelFile.supportedExtensions.map { "." + $0 }.joined(separator: ", "))).",
                                 valueName: "model"))
    var model: String

    func validate() throws {
        guard ModelFile.loader(forPath: model) != nil else {
            throw ValidationError(PipelineError.unsupportedModelFormat(path: model, supported: ModelFile.supportedExtensions).description)
        }
    }
}

extension ProgressReporter {
    /// The progress output of one rank of an MPI job: the terminal on rank 0, nowhere on the
    /// others (only rank 0 prints).
    static func forRank(isRoot: Bool) -> ProgressReporter {
        isRoot ? ProgressReporter() : ProgressReporter(descriptor: open("/dev/null", O_WRONLY))
    }
}
