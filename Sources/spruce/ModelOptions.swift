// The model argument every subcommand takes, shared through `@OptionGroup`.
// It checks only the extension here; opening and parsing the file is the subcommand's job.
import ArgumentParser
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
