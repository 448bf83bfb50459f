// Tests of Tensor's .npy reader and writer against files written by numpy 1.26 (embedded as hex),
// round trips, and every truncation and header rule the reader enforces.
import Testing
@testable import SpruceCore

/// Bytes of files written once by `numpy.lib.format.write_array` (see each name for dtype/shape).
private enum NumpyFiles {
    static func hex(_ parts: [String]) -> [UInt8] {
        let text = Array(parts.joined().utf8)
        func nibble(_ c: UInt8) -> UInt8 { c <= UInt8(ascii: "9") ? c - UInt8(ascii: "0") : c - UInt8(ascii: "a") + 10 }
        return stride(from: 0, to: text.count, by: 2).map { nibble(text[$0]) << 4 | nibble(text[$0 + 1]) }
    }

    static let float32_2x3 = hex([
        "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73",
        "652c20277368617065273a2028322c2033292c207d202020202020202020202020202020202020202020202020202020",
        "202020202020202020202020202020202020202020202020202020202020200a000080bf000000bf000000000000003f",
        "0000803f0000c03f",
    ])
    static let float64_3 = hex([
        "934e554d5059010076007b276465736372273a20273c6638272c2027666f727472616e5f6f72646572273a2046616c73",
        "652c20277368617065273a2028332c292c207d2020202020202020202020202020202020202020202020202020202020",
        "202020202020202020202020202020202020202020202020202020202020200a000000000000f83f00000000000002c0",
        "000000b08ef01b42",
    ])
    static let int64_2x2 = hex([
        "934e554d5059010076007b276465736372273a20273c6938272c2027666f727472616e5f6f72646572273a2046616c73",
        "652c20277368617065273a2028322c2032292c207d202020202020202020202020202020202020202020202020202020",
        "202020202020202020202020202020202020202020202020202020202020200a0100000000000000feffffffffffffff",
        "03000000000000009001000000000000",
    ])
    static let uint8_4 = hex([
        "934e554d5059010076007b276465736372273a20277c7531272c2027666f727472616e5f6f72646572273a2046616c73",
        "652c20277368617065273a2028342c292c207d2020202020202020202020202020202020202020202020202020202020",
        "202020202020202020202020202020202020202020202020202020202020200a000180ff",
    ])
    static let float32_scalar = hex([
        "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73",
        "652c20277368617065273a2028292c207d20202020202020202020202020202020202020202020202020202020202020",
        "202020202020202020202020202020202020202020202020202020202020200a00006040",
    ])
    static let int32_2 = hex([
        "934e554d5059010076007b276465736372273a20273c6934272c2027666f727472616e5f6f72646572273a2046616c73",
        "652c20277368617065273a2028322c292c207d2020202020202020202020202020202020202020202020202020202020",
        "202020202020202020202020202020202020202020202020202020202020200a07000000f7ffffff",
    ])
    static let float32_v2 = hex([
        "934e554d50590200740000007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a204661",
        "6c73652c20277368617065273a2028312c2032292c207d20202020202020202020202020202020202020202020202020",
        "202020202020202020202020202020202020202020202020202020202020200a0000803f00000040",
    ])
    static let float32_v3 = hex([
        "934e554d50590300740000007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a204661",
        "6c73652c20277368617065273a2028312c292c207d202020202020202020202020202020202020202020202020202020",
        "202020202020202020202020202020202020202020202020202020202020200a00008840",
    ])
    static let fortran = hex([
        "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2054727565",
        "2c20277368617065273a2028322c2033292c207d20202020202020202020202020202020202020202020202020202020",
        "202020202020202020202020202020202020202020202020202020202020200a00000000000040400000803f00008040",
        "000000400000a040",
    ])
    static let bigendian = hex([
        "934e554d5059010076007b276465736372273a20273e6634272c2027666f727472616e5f6f72646572273a2046616c73",
        "652c20277368617065273a2028322c292c207d2020202020202020202020202020202020202020202020202020202020",
        "202020202020202020202020202020202020202020202020202020202020200a0000000000000000",
    ])
    static let empty_0x3 = hex([
        "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73",
        "652c20277368617065273a2028302c2033292c207d202020202020202020202020202020202020202020202020202020",
        "202020202020202020202020202020202020202020202020202020202020200a",
    ])
}

struct NPYTests {
    @Test("numpy-written files decode to the expected shape and values", arguments: [
        (NumpyFiles.float32_2x3, [2, 3], [-1, -0.5, 0, 0.5, 1, 1.5]),
        (NumpyFiles.float64_3, [3], [1.5, -2.25, 3e10]),
        (NumpyFiles.int64_2x2, [2, 2], [1, -2, 3, 400]),
        (NumpyFiles.uint8_4, [4], [0, 1, 128, 255]),
        (NumpyFiles.float32_scalar, [], [3.5]),
        (NumpyFiles.int32_2, [2], [7, -9]),
        (NumpyFiles.float32_v2, [1, 2], [1, 2]),
        (NumpyFiles.float32_v3, [1], [4.25]),
        (NumpyFiles.empty_0x3, [0, 3], []),
    ] as [([UInt8], [Int], [Float])])
    func decodesNumpyFiles(bytes: [UInt8], shape: [Int], values: [Float]) throws {
        let t = try Tensor(npyBytes: bytes)
        #expect(t.shape == shape)
        #expect(t.data == values)
    }

