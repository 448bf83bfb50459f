// Damaged artifacts: every truncation and every single-byte flip of small artifacts gives a
// typed FormatError, except flips in alignment padding (no checksum covers it by design,
// formats/SPEC.md), which must leave the decoded model identical. Plus hand-made bad files.

import SpruceCore
@testable import SpruceFormat
import Testing

@Suite struct CorruptionTests {
    /// Small artifacts covering dense, bitmask and CSR parts, f32 and int8, raw and zstd sections.
    static func artifacts() throws -> [[UInt8]] {
        // The writer keeps the encoding with the fewest stored bytes: bitmask at 50 % and 90 %,
        // CSR only when very sparse.
        [try ArtifactWriter().encode(smallModel(sparsity: 0.5)),
         try ArtifactWriter(int8: true, quantizeFirstConv: true).encode(smallModel(sparsity: 0.9)),
         try ArtifactWriter().encode(smallModel(sparsity: 0.98))]
    }

    @Test func fixturesCoverEveryPartAndCodec() throws {
        var parts = Set<TensorPart>()
        var codecs = Set<SectionCodec>()
        for bytes in try Self.artifacts() {
            for t in try ArtifactReader.decode(bytes).tensors {
                for s in t.sections { parts.insert(s.part); codecs.insert(s.codec) }
            }
        }
        #expect(parts == Set(TensorPart.allCases))
        #expect(codecs == [.raw, .zstd])
    }

    @Test func everyTruncationThrows() throws {
        for bytes in try Self.artifacts() {
            for length in 0..<bytes.count {
                #expect(throws: FormatError.self, "length \(length)") { try ArtifactReader.decode(Array(bytes[0..<length])) }
            }
        }
    }

    @Test func everyByteFlipThrowsOrHitsPadding() throws {
        for bytes in try Self.artifacts() {
            let original = try ArtifactReader.decode(bytes).denseModel()
            let padding = try paddingRanges(of: bytes)
            var silent = 0
            for i in 0..<bytes.count {
                var damaged = bytes
                damaged[i] ^= 0xFF
                do {
                    let model = try ArtifactReader.decode(damaged).denseModel()
                    #expect(padding.contains { $0.contains(i) }, "flip at \(i) was accepted outside padding")
                    #expect(model == original, "flip at \(i) changed the model")
                    silent += 1
                } catch {
                    // Typed throws: `error` is a FormatError; its description must name a rule.
                    #expect(error.description.hasPrefix("R"), "\(error)")
                }
            }
            #expect(silent == padding.reduce(0) { $0 + $1.count })
        }
    }

    @Test func badMagic() throws {
        var bytes = try ArtifactWriter().encode(smallModel(sparsity: 0))
        bytes[0] = UInt8(ascii: "X")
        #expect(throws: FormatError.badMagic([UInt8(ascii: "X"), 0x50, 0x52, 0x43])) { try ArtifactReader.decode(bytes) }
    }

    @Test func newerMajorVersionIsRefused() throws {
        var bytes = try ArtifactWriter().encode(smallModel(sparsity: 0))
        setLE(&bytes, at: 4, UInt16(3))
        setLE(&bytes, at: 6, UInt16(0))
        resealHeader(&bytes)
        #expect(throws: FormatError.unsupportedVersion(major: 3, minor: 0)) { try ArtifactReader.decode(bytes) }
        setLE(&bytes, at: 4, UInt16(1))
        setLE(&bytes, at: 6, UInt16(7))  // a newer minor version is accepted
        resealHeader(&bytes)
        #expect(try ArtifactReader.decode(bytes).minorVersion == 7)
    }

