// How sparse-matrix indices are laid out in storage: width, and absolute or per-row delta.
// This is the storage vocabulary shared by the encoding chooser and the artifact; in memory
// the matrices always hold widened Int32 indices.

/// Storage format of an index stream: unsigned width, absolute or delta-coded within a row.
public enum IndexFormat: Sendable, Equatable, Hashable, CaseIterable {
    case u8, u16, u32
    /// Column indices only: the first entry of a row is its column, later entries the gap to the previous one.
    case deltaU8, deltaU16, deltaU32

    /// Bytes per stored index.
    public var byteWidth: Int {
        switch self {
        case .u8, .deltaU8: 1
        case .u16, .deltaU16: 2
        case .u32, .deltaU32: 4
        }
    }

    /// Whether entries are per-row differences.
    public var isDelta: Bool {
        switch self {
        case .deltaU8, .deltaU16, .deltaU32: true
        case .u8, .u16, .u32: false
        }
    }

    /// Largest value one entry can hold.
    public var maxValue: Int {
        switch byteWidth {
        case 1: Int(UInt8.max)
        case 2: Int(UInt16.max)
        default: Int(UInt32.max)
        }
    }

    /// The narrowest absolute format holding `maxValue`, or nil when even 32 bits are too few.
    public static func narrowestAbsolute(fitting maxValue: Int) -> IndexFormat? {
        if maxValue <= Int(UInt8.max) { return .u8 }
        if maxValue <= Int(UInt16.max) { return .u16 }
        if maxValue <= Int(UInt32.max) { return .u32 }
        return nil
    }

    /// The narrowest delta format holding `maxDelta`, or nil when even 32 bits are too few.
    public static func narrowestDelta(fitting maxDelta: Int) -> IndexFormat? {
        switch narrowestAbsolute(fitting: maxDelta) {
        case .u8: .deltaU8
        case .u16: .deltaU16
        case .u32: .deltaU32
        default: nil
        }
    }
}

/// Element type of stored weight values.
public enum WeightValueType: Sendable, Equatable, Hashable, CaseIterable {
    /// IEEE-754 binary32.
    case f32
    /// Symmetric int8 in [-127, 127] with one float32 scale per row.
    case int8

    /// Bytes per stored value.
    public var byteWidth: Int { self == .f32 ? 4 : 1 }
}
