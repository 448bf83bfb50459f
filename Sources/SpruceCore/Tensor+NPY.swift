// NumPy `.npy` reading and writing for `Tensor` (format versions 1.0, 2.0 and 3.0).
// Reads little-endian float32/float64/int32/int64 and uint8 arrays in C order, converting to Float;
// writes version 1.0 `<f4` with the header padded to 64 bytes, as numpy does.
// It is not a general numpy reader: no structured dtypes, no big-endian data, no Fortran order,
// no pickled object arrays. Foundation-free: works on bytes, the caller does the file I/O.

/// A rule of the `.npy` format that a byte buffer breaks.
public enum NPYError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The buffer does not start with `\x93NUMPY`.
    case badMagic
    /// The format version is not 1.0, 2.0 or 3.0.
    case unsupportedVersion(major: UInt8, minor: UInt8)
    /// The header is truncated or is not the expected Python dict literal.
    case badHeader(String)
    /// The dtype is not one of `<f4`, `<f8`, `<i4`, `<i8`, `|u1`.
    case unsupportedDType(String)
    /// The array is stored in Fortran (column-major) order.
    case fortranOrder
    /// The data after the header does not hold exactly the elements the shape asks for.
    case dataSizeMismatch(expected: Int, actual: Int)

    public var description: String {
        switch self {
        case .badMagic: "not a NumPy .npy file (bad magic)"
        case .unsupportedVersion(let major, let minor): "unsupported .npy format version \(major).\(minor)"
        case .badHeader(let detail): "bad .npy header: \(detail)"
        case .unsupportedDType(let dtype):
            "unsupported .npy dtype '\(dtype)' (expected <f4, <f8, <i4, <i8 or |u1)"
        case .fortranOrder: ".npy array is in Fortran order; save it in C order (np.ascontiguousarray)"
        case .dataSizeMismatch(let expected, let actual):
            ".npy data holds \(actual) bytes, the header's shape and dtype need \(expected)"
        }
    }
}

extension Tensor {
    /// Decodes a NumPy `.npy` file's bytes; numeric dtypes are converted to Float.
    public init(npyBytes bytes: [UInt8]) throws {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
        guard bytes.count >= 8 else {
            throw bytes.starts(with: magic.prefix(bytes.count)) && !bytes.isEmpty
                ? NPYError.badHeader("file ends inside the preamble") : NPYError.badMagic
        }
        guard bytes.starts(with: magic) else { throw NPYError.badMagic }
        let major = bytes[6], minor = bytes[7]
        let headerStart: Int
        let headerLength: Int
        switch (major, minor) {
        case (1, 0):
            guard bytes.count >= 10 else { throw NPYError.badHeader("file ends inside the header length") }
            headerStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case (2, 0), (3, 0):
            guard bytes.count >= 12 else { throw NPYError.badHeader("file ends inside the header length") }
            headerStart = 12
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        default:
            throw NPYError.unsupportedVersion(major: major, minor: minor)
        }
        guard headerLength <= bytes.count - headerStart else {
            throw NPYError.badHeader("header length \(headerLength) runs past the end of the file")
        }
        let header = try NPYHeader(parsing: bytes[headerStart..<(headerStart + headerLength)])
        guard !header.fortranOrder else { throw NPYError.fortranOrder }
        guard let dtype = NPYDType(rawValue: header.descr) else { throw NPYError.unsupportedDType(header.descr) }

        var count = 1
        for d in header.shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw NPYError.badHeader("shape \(header.shape) is too large") }
            count = p
        }
        let (expected, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize)
        guard !overflow else { throw NPYError.badHeader("shape \(header.shape) is too large") }
        let dataStart = headerStart + headerLength
        let actual = bytes.count - dataStart
        guard actual == expected else { throw NPYError.dataSizeMismatch(expected: expected, actual: actual) }

        let values = bytes.withUnsafeBufferPointer { buffer in
            dtype.decode(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[dataStart...])), count: count)
        }
        self.init(shape: header.shape, data: values)
    }

    /// Encodes the tensor as a version 1.0 `.npy` file of little-endian float32 in C order.
    public func npyBytes() -> [UInt8] {
        let shapeText: String
        switch shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(shape[0]),)"
        default: shapeText = "(" + shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }".utf8)
        // numpy pads with spaces so that magic + version + length + header + '\n' is a multiple of 64,
        // which keeps the data aligned for memory mapping.
        let unpadded = 10 + header.count + 1
        header += [UInt8](repeating: 0x20, count: (64 - unpadded % 64) % 64)
        header.append(0x0A)

        var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0]
        out.reserveCapacity(10 + header.count + data.count * 4)
        out.append(UInt8(header.count & 0xFF))
        out.append(UInt8(header.count >> 8))
        out += header
        data.withUnsafeBufferPointer { values in
            for v in values {
                let bits = v.bitPattern
                out.append(UInt8(truncatingIfNeeded: bits))
                out.append(UInt8(truncatingIfNeeded: bits >> 8))
                out.append(UInt8(truncatingIfNeeded: bits >> 16))
                out.append(UInt8(truncatingIfNeeded: bits >> 24))
            }
        }
        return out
    }
}

