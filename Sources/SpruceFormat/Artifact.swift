// A validated .spruce artifact in memory: the graph, metadata, and every tensor in the form it
// is stored (dense, CSR, bitmask; f32 or int8), so the runtime computes without densifying.
// `denseModel()` expands everything back to a plain `Model` for the reference executor and export.

import SpruceCore

/// A tensor as stored in an artifact.
public enum StoredTensor: Sendable, Equatable {
    /// Every element, float32.
    case dense(Tensor)
    /// Every element, int8 rows with one scale per row (`rowStarts` are multiples of cols).
    case denseInt8(shape: [Int], Int8Rows)
    /// CSR over the matrix view [shape[0], rest].
    case csr(shape: [Int], CSRMatrix)
    /// CSR with int8 values.
    case csrInt8(shape: [Int], CSRMatrixInt8)
    /// Bitmask plus values over the matrix view.
    case bitmask(shape: [Int], BitmaskMatrix)
    /// Bitmask with int8 values.
    case bitmaskInt8(shape: [Int], BitmaskMatrixInt8)

    /// The tensor's shape.
    public var shape: [Int] {
        switch self {
        case .dense(let t): t.shape
        case .denseInt8(let s, _), .csr(let s, _), .csrInt8(let s, _), .bitmask(let s, _), .bitmaskInt8(let s, _): s
        }
    }

    /// Values the encoding stores (every element for dense encodings).
    public var storedValues: Int {
        switch self {
        case .dense(let t): t.data.count
        case .denseInt8(_, let q): q.values.count
        case .csr(_, let m): m.values.count
        case .csrInt8(_, let m): m.values.values.count
        case .bitmask(_, let m): m.values.count
        case .bitmaskInt8(_, let m): m.values.values.count
        }
    }

    /// Element type of the stored values.
    public var valueType: WeightValueType {
        switch self {
        case .dense, .csr, .bitmask: .f32
        case .denseInt8, .csrInt8, .bitmaskInt8: .int8
        }
    }

    /// The tensor expanded to dense float32 (int8 values dequantized).
    public func denseTensor() -> Tensor {
        switch self {
        case .dense(let t): t
        case .denseInt8(let s, let q): Tensor(shape: s, data: q.dequantized())
        case .csr(let s, let m): Tensor(shape: s, data: m.dense())
        case .csrInt8(let s, let m): Tensor(shape: s, data: m.dequantized().dense())
        case .bitmask(let s, let m): Tensor(shape: s, data: m.dense())
        case .bitmaskInt8(let s, let m): Tensor(shape: s, data: m.dequantized().dense())
        }
    }
}

/// The role of a section within a tensor.
public enum TensorPart: String, Sendable, Equatable, Hashable, CaseIterable {
    case rowPointers = "row pointers"
    case columnIndices = "column indices"
    case mask
    case values
    case scales
}

/// How a section's bytes are stored.
public enum SectionCodec: String, Sendable, Equatable, Hashable {
    case raw, zstd
}

/// Size facts about one section, for inspection and reports.
public struct SectionSummary: Sendable, Equatable {
    /// Which part of the tensor the section holds.
    public var part: TensorPart
    /// Index in the section table.
    public var index: Int
    /// Stored codec.
    public var codec: SectionCodec
    /// Bytes in the file.
    public var storedBytes: Int
    /// Bytes after decoding.
    public var rawBytes: Int
}

/// One tensor of an artifact with its storage facts.
public struct ArtifactTensor: Sendable, Equatable {
    /// Initializer name.
    public var name: String
    /// The tensor as stored.
    public var storage: StoredTensor
    /// Encoding, with index formats for CSR.
    public var encoding: WeightEncoding
    /// The sections holding its parts, in file order.
    public var sections: [SectionSummary]
    /// f32 values stored as binary16 (format 2).
    public var halfValues = false
    /// int8 row scales stored as binary16 (format 2).
    public var halfScales = false

    /// Bits per stored int8 value (8, or 2…7 packed); 0 for float tensors.
    public var valueBits: Int {
        switch storage {
        case .denseInt8(_, let q): q.bits
        case .csrInt8(_, let m): m.values.bits
        case .bitmaskInt8(_, let m): m.values.bits
        case .dense, .csr, .bitmask: 0
        }
    }

    /// The stored element type: `f32`, `f16`, `int8` … `int2` (quantized values), with `/f16`
    /// when their row scales are binary16 (`int4/f16`).
    public var storedType: String {
        if storage.valueType == .int8 { return "int\(valueBits)" + (halfScales ? "/f16" : "") }
        return halfValues ? "f16" : "f32"
    }

    /// Bytes this tensor occupies in the file (stored sizes, padding excluded).
    public var storedBytes: Int { sections.reduce(0) { $0 + $1.storedBytes } }
    /// Raw bytes of one part (0 if absent).
    public func rawBytes(of part: TensorPart) -> Int {
        sections.first { $0.part == part }?.rawBytes ?? 0
    }
}

/// A read and validated `.spruce` artifact.
///
/// ```swift
/// let artifact = try ArtifactReader.load(path: "model.spruce")
/// let model = artifact.denseModel()   // for ReferenceExecutor or ONNX export
/// ```
public struct Artifact: Sendable, Equatable {
    /// Format version read from the header.
    public var majorVersion: Int
    /// Minor format version.
    public var minorVersion: Int
    /// The graph; its `initializers` are empty: weights live in `tensors`.
    public var graph: Graph
    /// Free-form metadata.
    public var metadata: [String: String]
    /// Producer of the source model.
    public var producer: String
    /// Every tensor, in manifest order.
    public var tensors: [ArtifactTensor]
    /// Size of the artifact in bytes.
    public var fileBytes: Int

    /// A tensor by name.
    public func tensor(named name: String) -> ArtifactTensor? {
        tensors.first { $0.name == name }
    }

    /// The model with every tensor expanded to dense float32 initializers.
    public func denseModel() -> Model {
        var g = graph
        for t in tensors { g.initializers[t.name] = t.storage.denseTensor() }
        return Model(graph: g, metadata: metadata, producer: producer)
    }
}
