// How each conv/Gemm weight of a model will be stored: its encoding (dense, CSR with index
// formats, bitmask) and value type, decided once (`ArtifactWriter.plan`) and then written as is
// (`ArtifactWriter.encode(_:plan:)`). The pipeline's quantize and encode stages make it; pack writes it.
import SpruceCore

/// The stored form of one weight.
public struct TensorStorage: Sendable, Equatable, Hashable {
    /// Dense, CSR (with its index formats) or bitmask.
    public var encoding: WeightEncoding
    /// float32 or int8 values.
    public var valueType: WeightValueType
    /// Bits of each int8 value: 8, or 2…7 (packed, format 2.0).
    public var valueBits: Int

    /// A storage from its parts.
    public init(encoding: WeightEncoding, valueType: WeightValueType, valueBits: Int = 8) {
        self.encoding = encoding
        self.valueType = valueType
        self.valueBits = valueBits
    }

    /// `dense`, `csr` or `bitmask`.
    public var encodingName: String {
        switch encoding {
        case .dense: "dense"
        case .csr: "csr"
        case .bitmask: "bitmask"
        }
    }
}

/// The storage of every conv/Gemm weight, with the zstd level it was measured at.
public struct EncodingPlan: Sendable, Equatable {
    /// zstd level of the sections (the choice depends on it).
    public var zstdLevel: Int
    /// Storage per weight name.
    public var weights: [String: TensorStorage]

    /// A plan at `zstdLevel` (empty unless `weights` are given).
    public init(zstdLevel: Int, weights: [String: TensorStorage] = [:]) {
        self.zstdLevel = zstdLevel
        self.weights = weights
    }

    /// Whether any weight is stored as int8.
    public var hasInt8: Bool { weights.values.contains { $0.valueType == .int8 } }
    /// The widths of its quantized weights' values, narrowest first (empty when there are none).
    public var valueWidths: [Int] { Set(weights.values.filter { $0.valueType == .int8 }.map(\.valueBits)).sorted() }

    /// How quantized weights of `widths` are named: float32 (none), int8, 4-bit, or 3–8-bit mixed.
    public static func describe(widths: some Collection<Int>) -> String {
        guard let lo = widths.min(), let hi = widths.max() else { return "float32" }
        if lo == hi { return lo == 8 ? "int8" : "\(lo)-bit" }
        return "\(lo)–\(hi)-bit mixed"
    }
}
