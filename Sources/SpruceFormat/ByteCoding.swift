// Little-endian byte packing for the header and the section payloads (values, indices, scales).
// Hosts are little-endian (x86-64, arm64), so float and int arrays copy as they are; a
// big-endian host is refused at compile time rather than silently misread.

#if _endian(big)
#error("SpruceFormat assumes a little-endian host")
#endif

/// Appends little-endian integers to a byte array.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func pad(toMultipleOf alignment: Int) {
        let target = align(bytes.count, to: alignment)
        bytes.append(contentsOf: repeatElement(0, count: target - bytes.count))
    }
}

/// The smallest multiple of `alignment` not below `offset`.
@inline(__always)
func align(_ offset: Int, to alignment: Int) -> Int { (offset + alignment - 1) / alignment * alignment }

/// Reads a little-endian integer at `offset` (the caller checked the bounds).
@inline(__always)
func readLE<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, _ offset: Int, as: T.Type) -> T {
    T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
}

enum ByteCoding {
    /// Raw bytes of float32 values.
    static func bytes(of values: [Float]) -> [UInt8] {
        values.withUnsafeBytes { [UInt8]($0) }
    }

    /// Raw bytes of int8 values.
    static func bytes(of values: [Int8]) -> [UInt8] {
        values.withUnsafeBytes { [UInt8]($0) }
    }

    /// Float32 values from raw bytes (count = bytes / 4, checked by the caller).
    static func floats(_ raw: UnsafeRawBufferPointer) -> [Float] {
        let n = raw.count / 4
        return [Float](unsafeUninitializedCapacity: n) { buffer, count in
            if n > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<n * 4])) }
            count = n
        }
    }

    /// Float32 values from raw binary16 bytes (count = bytes / 2, checked by the caller); exact.
    static func halfFloats(_ raw: UnsafeRawBufferPointer) -> [Float] {
        (0..<raw.count / 2).map { Float(Float16(bitPattern: readLE(raw, 2 * $0, as: UInt16.self))) }
    }

    /// Raw binary16 bytes of `values`, or nil unless every value is exactly a binary16 value
    /// (so that reading them back gives the same floats).
    static func halfBytes(of values: [Float]) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: values.count * 2)
        for (i, v) in values.enumerated() {
            let h = Float16(v)
            guard Float(h) == v else { return nil }
            let bits = h.bitPattern.littleEndian
            out[2 * i] = UInt8(truncatingIfNeeded: bits)
            out[2 * i + 1] = UInt8(truncatingIfNeeded: bits >> 8)
        }
        return out
    }

    /// The `count` values of an `Int8Rows.packBits` stream, sign-extended (the caller checked the size).
    static func unpackBits(_ raw: UnsafeRawBufferPointer, count: Int, bits: Int) -> [Int8] {
        [Int8](unsafeUninitializedCapacity: count) { buffer, n in
            let mask = UInt32(1) << UInt32(bits) - 1, sign = UInt32(1) << UInt32(bits - 1)
            var bit = 0
            for i in 0..<count {
                let byte = bit >> 3, shift = bit & 7
                var word = UInt32(raw[byte])
                if byte + 1 < raw.count { word |= UInt32(raw[byte + 1]) << 8 }
                let field = (word >> UInt32(shift)) & mask
                buffer[i] = Int8(truncatingIfNeeded: Int32(field ^ sign) - Int32(sign))
                bit += bits
            }
            n = count
        }
    }

    /// Int8 values from raw bytes.
    static func int8s(_ raw: UnsafeRawBufferPointer) -> [Int8] {
        [Int8](unsafeUninitializedCapacity: raw.count) { buffer, count in
            if raw.count > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw) }
            count = raw.count
        }
    }

    /// Index entries (Int32 in memory) packed at `width` bytes each; every entry must fit.
    static func pack(_ entries: [Int32], width: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: entries.count * width)
        out.withUnsafeMutableBytes { o in
            entries.withUnsafeBufferPointer { e in
                for i in 0..<e.count {
                    let v = UInt32(bitPattern: e[i])
                    switch width {
                    case 1: o.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: i, as: UInt8.self)
                    case 2: o.storeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                    default: o.storeBytes(of: v.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                    }
                }
            }
        }
        return out
    }

    /// Entry `i` of an index stream of `width` bytes (bounds checked by the caller).
    @inline(__always)
    static func entry(_ raw: UnsafeRawBufferPointer, _ i: Int, width: Int) -> Int {
        switch width {
        case 1: Int(raw[i])
        case 2: Int(readLE(raw, 2 * i, as: UInt16.self))
        default: Int(readLE(raw, 4 * i, as: UInt32.self))
        }
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` for a body that throws only `FormatError` (the standard one is untyped).
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(FormatError) -> R) throws(FormatError) -> R {
        let result: Result<R, FormatError> = withUnsafeBytes { raw in
            do throws(FormatError) { return .success(try body(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }
}
