// Shared pieces of the runtime kernels: activation bounds, convolution and pooling geometry,
// and small SIMD8 clamps (loads, stores and multiply-add are `_SpruceSupport`'s, shared with the
// trainer). Not a kernel itself; nothing here allocates or loops over a tensor.
import SpruceCore

/// The clamp a fused activation applies after the bias: none = (-inf, +inf), relu = (0, +inf).
public struct ActivationBounds: Sendable, Equatable, Hashable {
    /// Lowest output value.
    public var lower: Float
    /// Highest output value.
    public var upper: Float

    /// Bounds `[lower, upper]`.
    public init(lower: Float, upper: Float) {
        self.lower = lower
        self.upper = upper
    }

    /// The bounds of a fused activation.
    public init(_ activation: FusedActivation) {
        switch activation {
        case .none: self.init(lower: -.infinity, upper: .infinity)
        case .relu: self.init(lower: 0, upper: .infinity)
        case .clip(let lo, let hi): self.init(lower: lo, upper: hi)
        }
    }

    /// No activation.
    public static let identity = ActivationBounds(lower: -.infinity, upper: .infinity)

    /// Clamps one value; matches ONNX `Clip` (`min(max(x, lower), upper)`).
    @inline(__always)
    func apply(_ x: Float) -> Float { min(max(x, lower), upper) }
}

/// Shape of a 2-D convolution over one image (batch 1), NCHW, weights [M, C/groups, kH, kW].
public struct ConvGeometry: Sendable, Equatable, Hashable {
    public var inChannels: Int, inHeight: Int, inWidth: Int
    public var outChannels: Int, outHeight: Int, outWidth: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideHeight: Int, strideWidth: Int
    /// Pads in ONNX order: top, left, bottom, right.
    public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    public var dilationHeight: Int, dilationWidth: Int
    public var groups: Int

    /// A geometry whose output size follows the ONNX formula (floor rounding).
    public init(inChannels: Int, inHeight: Int, inWidth: Int, outChannels: Int,
                kernelHeight: Int, kernelWidth: Int, strideHeight: Int = 1, strideWidth: Int = 1,
                pads: [Int] = [0, 0, 0, 0], dilationHeight: Int = 1, dilationWidth: Int = 1,
                groups: Int = 1) {
        self.inChannels = inChannels
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.outChannels = outChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight
        self.strideWidth = strideWidth
        self.padTop = pads.count == 4 ? pads[0] : 0
        self.padLeft = pads.count == 4 ? pads[1] : 0
        self.padBottom = pads.count == 4 ? pads[2] : 0
        self.padRight = pads.count == 4 ? pads[3] : 0
        self.dilationHeight = dilationHeight
        self.dilationWidth = dilationWidth
        self.groups = groups
        self.outHeight = (inHeight + padTop + padBottom - dilationHeight * (kernelHeight - 1) - 1) / strideHeight + 1
        self.outWidth = (inWidth + padLeft + padRight - dilationWidth * (kernelWidth - 1) - 1) / strideWidth + 1
    }

    /// Whether every size is positive and groups divide both channel counts.
    public var isValid: Bool {
        inChannels > 0 && inHeight > 0 && inWidth > 0 && outChannels > 0 && outHeight > 0 && outWidth > 0
            && kernelHeight > 0 && kernelWidth > 0 && strideHeight > 0 && strideWidth > 0
            && dilationHeight > 0 && dilationWidth > 0 && groups > 0
            && padTop >= 0 && padLeft >= 0 && padBottom >= 0 && padRight >= 0
            && inChannels % groups == 0 && outChannels % groups == 0
    }

    /// Input channels seen by one output channel.
    public var inChannelsPerGroup: Int { inChannels / groups }
    /// Output channels per group.
    public var outChannelsPerGroup: Int { outChannels / groups }
    /// kH · kW.
    public var kernelArea: Int { kernelHeight * kernelWidth }
    /// Columns of the weight matrix: C/groups · kH · kW.
    public var reduction: Int { inChannelsPerGroup * kernelArea }
    /// H · W of the input.
    public var inPlane: Int { inHeight * inWidth }
    /// OH · OW of the output.
    public var outPlane: Int { outHeight * outWidth }
    /// 1×1, stride 1, no padding: the input already is the dense B matrix [C × HW].
    public var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1
            && padTop == 0 && padLeft == 0 && padBottom == 0 && padRight == 0
    }
}

/// Shape of a 2-D pooling window over one image (batch 1), NCHW. The caller passes the output
/// size, so ceil mode is the caller's choice.
public struct PoolGeometry: Sendable, Equatable, Hashable {
    public var channels: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideHeight: Int, strideWidth: Int
    /// Pads in ONNX order: top, left, bottom, right.
    public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    public var dilationHeight: Int, dilationWidth: Int

    /// A pooling geometry with an explicit output size.
    public init(channels: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int,
                kernelHeight: Int, kernelWidth: Int, strideHeight: Int = 1, strideWidth: Int = 1,
                pads: [Int] = [0, 0, 0, 0], dilationHeight: Int = 1, dilationWidth: Int = 1) {
        self.channels = channels
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.outHeight = outHeight
        self.outWidth = outWidth
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight
        self.strideWidth = strideWidth
        self.padTop = pads.count == 4 ? pads[0] : 0
        self.padLeft = pads.count == 4 ? pads[1] : 0
        self.padBottom = pads.count == 4 ? pads[2] : 0
        self.padRight = pads.count == 4 ? pads[3] : 0
        self.dilationHeight = dilationHeight
        self.dilationWidth = dilationWidth
    }
}

@inline(__always)
func clamp8(_ v: SIMD8<Float>, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>) -> SIMD8<Float> {
    v.replacing(with: lo, where: v .< lo).replacing(with: hi, where: v .> hi)
}

/// Lane-wise `Swift.max(a, b)` (b where b ≥ a, so a NaN in `b` is ignored): one compare and blend.
@inline(__always)
func max8(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    a.replacing(with: b, where: b .>= a)
}

@inline(__always)
func roundUp(_ x: Int, _ m: Int) -> Int { (x + m - 1) / m * m }
