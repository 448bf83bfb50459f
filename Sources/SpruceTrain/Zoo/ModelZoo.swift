// The model zoo: the study's four architectures built as IR graphs with He-initialised weights and
// the study's head (global average pooling → dense(1) → sigmoid), NCHW input [N, 3, S, S] with a
// dynamic batch. Layer and weight names follow Keras (`block_3_depthwise`, `conv2d_17`,
// `conv4_block2_1_conv`, weights `<layer>/kernel`), so freezing by name and reports read alike.
// It builds untrained models only; pretrained weights come in through ONNX import.

import SpruceCore

/// An architecture of the zoo.
public enum ZooModel: String, Sendable, CaseIterable, Codable {
    /// Keras `MobileNetV2` (width multiplier α).
    case mobileNetV2 = "mobilenetv2"
    /// Keras `InceptionV3`.
    case inceptionV3 = "inceptionv3"
    /// Keras `ResNet50V2` (pre-activation).
    case resNet50V2 = "resnet50v2"
    /// Keras `ResNet152V2` (pre-activation).
    case resNet152V2 = "resnet152v2"

    /// The architecture called `name` (case-insensitive, e.g. "mobilenetv2").
    public init(name: String) throws {
        guard let model = ZooModel(rawValue: name.lowercased()) else { throw ZooError.unknownModel(name: name) }
        self = model
    }

    /// Human-readable name, as the study's table writes it.
    public var displayName: String {
        switch self {
        case .mobileNetV2: "MobileNet v2"
        case .inceptionV3: "Inception v3"
        case .resNet50V2: "ResNet50 v2"
        case .resNet152V2: "ResNet152 v2"
        }
    }

    /// Smallest square input the architecture accepts (Keras's limits: 75 for Inception v3, else 32).
    public var minimumInputSize: Int {
        self == .inceptionV3 ? 75 : 32
    }

    /// The input size the architecture was designed for (299 for Inception v3, else 224).
    public var defaultInputSize: Int {
        self == .inceptionV3 ? 299 : 224
    }

    /// Running-average momentum its BatchNormalization layers use in Keras (kept in model metadata).
    public var batchNormMomentum: Float {
        self == .mobileNetV2 ? 0.999 : 0.99
    }
}

/// Builds the zoo's architectures as untrained `Model`s.
///
/// ```swift
/// let model = try ModelZoo.build(.mobileNetV2, inputSize: 96, width: 0.35, seed: 7)
/// let counts = model.parameterCounts   // total, trainable, nonTrainable (Keras-style)
/// ```
public enum ModelZoo {
    /// Largest input side the zoo builds.
    public static let maximumInputSize = 4096

    /// Name of the image input of every zoo model ([N, 3, S, S]).
    public static let inputName = "input"
    /// Name of the probability output of every zoo model ([N, 1], sigmoid).
    public static let outputName = "output"

    /// `name` built for square `inputSize` inputs; `width` is MobileNet v2's α (must be 1 elsewhere).
    /// Weights are He normal from `seed`; BatchNorm starts at gamma 1, beta 0, mean 0, variance 1.
    public static func build(_ name: ZooModel, inputSize: Int, width: Float = 1.0, seed: UInt64 = 0) throws -> Model {
        guard inputSize >= name.minimumInputSize else {
            throw ZooError.inputTooSmall(model: name.rawValue, size: inputSize, minimum: name.minimumInputSize)
        }
        guard inputSize <= maximumInputSize else {
            throw ZooError.inputTooLarge(model: name.rawValue, size: inputSize, maximum: maximumInputSize)
        }
        guard width.isFinite, width > 0 else { throw ZooError.invalidWidth(model: name.rawValue, width: width) }
        if name != .mobileNetV2 && width != 1 {
            throw ZooError.widthNotSupported(model: name.rawValue, width: width)
        }
        var builder = ZooGraphBuilder(inputName: inputName, inputSize: inputSize, seed: seed)
        let features: String
        switch name {
        case .mobileNetV2: features = try builder.mobileNetV2(alpha: Double(width))
        case .inceptionV3: features = try builder.inceptionV3()
        case .resNet50V2: features = try builder.resNetV2(blocks: [3, 4, 6, 3])
        case .resNet152V2: features = try builder.resNetV2(blocks: [3, 8, 36, 3])
        }
        builder.studyHead(features, output: outputName)
        let metadata = [
            "zoo.model": name.rawValue,
            "zoo.input_size": "\(inputSize)",
            "zoo.width": "\(width)",
            "zoo.seed": "\(seed)",
            "zoo.batchnorm_momentum": "\(name.batchNormMomentum)",
        ]
        return Model(graph: builder.graph(output: outputName), metadata: metadata, producer: "spruce")
    }
}