    /// Reflect and edge Pads are op types of their own (34, 35), above the last 1.0 op type (26), so
    /// a 1.0 reader rejects them (R10) instead of padding with the value; constant Pad stays 24.
    /// The node's op varint (field 2) follows its name in the manifest.
    @Test(arguments: [(PadMode.constant, UInt8(24)), (.reflect, 34), (.edge, 35)])
    func padModesAreOpTypes(mode: PadMode, opType: UInt8) throws {
        let pad = Node(name: "pad", op: .pad(pads: [0, 0, 3, 3, 0, 0, 3, 3], value: 0, mode: mode), inputs: ["x"], outputs: ["y"])
        let graph = Graph(nodes: [pad], initializers: [:], inputs: [ValueInfo(name: "x", shape: [1, 1, 4, 4])],
                          outputs: [ValueInfo(name: "y", shape: [1, 1, 10, 10])])
        var bytes = try ArtifactWriter().encode(Model(graph: graph))
        #expect(try ArtifactReader.decode(bytes).graph.nodes == [pad])
        let encoded: [UInt8] = [0x0A, 0x03] + Array("pad".utf8) + [0x10, opType]
        let manifestLength = Int(bytes.withUnsafeBytes { readLE($0, 24, as: UInt64.self) })
        let at = try #require((64..<(64 + manifestLength - encoded.count)).first { Array(bytes[$0..<($0 + encoded.count)]) == encoded })
        bytes[at + encoded.count - 1] = 36  // an op type this reader does not know
        setLE(&bytes, at: 12, CRC32C.checksum(Array(bytes[64..<(64 + manifestLength)])))
        resealHeader(&bytes)
        #expect(throws: FormatError.invalidEnum(field: "op type of node 'pad'", value: 36)) { try ArtifactReader.decode(bytes) }
    }

