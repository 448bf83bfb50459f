// Every way reading or writing a .spruce artifact can fail: one case per reader rule of
// formats/SPEC.md (R1–R26), plus I/O and writer-side failures. Each description is one line
// naming the rule, and the section, tensor or node involved.

/// A violated rule of the `.spruce` format (see `formats/SPEC.md`), or an I/O failure.
public enum FormatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// R1: fewer than 64 bytes.
    case truncatedHeader(size: Int)
    /// R2: the first four bytes are not `SPRC`.
    case badMagic([UInt8])
    /// R3: the header's CRC-32C does not match bytes 0..<60.
    case headerChecksumMismatch(stored: UInt32, computed: UInt32)
    /// R4: a major version this reader does not know.
    case unsupportedVersion(major: Int, minor: Int)
    /// R5: non-zero flags or reserved bytes.
    case reservedBitsSet(detail: String)
    /// R6: the header's file length differs from the actual length (truncated or extended file).
    case fileLengthMismatch(declared: UInt64, actual: Int)
    /// R7: the manifest does not start at 64 or runs past the end of the file.
    case manifestOutOfBounds(offset: UInt64, length: UInt64, fileLength: Int)
    /// R8: the manifest's CRC-32C does not match.
    case manifestChecksumMismatch(stored: UInt32, computed: UInt32)
    /// R9: the manifest is not a valid `spruce.Manifest` protobuf message.
    case manifestMalformed(length: Int)
    /// R10: an enum field holds an undefined (or unset) value.
    case invalidEnum(field: String, value: Int)
    /// R11: a string is not valid UTF-8, or a tensor name is empty.
    case invalidString(field: String)
    /// R12: a section does not start where the layout puts it, or runs past the end of the file.
    case sectionMisplaced(section: Int, detail: String)
    /// R13: bytes after the last section (or the manifest).
    case trailingBytes(expectedEnd: UInt64, fileLength: Int)
    /// R14: a section's CRC-32C does not match its stored bytes.
    case sectionChecksumMismatch(section: Int, tensor: String, part: String)
    /// R15: a raw section's sizes differ, or a zstd section is not one frame of the declared raw size.
    case sectionDecodeFailed(section: Int, tensor: String, detail: String)
    /// R16: the decoded sections (or a tensor's indices) exceed this reader's limits.
    case limitExceeded(detail: String)
    /// R17: two tensors (or metadata keys) share a name.
    case duplicateName(kind: String, name: String)
    /// R18: a tensor or value shape has an invalid dimension or is too large.
    case invalidShape(name: String, shape: [Int64])
    /// R19: a tensor's parts do not match its encoding, or a section is missing, shared or unused.
    case invalidSectionReference(tensor: String, detail: String)
    /// R20: a part's section holds a different number of raw bytes than its encoding needs.
    case partSizeMismatch(tensor: String, part: String, expected: UInt64, actual: UInt64)
    /// R21: stored value count or index formats inconsistent with the encoding.
    case invalidTensorHeader(tensor: String, detail: String)
    /// R22: CSR row pointers do not start at 0, decrease, or do not end at the value count.
    case invalidRowPointers(tensor: String, detail: String)
    /// R23: a CSR column index is out of range or not strictly increasing within its row.
    case invalidColumnIndices(tensor: String, detail: String)
    /// R24: the bitmask's popcount differs from the value count, or a padding bit is set.
    case invalidMask(tensor: String, detail: String)
    /// R25: an int8 value of -128, or a negative or non-finite scale.
    case invalidQuantization(tensor: String, detail: String)
    /// R26: a node's attributes do not belong to its op type.
    case attributeMismatch(node: String, op: String, detail: String)
    /// A file could not be opened, read, written or renamed.
    case ioFailed(path: String, detail: String)
    /// The writer cannot store this model (names with NUL, non-finite weights for int8, sizes too large).
    case cannotEncode(name: String, detail: String)

    public var description: String {
        switch self {
        case .truncatedHeader(let size):
            "R1: file has \(size) bytes, fewer than the 64-byte header"
        case .badMagic(let bytes):
            "R2: bad magic \(bytes.map { String($0, radix: 16) }), expected SPRC"
        case .headerChecksumMismatch(let stored, let computed):
            "R3: header checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))"
        case .unsupportedVersion(let major, let minor):
            "R4: unsupported format version \(major).\(minor) (this reader reads 1.x)"
        case .reservedBitsSet(let detail):
            "R5: \(detail)"
        case .fileLengthMismatch(let declared, let actual):
            "R6: header says the file has \(declared) bytes, it has \(actual) (truncated or extended)"
        case .manifestOutOfBounds(let offset, let length, let fileLength):
            "R7: manifest at \(offset) with \(length) bytes does not fit a \(fileLength)-byte file starting at 64"
        case .manifestChecksumMismatch(let stored, let computed):
            "R8: manifest checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))"
        case .manifestMalformed(let length):
            "R9: the \(length)-byte manifest is not a valid spruce.Manifest message"
        case .invalidEnum(let field, let value):
            "R10: \(field) has undefined value \(value)"
        case .invalidString(let field):
            "R11: \(field) is not valid UTF-8 or is empty"
        case .sectionMisplaced(let section, let detail):
            "R12: section \(section): \(detail)"
        case .trailingBytes(let expectedEnd, let fileLength):
            "R13: file should end at \(expectedEnd) but has \(fileLength) bytes"
        case .sectionChecksumMismatch(let section, let tensor, let part):
            "R14: section \(section) (\(part) of tensor '\(tensor)'): checksum mismatch"
        case .sectionDecodeFailed(let section, let tensor, let detail):
            "R15: section \(section) of tensor '\(tensor)': \(detail)"
        case .limitExceeded(let detail):
            "R16: \(detail)"
        case .duplicateName(let kind, let name):
            "R17: \(kind) '\(name)' appears more than once"
        case .invalidShape(let name, let shape):
            "R18: '\(name)' has invalid shape \(shape)"
        case .invalidSectionReference(let tensor, let detail):
            tensor.isEmpty ? "R19: \(detail)" : "R19: tensor '\(tensor)': \(detail)"
        case .partSizeMismatch(let tensor, let part, let expected, let actual):
            "R20: tensor '\(tensor)': \(part) section holds \(actual) raw bytes, its encoding needs \(expected)"
        case .invalidTensorHeader(let tensor, let detail):
            "R21: tensor '\(tensor)': \(detail)"
        case .invalidRowPointers(let tensor, let detail):
            "R22: tensor '\(tensor)': bad row pointers: \(detail)"
        case .invalidColumnIndices(let tensor, let detail):
            "R23: tensor '\(tensor)': bad column indices: \(detail)"
        case .invalidMask(let tensor, let detail):
            "R24: tensor '\(tensor)': bad bitmask: \(detail)"
        case .invalidQuantization(let tensor, let detail):
            "R25: tensor '\(tensor)': \(detail)"
        case .attributeMismatch(let node, let op, let detail):
            "R26: node '\(node)' (\(op)): \(detail)"
        case .ioFailed(let path, let detail):
            "\(path): \(detail)"
        case .cannotEncode(let name, let detail):
            "cannot write '\(name)': \(detail)"
        }
    }
}

private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