    @Test("the writer reproduces numpy's bytes exactly for float32 files")
    func writerMatchesNumpy() throws {
        for bytes in [NumpyFiles.float32_2x3, NumpyFiles.float32_scalar, NumpyFiles.empty_0x3] {
            #expect(try Tensor(npyBytes: bytes).npyBytes() == bytes)
        }
    }

    @Test("write then read gives the same tensor, header 64-byte aligned",
          arguments: [[], [1], [7], [2, 3], [1, 3, 5, 4], [2, 1, 1, 1, 3], [0, 4]] as [[Int]])
    func roundTrip(shape: [Int]) throws {
        var rng = SplitMix64(seed: UInt64(shape.count * 31 + shape.reduce(0, +)))
        let t = Tensor(shape: shape, data: (0..<shape.elementCount).map { _ in rng.float(-100, 100) })
        let bytes = t.npyBytes()
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        #expect(bytes[10 + headerLength - 1] == 0x0A)
        #expect(bytes.count == 10 + headerLength + 4 * t.count)
        #expect(try Tensor(npyBytes: bytes) == t)
    }

    @Test("special float values survive a round trip bit for bit")
    func specialValues() throws {
        let t = Tensor(shape: [5], data: [.infinity, -.infinity, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude])
        let back = try Tensor(npyBytes: t.npyBytes())
        #expect(back.data.map(\.bitPattern) == t.data.map(\.bitPattern))
    }

    @Test("every truncation of a valid file throws", arguments: [
        NumpyFiles.float32_2x3, NumpyFiles.float32_v2, NumpyFiles.float32_scalar, NumpyFiles.empty_0x3,
    ])
    func truncations(bytes: [UInt8]) {
        for length in 0..<bytes.count {
            #expect(throws: NPYError.self, "length \(length)") { try Tensor(npyBytes: Array(bytes.prefix(length))) }
        }
    }

    @Test("trailing bytes after the data are a size mismatch")
    func trailingBytes() {
        #expect(throws: NPYError.dataSizeMismatch(expected: 24, actual: 25)) {
            try Tensor(npyBytes: NumpyFiles.float32_2x3 + [0])
        }
    }

    @Test("Fortran order is refused")
    func fortran() {
        #expect(throws: NPYError.fortranOrder) { try Tensor(npyBytes: NumpyFiles.fortran) }
    }

    @Test("big-endian data is an unsupported dtype")
    func bigEndian() {
        #expect(throws: NPYError.unsupportedDType(">f4")) { try Tensor(npyBytes: NumpyFiles.bigendian) }
    }

    @Test("a file not starting with the magic is refused")
    func badMagic() {
        var bytes = NumpyFiles.float32_2x3
        bytes[1] = UInt8(ascii: "X")
        #expect(throws: NPYError.badMagic) { try Tensor(npyBytes: bytes) }
        #expect(throws: NPYError.badMagic) { try Tensor(npyBytes: Array("PK\u{3}\u{4} zip file".utf8)) }
    }

    @Test("versions other than 1.0, 2.0, 3.0 are refused")
    func version() {
        var bytes = NumpyFiles.float32_2x3
        bytes[6] = 4
        #expect(throws: NPYError.unsupportedVersion(major: 4, minor: 0)) { try Tensor(npyBytes: bytes) }
    }

    /// A v1.0 file with `header` (padded to 64) followed by `data`.
    private func file(header: String, data: [UInt8] = []) -> [UInt8] {
        var h = Array(header.utf8)
        h += [UInt8](repeating: 0x20, count: (64 - (10 + h.count + 1) % 64) % 64) + [0x0A]
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(h.count & 0xFF), UInt8(h.count >> 8)] + h + data
    }

    @Test("malformed headers are bad headers", arguments: [
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'shape': (1,)}",
        "{'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': Nope, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
        "{'descr: '<f4', 'fortran_order': False, 'shape': (1,)}",
        "['descr', '<f4']",
    ])
    func badHeaders(header: String) {
        #expect {
            try Tensor(npyBytes: file(header: header, data: [0, 0, 0x80, 0x3F]))
        } throws: { error in
            guard case NPYError.badHeader = error else { return false }
            return true
        }
    }

    @Test("keys in another order and double quotes are accepted")
    func keyOrder() throws {
        let t = try Tensor(npyBytes: file(header: "{\"shape\": (1L,), \"fortran_order\": False, \"descr\": \"<f4\"}",
                                          data: [0, 0, 0x80, 0x3F]))
        #expect(t == Tensor(shape: [1], data: [1]))
    }

    @Test("unsupported dtypes are named", arguments: ["<c8", "|b1", "<U3", "<f2"])
    func dtypes(descr: String) {
        #expect(throws: NPYError.unsupportedDType(descr)) {
            try Tensor(npyBytes: file(header: "{'descr': '\(descr)', 'fortran_order': False, 'shape': (1,), }"))
        }
    }

    @Test("error descriptions are single lines")
    func descriptions() {
        let errors: [NPYError] = [.badMagic, .unsupportedVersion(major: 9, minor: 1), .badHeader("x"),
                                  .unsupportedDType("<c8"), .fortranOrder, .dataSizeMismatch(expected: 4, actual: 2)]
        for e in errors {
            #expect(!e.description.isEmpty && !e.description.contains("\n"))
        }
        #expect(NPYError.dataSizeMismatch(expected: 4, actual: 2).description.contains("4"))
    }
}