    @Test func trailingBytesAreRefused() throws {
        var bytes = try ArtifactWriter().encode(smallModel(sparsity: 0))
        bytes.append(contentsOf: [0, 0, 0])
        setLE(&bytes, at: 32, UInt64(bytes.count))
        resealHeader(&bytes)
        #expect(throws: FormatError.trailingBytes(expectedEnd: UInt64(bytes.count - 3), fileLength: bytes.count)) {
            try ArtifactReader.decode(bytes)
        }
    }

    @Test func manifestPastTheEndIsRefused() throws {
        var bytes = try ArtifactWriter().encode(smallModel(sparsity: 0))
        setLE(&bytes, at: 24, UInt64.max - 10)
        resealHeader(&bytes)
        #expect(throws: FormatError.manifestOutOfBounds(offset: 64, length: UInt64.max - 10, fileLength: bytes.count)) {
            try ArtifactReader.decode(bytes)
        }
    }

    @Test func garbageManifestIsRefused() throws {
        // A header that seals 16 bytes of 0xFF as the manifest.
        var bytes = [UInt8](repeating: 0, count: 80)
        bytes.replaceSubrange(0..<4, with: Layout.magic)
        setLE(&bytes, at: 4, UInt16(1))
        setLE(&bytes, at: 16, UInt64(64))
        setLE(&bytes, at: 24, UInt64(16))
        setLE(&bytes, at: 32, UInt64(80))
        for i in 64..<80 { bytes[i] = 0xFF }
        setLE(&bytes, at: 12, CRC32C.checksum(Array(bytes[64..<80])))
        resealHeader(&bytes)
        #expect(throws: FormatError.manifestMalformed(length: 16)) { try ArtifactReader.decode(bytes) }
    }

    /// Re-packs a valid artifact (w1 stored as CSR) after `edit` changes its manifest or section payloads, resealing every checksum.
    /// `int8`: the artifact is written with int8 weights (format 2.0: binary16 scales and biases);
    /// `major`: the version the resealed header declares (default: the writer's).
    static func tampered(int8: Bool = false, bits: Int = 8, major: UInt16? = nil,
                         _ edit: (inout ManifestContents, inout [[UInt8]]) -> Void) throws -> [UInt8] {
        var writer = ArtifactWriter(int8: int8)
        writer.valueBits = bits
        let bytes = try writer.encode(smallModel(sparsity: 0.98))
        let (writtenMajor, writtenMinor) = bytes.withUnsafeBytes { (readLE($0, 4, as: UInt16.self), readLE($0, 6, as: UInt16.self)) }
        let manifestLength = bytes.withUnsafeBytes { Int(readLE($0, 24, as: UInt64.self)) }
        var manifest = try bytes.withUnsafeBytes { try ManifestCoding.decode(UnsafeRawBufferPointer(rebasing: $0[64..<64 + manifestLength]), major: 2) }
        var payloads = manifest.sections.map { Array(bytes[Int($0.offset)..<Int($0.offset + $0.storedSize)]) }
        edit(&manifest, &payloads)
        for i in manifest.sections.indices {
            manifest.sections[i].storedSize = UInt64(payloads[i].count)
            manifest.sections[i].checksum = CRC32C.checksum(payloads[i])
            manifest.sections[i].offset = 64  // non-zero placeholder, as the writer does
        }
        let length = try ManifestCoding.encode(manifest).count
        var end = 64 + length
        for i in manifest.sections.indices {
            manifest.sections[i].offset = UInt64(align(end, to: 64))
            end = Int(manifest.sections[i].offset) + payloads[i].count
        }
        let m = try ManifestCoding.encode(manifest)
        var out = [UInt8](repeating: 0, count: 64)
        out.replaceSubrange(0..<4, with: Layout.magic)
        setLE(&out, at: 4, major ?? writtenMajor)
        setLE(&out, at: 6, writtenMinor)
        setLE(&out, at: 12, CRC32C.checksum(m))
        setLE(&out, at: 16, UInt64(64))
        setLE(&out, at: 24, UInt64(m.count))
        setLE(&out, at: 32, UInt64(end))
        resealHeader(&out)
        out += m
        for p in payloads {
            out += [UInt8](repeating: 0, count: align(out.count, to: 64) - out.count)
            out += p
        }
        return out
    }

    static func sectionIndex(_ m: ManifestContents, _ tensor: String, _ part: TensorPart) -> Int {
        Int(m.tensors.first { $0.name == tensor }!.parts[part]!)
    }

    @Test func resealedUntouchedArtifactIsValid() throws {
        let bytes = try Self.tampered { _, _ in }
        #expect(try ArtifactReader.decode(bytes).denseModel() == smallModel(sparsity: 0.98))
    }

    @Test func columnIndexPastTheEnd() throws {
        let csr = CSRMatrix(dense: smallModel(sparsity: 0.98).graph.initializers["w1"]!.data, rows: 8, cols: 288)
        func columns(lastBecomes last: Int32) throws -> [UInt8] {
            try Self.tampered { m, p in
                let k = m.tensors.firstIndex { $0.name == "w1" }!
                let i = Self.sectionIndex(m, "w1", .columnIndices)
                m.tensors[k].columnIndexFormat = .u16
                m.sections[i].codec = .raw
                m.sections[i].rawSize = UInt64(csr.storedCount * 2)
                var indices = csr.columnIndices
                indices[indices.count - 1] = last
                p[i] = ByteCoding.pack(indices, width: 2)
            }
        }
        // Absolute u16 indices re-encoded by hand are valid; one column ≥ 288 is not.
        #expect(try ArtifactReader.decode(columns(lastBecomes: csr.columnIndices.last!)).denseModel() == smallModel(sparsity: 0.98))
        #expect { try ArtifactReader.decode(columns(lastBecomes: 288)) } throws: { error in
            guard case FormatError.invalidColumnIndices(let tensor, _) = error else { return false }
            return tensor == "w1"
        }
    }

    @Test func sharedSectionIsRefused() throws {
        let bytes = try Self.tampered { m, _ in
            let k = m.tensors.firstIndex { $0.name == "b3" }!
            m.tensors[k].parts[.values] = UInt32(Self.sectionIndex(m, "b1", .values))
        }
        #expect { try ArtifactReader.decode(bytes) } throws: { error in
            guard case FormatError.invalidSectionReference = error else { return false }
            return true
        }
    }

    @Test func wrongPartSizeIsRefused() throws {
        let bytes = try Self.tampered { m, _ in
            let k = m.tensors.firstIndex { $0.name == "b3" }!
            m.tensors[k].shape = [11]
            m.tensors[k].storedValues = 11
        }
        #expect(throws: FormatError.partSizeMismatch(tensor: "b3", part: "values", expected: 44, actual: 40)) {
            try ArtifactReader.decode(bytes)
        }
    }

    @Test func hugeShapeIsRefused() throws {
        let bytes = try Self.tampered { m, _ in
            let k = m.tensors.firstIndex { $0.name == "b3" }!
            m.tensors[k].shape = [1 << 40, 1 << 40]
        }
        #expect(throws: FormatError.invalidShape(name: "b3", shape: [1 << 40, 1 << 40])) { try ArtifactReader.decode(bytes) }
    }

    @Test func rowPointersMustEndAtValueCount() throws {
        let bytes = try Self.tampered { m, p in
            let i = Self.sectionIndex(m, "w1", .rowPointers)
            let t = m.tensors.first { $0.name == "w1" }!
            m.sections[i].codec = .raw
            p[i] = ByteCoding.pack([Int32](repeating: 0, count: 9), width: t.rowPointerFormat!.byteWidth)
        }
        #expect { try ArtifactReader.decode(bytes) } throws: { error in
            guard case FormatError.invalidRowPointers(let tensor, _) = error else { return false }
            return tensor == "w1"
        }
    }

    @Test("format 2.0: binary16 parts are checked like the others, and a 1.x file may not use them")
    func halfPartsAreChecked() throws {
        // Untouched: int8 weights with binary16 scales, binary16 biases, in a 2.0 file.
        let model = smallModel(sparsity: 0.98)
        let valid = try ArtifactReader.decode(Self.tampered(int8: true) { _, _ in })
        #expect(valid.majorVersion == 2 && valid.minorVersion == 0)
        #expect(valid.tensor(named: "w2")?.halfScales == true && valid.tensor(named: "b2")?.halfValues == true)
        #expect(valid.tensor(named: "b2")?.storage.denseTensor().data == model.graph.initializers["b2"]?.data.map { Float(Float16($0)) })
        // The same manifest under a 1.x header: the binary16 value type is undefined there (R10).
        #expect { try ArtifactReader.decode(Self.tampered(int8: true, major: 1) { _, _ in }) } throws: { error in
            guard case FormatError.invalidEnum(let field, let value) = error else { return false }
            return field.hasPrefix("value type of tensor") && value == 3
        }
        // A binary16 scale that is NaN (R25), and binary16 scales on a float tensor (R21).
        let nanScale = try Self.tampered(int8: true) { m, p in
            let i = Self.sectionIndex(m, "w2", .scales)
            p[i] = [UInt8](repeating: 0xFF, count: Int(m.sections[i].rawSize))  // 0xFFFF is a binary16 NaN
            m.sections[i].codec = .raw
        }
        #expect { try ArtifactReader.decode(nanScale) } throws: { error in
            guard case FormatError.invalidQuantization(let tensor, _) = error else { return false }
            return tensor == "w2"
        }
        let floatWithHalfScales = try Self.tampered(int8: true) { m, _ in
            let k = m.tensors.firstIndex { $0.name == "b3" }!
            m.tensors[k].halfScales = true
        }
        #expect { try ArtifactReader.decode(floatWithHalfScales) } throws: { error in
            guard case FormatError.invalidTensorHeader(let tensor, _) = error else { return false }
            return tensor == "b3"
        }
        // A binary16 values section of the float32 size (R20).
        let wrongSize = try Self.tampered(int8: true) { m, p in
            let i = Self.sectionIndex(m, "b3", .values)
            p[i] = [UInt8](repeating: 0, count: 40)
            m.sections[i].codec = .raw
            m.sections[i].rawSize = 40
        }
        #expect(throws: FormatError.partSizeMismatch(tensor: "b3", part: "values", expected: 20, actual: 40)) {
            try ArtifactReader.decode(wrongSize)
        }
    }

    @Test("format 2.0: packed values out of their range, with stray padding bits or an undefined width are refused")
    func packedValuesAreChecked() throws {
        #expect(try ArtifactReader.decode(Self.tampered(int8: true, bits: 4) { _, _ in }).tensor(named: "w2")?.valueBits == 4)
        // 4-bit fields 1000 are −8, outside ±7 (R25).
        let outOfRange = try Self.tampered(int8: true, bits: 4) { m, p in
            let i = Self.sectionIndex(m, "w2", .values)
            p[i] = [UInt8](repeating: 0x88, count: Int(m.sections[i].rawSize))
            m.sections[i].codec = .raw
        }
        #expect { try ArtifactReader.decode(outOfRange) } throws: { error in
            guard case FormatError.invalidQuantization(let tensor, let detail) = error else { return false }
            return tensor == "w2" && detail.contains("-8")
        }
        // A width of 1 bit is not defined (R21); packed values in a 1.x file are not either (R10).
        let oneBit = try Self.tampered(int8: true, bits: 4) { m, _ in
            m.tensors[m.tensors.firstIndex { $0.name == "w2" }!].valueBits = 1
        }
        #expect { try ArtifactReader.decode(oneBit) } throws: { error in
            guard case FormatError.invalidTensorHeader(let tensor, _) = error else { return false }
            return tensor == "w2"
        }
        #expect { try ArtifactReader.decode(Self.tampered(int8: true, bits: 4, major: 1) { _, _ in }) } throws: { error in
            guard case FormatError.invalidEnum(let field, _) = error else { return false }
            return field.hasPrefix("value type of tensor")
        }
        // Bits past the last 3-bit value must be zero (R25).
        var target = ""
        let padded = try Self.tampered(int8: true, bits: 3) { m, p in
            guard let t = m.tensors.first(where: { $0.valueBits == 3 && Int($0.storedValues) * 3 % 8 != 0 }) else { return }
            target = t.name
            let i = Self.sectionIndex(m, t.name, .values)
            var bytes = [UInt8](repeating: 0, count: Int(m.sections[i].rawSize))
            bytes[bytes.count - 1] = 0x80
            p[i] = bytes
            m.sections[i].codec = .raw
        }
        #expect(!target.isEmpty, "no 3-bit tensor with padding bits")
        #expect { try ArtifactReader.decode(padded) } throws: { error in
            guard case FormatError.invalidQuantization(let tensor, let detail) = error else { return false }
            return tensor == target && detail.contains("past value")
        }
    }

    @Test func int8MinusOneTwentyEightIsRefused() throws {
        let bytes = try Self.tampered { m, p in
            let k = m.tensors.firstIndex { $0.name == "b3" }!
            let i = Self.sectionIndex(m, "b3", .values)
            // Re-declare b3 as dense int8 with a -128 value and a scales section.
            m.tensors[k].valueType = .int8
            m.sections[i] = SectionRecord(offset: 0, storedSize: 10, rawSize: 10, codec: .raw, checksum: 0)
            p[i] = [UInt8](repeating: 0x80, count: 10)
            m.tensors[k].parts[.scales] = UInt32(m.sections.count)
            m.sections.append(SectionRecord(offset: 0, storedSize: 40, rawSize: 40, codec: .raw, checksum: 0))
            p.append([UInt8](repeating: 0, count: 40))
        }
        #expect { try ArtifactReader.decode(bytes) } throws: { error in
            guard case FormatError.invalidQuantization(let tensor, _) = error else { return false }
            return tensor == "b3"
        }
    }

    @Test func rawLimitIsEnforced() throws {
        let bytes = try ArtifactWriter().encode(smallModel(sparsity: 0))
        #expect { try ArtifactReader.decode(bytes, options: .init(maxRawBytes: 1000)) } throws: { error in
            guard case FormatError.limitExceeded = error else { return false }
            return true
        }
    }
}
