// Typed errors of the model zoo: an unknown architecture name, an input size or width the
// architecture cannot take. Each is one line naming the model and the limit broken.

/// A zoo model that cannot be built as asked, naming the model and the rule.
public enum ZooError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The name is not one of the zoo's architectures.
    case unknownModel(name: String)
    /// The input is smaller than the architecture's downsampling allows.
    case inputTooSmall(model: String, size: Int, minimum: Int)
    /// A layer's window does not fit its input (only possible below the architecture's minimum size).
    case layerDoesNotFit(layer: String, size: Int)
    /// The input is larger than the zoo builds (shapes and memory stay sane).
    case inputTooLarge(model: String, size: Int, maximum: Int)
    /// The width multiplier is not a positive finite number.
    case invalidWidth(model: String, width: Float)
    /// A width multiplier other than 1 for an architecture that has none.
    case widthNotSupported(model: String, width: Float)

    public var description: String {
        switch self {
        case .unknownModel(let name):
            "unknown zoo model '\(name)' (expected one of: \(ZooModel.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .inputTooSmall(let model, let size, let minimum):
            "\(model) needs an input size of at least \(minimum), got \(size)"
        case .layerDoesNotFit(let layer, let size):
            "input size \(size) is too small for layer '\(layer)'"
        case .inputTooLarge(let model, let size, let maximum):
            "\(model) accepts input sizes up to \(maximum), got \(size)"
        case .invalidWidth(let model, let width):
            "\(model): width multiplier \(width) must be a positive finite number"
        case .widthNotSupported(let model, let width):
            "\(model) has no width multiplier (only mobilenetv2 does); got width \(width)"
        }
    }
}
