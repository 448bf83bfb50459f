// How 8-bit pixels become model inputs: [0, 1], or per-channel mean/std normalisation on top.
// It does not resize or augment (see Augmentation); the loader applies it while writing batches.
import SpruceCore

/// Mapping of 8-bit RGB values to the floats a model sees.
public enum PixelScaling: Sendable, Equatable {
    /// `v / 255`, in [0, 1] (what `ImageLoader` returns and the study's Keras models took after rescale).
    case unit
    /// `(v / 255 - mean[c]) / std[c]` per channel R, G, B.
    case meanStd(mean: [Float], std: [Float])

    /// ImageNet statistics used by torchvision-trained models.
    public static let imageNet = PixelScaling(InputNormalization.imageNet)
    /// [-1, 1], as Keras' MobileNet v2 / Inception / ResNet v2 `preprocess_input`.
    public static let symmetric = PixelScaling(InputNormalization.symmetric)

    /// The names the command line takes.
    public static let names = InputNormalization.names

    /// The scaling called `name` (one of `names`).
    public init?(name: String) {
        guard let n = InputNormalization(named: name) else { return nil }
        self.init(n)
    }

    /// The scaling an artifact records as its input normalization.
    public init(_ normalization: InputNormalization) {
        self = normalization == .unit ? .unit : .meanStd(mean: normalization.mean, std: normalization.std)
    }

    /// Per-channel `scale` and `bias` so that `output = v * scale + bias` for a byte `v`.
    func coefficients() throws -> (scale: [Float], bias: [Float]) {
        switch self {
        case .unit:
            return ([Float](repeating: 1 / 255, count: 3), [0, 0, 0])
        case .meanStd(let mean, let std):
            guard mean.count == 3, std.count == 3 else {
                throw DatasetError.invalidOption("normalisation needs 3 means and 3 stds, got \(mean.count) and \(std.count)")
            }
            guard std.allSatisfy({ $0.isFinite && $0 > 0 }), mean.allSatisfy(\.isFinite) else {
                throw DatasetError.invalidOption("normalisation std must be positive and finite (mean \(mean), std \(std))")
            }
            return (std.map { 1 / (255 * $0) }, zip(mean, std).map { -$0 / $1 })
        }
    }
}
