// The operator set of the IR, each with its typed attributes.
// Constant inputs that ONNX passes as tensors (Reshape's shape, Clip's bounds, Pad's pads,
// axes) are folded into attributes at import, so every op here reads weights only from
// float initializers. It is not an open registry: adding an op means adding a case.

/// Convolution attributes (ONNX `Conv`). Pads are resolved: `auto_pad` is applied at import
/// when the input size is known, or kept in `autoPad` and resolved by shape inference.
public struct ConvAttributes: Sendable, Equatable, Hashable {
    /// Kernel spatial size [kH, kW] (redundant with the weight shape; checked by the verifier).
    public var kernelShape: [Int]
    /// Strides [sH, sW].
    public var strides: [Int]
    /// Pads [top, left, bottom, right] (ONNX order: begins then ends).
    public var pads: [Int]
    /// Dilations [dH, dW].
    public var dilations: [Int]
    /// Number of groups; `groups == C_in == C_out` is depthwise.
    public var groups: Int
    /// `SAME_UPPER`/`SAME_LOWER` padding still to be resolved against the input size.
    public var autoPad: AutoPad
    /// Activation applied to the output after the bias; set only by lowering (never by ONNX import).
    public var activation: FusedActivation

    /// Attributes with ONNX defaults filled in for a 2-D kernel.
    public init(kernelShape: [Int], strides: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0],
                dilations: [Int] = [1, 1], groups: Int = 1, autoPad: AutoPad = .notSet,
                activation: FusedActivation = .none) {
        self.kernelShape = kernelShape
        self.strides = strides
        self.pads = pads
        self.dilations = dilations
        self.groups = groups
        self.autoPad = autoPad
        self.activation = activation
    }
}

/// An activation fused into the producing convolution by lowering.
public enum FusedActivation: Sendable, Equatable, Hashable {
    case none
    case relu
    /// Clamp to [min, max]; ReLU6 is `clip(min: 0, max: 6)`.
    case clip(min: Float, max: Float)
}

/// ONNX `auto_pad` values.
public enum AutoPad: String, Sendable, Equatable, Hashable {
    case notSet = "NOTSET", sameUpper = "SAME_UPPER", sameLower = "SAME_LOWER", valid = "VALID"
}

/// How Pad fills the cells it adds (ONNX Pad's `mode`; its `wrap` has no case).
public enum PadMode: String, Sendable, Equatable, Hashable, CaseIterable {
    /// The pad value: `[a b c]` padded by 2 each side is `v v a b c v v`.
    case constant
    /// The mirror image, the edge not repeated: `c b a b c b a`. Each pad must be shorter than its axis.
    case reflect
    /// The edge repeated: `a a a b c c c`.
    case edge
}

/// Pooling attributes (ONNX `MaxPool`, `AveragePool`).
public struct PoolAttributes: Sendable, Equatable, Hashable {
    /// Window [kH, kW].
    public var kernelShape: [Int]
    /// Strides [sH, sW].
    public var strides: [Int]
    /// Pads [top, left, bottom, right].
    public var pads: [Int]
    /// Dilations [dH, dW] (MaxPool only; 1 for AveragePool).
    public var dilations: [Int]
    /// `auto_pad` still to be resolved.
    public var autoPad: AutoPad
    /// AveragePool: whether padded cells count in the divisor.
    public var countIncludePad: Bool
    /// Output size rounds up instead of down.
    public var ceilMode: Bool

    /// Attributes with ONNX defaults filled in for a 2-D window.
    public init(kernelShape: [Int], strides: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0],
                dilations: [Int] = [1, 1], autoPad: AutoPad = .notSet,
                countIncludePad: Bool = false, ceilMode: Bool = false) {
        self.kernelShape = kernelShape
        self.strides = strides
        self.pads = pads
        self.dilations = dilations
        self.autoPad = autoPad
        self.countIncludePad = countIncludePad
        self.ceilMode = ceilMode
    }
}

/// Gemm attributes: `Y = alpha * op(A) * op(B) + beta * C`.
public struct GemmAttributes: Sendable, Equatable, Hashable {
    public var alpha: Float
    public var beta: Float
    public var transA: Bool
    public var transB: Bool

    /// ONNX defaults: alpha = beta = 1, no transposes.
    public init(alpha: Float = 1, beta: Float = 1, transA: Bool = false, transB: Bool = false) {
        self.alpha = alpha
        self.beta = beta
        self.transA = transA
        self.transB = transB
    }
}

