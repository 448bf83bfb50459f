// Typed errors of SprucePipeline's file handling: loading models, reading run inputs, writing results.
// Each case names the file or model input involved, so the CLI prints it as one line.

/// A failure of a pipeline-level file operation, naming the file or model input involved.
public enum PipelineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No file exists at the path.
    case fileNotFound(path: String)
    /// The file exists but cannot be read.
    case unreadable(path: String, reason: String)
    /// The file cannot be written (or renamed into place).
    case unwritable(path: String, reason: String)
    /// No model loader handles the file's extension.
    case unsupportedModelFormat(path: String, supported: [String])
    /// A loader rejected the model file; `reason` is the loader's own message.
    case invalidModel(path: String, reason: String)
    /// A run input is neither a `.npy` tensor nor a `.jpg`/`.jpeg`/`.png` image.
    case unsupportedInput(path: String)
    /// A run input file could not be decoded; `reason` is the decoder's message.
    case invalidInput(path: String, reason: String)
    /// The number of `.npy` files does not match the model's inputs.
    case inputCount(expected: [String], got: Int)
    /// `.npy` tensors and images were given together.
    case mixedInputs
    /// A tensor's shape does not fit the model input it is fed to.
    case inputShape(path: String, shape: [Int], input: String, expected: [Int?])
    /// Images were given for a model with other than one input.
    case imagesNeedOneInput(inputs: [String])
    /// Images were given but the model input is not a 3-channel image batch.
    case notAnImageInput(input: String, shape: [Int?])
    /// The model's batch dimension is fixed and the inputs make another batch size.
    case batchSize(input: String, expected: Int, got: Int)

    public var description: String {
        switch self {
        case .fileNotFound(let path): "\(path): no such file"
        case .unreadable(let path, let reason): "\(path): cannot read: \(reason)"
        case .unwritable(let path, let reason): "\(path): cannot write: \(reason)"
        case .unsupportedModelFormat(let path, let supported):
            "\(path): unsupported model format (expected \(supported.map { "." + $0 }.joined(separator: " or ")))"
        case .invalidModel(let path, let reason):
            reason.contains(path) ? reason : "\(path): \(reason)"
        case .unsupportedInput(let path): "\(path): unsupported input (expected .npy, .jpg, .jpeg or .png)"
        case .invalidInput(let path, let reason):
            reason.contains(path) ? reason : "\(path): \(reason)"
        case .inputCount(let expected, let got):
            "the model has \(expected.count) input\(expected.count == 1 ? "" : "s") (\(expected.joined(separator: ", "))) but \(got) .npy file\(got == 1 ? " was" : "s were") given"
                + (expected.count == 1 && got > 1 ? "; use --batch to stack them into one batch" : "")
        case .mixedInputs: "give either .npy tensors or images, not both"
        case .inputShape(let path, let shape, let input, let expected):
            "\(path): shape \(shape) does not fit model input '\(input)' of shape \(formatShape(expected))"
        case .imagesNeedOneInput(let inputs):
            "images can feed a model with one input; this model has \(inputs.count) (\(inputs.joined(separator: ", ")))"
        case .notAnImageInput(let input, let shape):
            "model input '\(input)' of shape \(formatShape(shape)) is not an image batch [N,3,H,W] or [N,H,W,3]"
        case .batchSize(let input, let expected, let got):
            "model input '\(input)' takes a batch of \(expected), the inputs make a batch of \(got)"
        }
    }
}

/// `[?, 3, 224, 224]`: a declared shape with `?` for dynamic dimensions.
public func formatShape(_ shape: [Int?]) -> String {
    "[" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]"
}
