// How image pixels become model input, as an artifact records it in its metadata (`input.scaling`,
// `input.mean`, `input.std`): x = (v / 255 - mean[c]) / std[c] for each RGB channel c. Written by
// pack and compress, applied by `spruce run`, the C API (`spruce_preprocess`) and Python alike.
// It does not resize: images arrive at the model's input size.

/// Per-channel pixel normalization of an image input.
public struct InputNormalization: Sendable, Equatable {
    /// `unit`, `symmetric`, `imagenet`, or `custom`.
    public var name: String
    /// Per RGB channel, subtracted from v / 255.
    public var mean: [Float]
    /// Per RGB channel, divides the difference.
    public var std: [Float]

    /// A normalization from its parts (three means and three positive stds).
    public init(name: String, mean: [Float], std: [Float]) {
        self.name = name
        self.mean = mean
        self.std = std
    }

    /// [0, 1]: v / 255.
    public static let unit = InputNormalization(name: "unit", mean: [0, 0, 0], std: [1, 1, 1])
    /// [-1, 1], as Keras' MobileNet v2, Inception and ResNet v2 `preprocess_input`.
    public static let symmetric = InputNormalization(name: "symmetric", mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
    /// ImageNet statistics, as torchvision models take.
    public static let imageNet = InputNormalization(name: "imagenet", mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    /// The names the command line takes.
    public static let names = ["unit", "symmetric", "imagenet"]

    /// The normalization called `name` (one of `names`).
    public init?(named name: String) {
        switch name {
        case "unit": self = .unit
        case "symmetric": self = .symmetric
        case "imagenet": self = .imageNet
        default: return nil
        }
    }

    /// The normalization an artifact's metadata records, or nil when it records none (or a malformed one).
    public init?(metadata: [String: String]) {
        func floats(_ key: String) -> [Float]? {
            guard let text = metadata[key] else { return nil }
            let values = text.split(separator: ",").compactMap { Float(String($0)) }
            return values.count == 3 && values.allSatisfy(\.isFinite) ? values : nil
        }
        guard let mean = floats("input.mean"), let std = floats("input.std"), std.allSatisfy({ $0 > 0 }) else { return nil }
        self.init(name: metadata["input.scaling"] ?? "custom", mean: mean, std: std)
    }

    /// The metadata entries that record it.
    public var metadata: [String: String] {
        ["input.scaling": name, "input.mean": mean.map { "\($0)" }.joined(separator: ","),
         "input.std": std.map { "\($0)" }.joined(separator: ",")]
    }

    /// `values` in [0, 1] (one image or a batch, channels first or last) normalized in place.
    public func normalize(_ values: inout [Float], channelsFirst: Bool, pixelsPerImage: Int) {
        guard self != .unit, pixelsPerImage > 0 else { return }
        for i in values.indices {
            let c = channelsFirst ? (i / pixelsPerImage) % 3 : i % 3
            values[i] = (values[i] - mean[c]) / std[c]
        }
    }
}