/// An IR operator with its attributes. Inputs are listed on the `Node`, in ONNX order.
public enum Op: Sendable, Equatable, Hashable {
    /// Inputs: X [N,C,H,W], W [M, C/groups, kH, kW], optional B [M].
    case conv(ConvAttributes)
    /// Inference-mode batch normalization. Inputs: X, scale, B, mean, var; scale may be ""
    /// (fixed at 1, Keras `scale=False`), which the ONNX export writes as an all-ones initializer.
    case batchNormalization(epsilon: Float)
    case relu
    /// Elementwise clamp to [min, max] (ReLU6 is `clip(0, 6)`).
    case clip(min: Float, max: Float)
    /// Broadcasting binary arithmetic (numpy rules).
    case add, sub, mul, div
    /// Broadcasting sum of any number of inputs.
    case sum
    /// Mean over H and W, keeping them as 1×1.
    case globalAveragePool
    /// Mean over `axes` (normalized, non-negative, sorted).
    case reduceMean(axes: [Int], keepDims: Bool)
    case maxPool(PoolAttributes)
    case averagePool(PoolAttributes)
    /// Inputs: A, B, optional C.
    case gemm(GemmAttributes)
    /// numpy `matmul` semantics with batch broadcasting.
    case matMul
    /// Flattens to 2-D: dims before `axis` and dims from `axis` on.
    case flatten(axis: Int)
    /// Target shape with ONNX semantics: 0 copies the input dim (unless `allowZero`), -1 is inferred.
    case reshape(shape: [Int], allowZero: Bool)
    /// Removes the given size-1 axes (all size-1 axes when `nil`).
    case squeeze(axes: [Int]?)
    /// Inserts size-1 axes at the given output positions.
    case unsqueeze(axes: [Int])
    /// Permutes axes (reverses them when `nil`).
    case transpose(perm: [Int]?)
    case concat(axis: Int)
    case sigmoid
    /// max(0, min(1, alpha·x + beta)); ONNX's defaults are alpha 0.2, beta 0.5, PyTorch exports 1/6.
    case hardSigmoid(alpha: Float, beta: Float)
    /// x · max(0, min(1, x/6 + 1/2)) (MobileNet v3).
    case hardSwish
    case softmax(axis: Int)
    /// Padding: pads in ONNX order (all begins, then all ends), one pair per input axis; negative
    /// pads crop. `value` fills in `constant` mode only (see `PadGeometry` for the other modes).
    case pad(pads: [Int], value: Float, mode: PadMode = .constant)
    case identity
    /// Inference-mode dropout: passes its input through.
    case dropout
    /// Strided crop (ONNX Slice-10 and later): on each axis in `axes`, the elements at `start`,
    /// `start + step`, … that come before `end`, with ONNX's rules (negative indices count from the
    /// end, out-of-range ones are clamped, a negative step walks backwards). The four lists have one
    /// entry per sliced axis; axes not listed are kept whole.
    case slice(starts: [Int], ends: [Int], axes: [Int], steps: [Int])
    /// Cuts the input along `axis` into consecutive pieces, one per node output: `sizes` long, or,
    /// when `sizes` is empty, ceil(dim / outputs) each with the last piece taking what is left
    /// (ONNX Split-18's `num_outputs` rule, which for an even split is Split-13's).
    case split(axis: Int, sizes: [Int])
    /// Layer normalization (ONNX LayerNormalization-17) over the trailing axes from `axis` on:
    /// each such slice is brought to mean 0 and variance 1 (`epsilon` added to the variance),
    /// then scaled and shifted. Inputs: X, scale, optional bias; scale and bias are shaped like
    /// the normalized axes (leading 1s allowed).
    case layerNormalization(axis: Int, epsilon: Float)
    /// The error function, elementwise.
    case erf
    /// GELU (ONNX Gelu-20): x·Φ(x) exactly (x/2·(1 + erf(x/√2))), or with `tanhApproximation`
    /// x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    case gelu(tanhApproximation: Bool)

    /// The ONNX operator name.
    public var onnxName: String {
        switch self {
        case .conv: "Conv"
        case .batchNormalization: "BatchNormalization"
        case .relu: "Relu"
        case .clip: "Clip"
        case .add: "Add"
        case .sub: "Sub"
        case .mul: "Mul"
        case .div: "Div"
        case .sum: "Sum"
        case .globalAveragePool: "GlobalAveragePool"
        case .reduceMean: "ReduceMean"
        case .maxPool: "MaxPool"
        case .averagePool: "AveragePool"
        case .gemm: "Gemm"
        case .matMul: "MatMul"
        case .flatten: "Flatten"
        case .reshape: "Reshape"
        case .squeeze: "Squeeze"
        case .unsqueeze: "Unsqueeze"
        case .transpose: "Transpose"
        case .concat: "Concat"
        case .sigmoid: "Sigmoid"
        case .hardSigmoid: "HardSigmoid"
        case .hardSwish: "HardSwish"
        case .softmax: "Softmax"
        case .pad: "Pad"
        case .identity: "Identity"
        case .dropout: "Dropout"
        case .slice: "Slice"
        case .split: "Split"
        case .layerNormalization: "LayerNormalization"
        case .erf: "Erf"
        case .gelu: "Gelu"
        }
    }
}
