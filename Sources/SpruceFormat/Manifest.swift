// The manifest as Swift values: what ManifestCoding packs into and unpacks from protobuf.
// Decoding already enforces the rules about enums, strings and attribute cases (R9–R11, R18
// for value shapes, R26); the reader checks everything about tensors and sections.

import SpruceCore

/// Tensor encodings as named in the manifest.
enum ManifestEncoding: Int, Sendable {
    case dense = 1, csr = 2, bitmask = 3
}

/// One entry of the tensor table.
struct TensorRecord: Sendable, Equatable {
    var name: String
    var shape: [Int64]
    var encoding: ManifestEncoding
    var valueType: WeightValueType
    var storedValues: UInt64
    var rowPointerFormat: IndexFormat?
    var columnIndexFormat: IndexFormat?
    /// Section index of each part present.
    var parts: [TensorPart: UInt32]
    /// f32 values stored as binary16 (`VALUE_TYPE_F16`, since 2.0).
    var halfValues = false
    /// int8 row scales stored as binary16 (`SCALE_TYPE_F16`, since 2.0).
    var halfScales = false
    /// Bits per stored int8 value: 8 for `VALUE_TYPE_I8`, 2…7 for `VALUE_TYPE_PACKED` (since 2.0).
    var valueBits = 8
}

/// One entry of the section table.
struct SectionRecord: Sendable, Equatable {
    var offset: UInt64
    var storedSize: UInt64
    var rawSize: UInt64
    var codec: SectionCodec
    var checksum: UInt32
}

/// The whole manifest.
struct ManifestContents: Sendable {
    var producer: String = ""
    var metadata: [(key: String, value: String)] = []
    var nodes: [Node] = []
    var inputs: [ValueInfo] = []
    var outputs: [ValueInfo] = []
    var tensors: [TensorRecord] = []
    var sections: [SectionRecord] = []
}

/// Fixed facts of the file layout (formats/SPEC.md, "Byte layout").
enum Layout {
    static let magic: [UInt8] = [0x53, 0x50, 0x52, 0x43]  // "SPRC"
    /// The version a file without binary16 parts is written as (readable by every 1.x reader).
    static let version1: (major: UInt16, minor: UInt16) = (1, 1)
    /// The version a file with binary16 values or scales is written as.
    static let version2: (major: UInt16, minor: UInt16) = (2, 0)
    /// Major versions this reader reads (any minor version of each).
    static let majorVersionsRead: ClosedRange<Int> = 1...2
    static let headerSize = 64
    static let alignment = 64
    /// Bytes the header checksum covers.
    static let checksummedHeaderBytes = 60
    /// Largest `rows * cols` or `cols` a tensor may have (R18).
    static let maxElements: Int64 = 1 << 48
}