/// The element types the reader accepts, by numpy `descr`.
private enum NPYDType: String {
    case float32 = "<f4", float64 = "<f8", int32 = "<i4", int64 = "<i8", uint8 = "|u1"

    var itemSize: Int {
        switch self {
        case .uint8: 1
        case .float32, .int32: 4
        case .float64, .int64: 8
        }
    }

    /// Reads `count` little-endian items from `raw` (which holds exactly that many).
    func decode(_ raw: UnsafeRawBufferPointer, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { dst in
            switch self {
            case .float32:
                for i in 0..<count {
                    dst[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
                }
            case .float64:
                for i in 0..<count {
                    dst[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))))
                }
            case .int32:
                for i in 0..<count {
                    dst[i] = Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)))
                }
            case .int64:
                for i in 0..<count {
                    dst[i] = Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)))
                }
            case .uint8:
                for i in 0..<count { dst[i] = Float(raw[i]) }
            }
        }
        return out
    }
}

/// The header dict of a `.npy` file: `{'descr': ..., 'fortran_order': ..., 'shape': (...), }`.
private struct NPYHeader {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    /// Parses the Python literal numpy writes; keys may come in any order, all three are required.
    init(parsing bytes: ArraySlice<UInt8>) throws {
        var p = NPYLiteralParser(bytes)
        var descr: String?, fortran: Bool?, shape: [Int]?
        try p.expect(UInt8(ascii: "{"))
        while true {
            p.skipSpace()
            if p.consume(UInt8(ascii: "}")) { break }
            let key = try p.string()
            try p.expect(UInt8(ascii: ":"))
            switch key {
            case "descr": descr = try p.string()
            case "fortran_order": fortran = try p.bool()
            case "shape": shape = try p.intTuple()
            default: throw NPYError.badHeader("unexpected key '\(key)'")
            }
            p.skipSpace()
            if p.consume(UInt8(ascii: ",")) { continue }
            try p.expect(UInt8(ascii: "}"))
            break
        }
        guard let descr else { throw NPYError.badHeader("missing 'descr'") }
        guard let fortran else { throw NPYError.badHeader("missing 'fortran_order'") }
        guard let shape else { throw NPYError.badHeader("missing 'shape'") }
        self.descr = descr
        self.fortranOrder = fortran
        self.shape = shape
    }
}

/// A cursor over the few Python literal forms a `.npy` header uses.
private struct NPYLiteralParser {
    let bytes: ArraySlice<UInt8>
    var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    mutating func skipSpace() {
        while index < bytes.endIndex, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    mutating func consume(_ c: UInt8) -> Bool {
        skipSpace()
        guard index < bytes.endIndex, bytes[index] == c else { return false }
        index += 1
        return true
    }

    mutating func expect(_ c: UInt8) throws {
        guard consume(c) else {
            throw NPYError.badHeader(index < bytes.endIndex
                ? "expected '\(Character(Unicode.Scalar(c)))' at header offset \(index - bytes.startIndex)"
                : "header ends early")
        }
    }

    mutating func string() throws -> String {
        skipSpace()
        guard index < bytes.endIndex, bytes[index] == UInt8(ascii: "'") || bytes[index] == UInt8(ascii: "\"") else {
            throw NPYError.badHeader("expected a quoted string at header offset \(index - bytes.startIndex)")
        }
        let quote = bytes[index]
        index += 1
        let start = index
        while index < bytes.endIndex, bytes[index] != quote { index += 1 }
        guard index < bytes.endIndex else { throw NPYError.badHeader("unterminated string") }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        index += 1
        return text
    }

    mutating func bool() throws -> Bool {
        skipSpace()
        if bytes[index...].starts(with: "True".utf8) { index += 4; return true }
        if bytes[index...].starts(with: "False".utf8) { index += 5; return false }
        throw NPYError.badHeader("'fortran_order' is not True or False")
    }

    /// `()`, `(n,)`, `(a, b)` or `(a, b,)`; Python 2's `L` suffix is accepted.
    mutating func intTuple() throws -> [Int] {
        try expect(UInt8(ascii: "("))
        var dims: [Int] = []
        while true {
            if consume(UInt8(ascii: ")")) { break }
            skipSpace()
            var value = 0
            var digits = 0
            while index < bytes.endIndex, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int(bytes[index] - UInt8(ascii: "0")))
                guard !o1, !o2 else { throw NPYError.badHeader("dimension too large in 'shape'") }
                value = s
                digits += 1
                index += 1
            }
            guard digits > 0 else { throw NPYError.badHeader("'shape' is not a tuple of non-negative integers") }
            if index < bytes.endIndex, bytes[index] == UInt8(ascii: "L") { index += 1 }
            dims.append(value)
            if consume(UInt8(ascii: ",")) { continue }
            try expect(UInt8(ascii: ")"))
            break
        }
        return dims
    }
}
