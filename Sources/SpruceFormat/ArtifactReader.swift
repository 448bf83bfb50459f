// .spruce bytes → a validated Artifact. Every rule of formats/SPEC.md (R1–R26) is checked
// before the data it protects is used, in file order: header, manifest, layout, tensor table,
// then each section (checksum, decode, contents). Nothing here trusts a length or an index.

import SpruceCore

/// Reads and validates `.spruce` artifacts.
///
/// ```swift
/// let artifact = try ArtifactReader.load(path: "model.spruce")
/// ```
public enum ArtifactReader {
    /// The newest major format version this reader reads (files of any minor version of it and
    /// of every older major version: 1.x and 2.x).
    public static let majorVersionRead = Layout.majorVersionsRead.upperBound
    /// The newest minor version of `majorVersionRead` known here.
    public static let minorVersionWritten = Int(Layout.version2.minor)

    /// Reader limits and switches.
    public struct Options: Sendable {
        /// Check CRC-32C of header, manifest and sections (R3, R8, R14). Only the fuzzer turns this
        /// off, to reach the parsing behind the checksums; every other rule is still enforced.
        public var verifyChecksums: Bool
        /// Largest total of decoded section bytes accepted (R16).
        public var maxRawBytes: Int

        /// Checksums on, 4 GiB limit.
        public init(verifyChecksums: Bool = true, maxRawBytes: Int = 4 << 30) {
            self.verifyChecksums = verifyChecksums
            self.maxRawBytes = maxRawBytes
        }
    }

    /// Reads the artifact at `path`.
    public static func load(path: String, options: Options = Options()) throws(FormatError) -> Artifact {
        try decode(FileIO.read(path: path), options: options)
    }

    /// Validates and decodes artifact bytes.
    public static func decode(_ bytes: [UInt8], options: Options = Options()) throws(FormatError) -> Artifact {
        try bytes.withBytes { (raw) throws(FormatError) in try Decoder(file: raw, options: options).artifact() }
    }
}

/// One decoding pass over a file held in memory.
private struct Decoder {
    let file: UnsafeRawBufferPointer
    let options: ArtifactReader.Options

    init(file: UnsafeRawBufferPointer, options: ArtifactReader.Options) {
        self.file = file
        self.options = options
    }

    /// A tensor-table entry after the structural checks (R17–R21): sizes are now trustworthy.
    struct CheckedTensor {
        var record: TensorRecord
        var shape: [Int]
        var rows: Int
        var cols: Int
        var storedValues: Int
        var sections: [(part: TensorPart, index: Int)]
    }

    func artifact() throws(FormatError) -> Artifact {
        let (major, minor, manifestLength) = try header()
        let manifest = try ManifestCoding.decode(UnsafeRawBufferPointer(rebasing: file[Layout.headerSize..<Layout.headerSize + manifestLength]),
                                                 major: major)
        try checkLayout(manifest.sections, manifestEnd: Layout.headerSize + manifestLength)

        var metadata: [String: String] = [:]
        for (key, value) in manifest.metadata {
            if metadata[key] != nil { throw .duplicateName(kind: "metadata key", name: key) }
            metadata[key] = value
        }
        let checked = try checkTensorTable(manifest)

        var tensors: [ArtifactTensor] = []
        tensors.reserveCapacity(checked.count)
        for t in checked { tensors.append(try decodeTensor(t, sections: manifest.sections)) }
        return Artifact(majorVersion: major, minorVersion: minor,
                        graph: Graph(nodes: manifest.nodes, initializers: [:], inputs: manifest.inputs, outputs: manifest.outputs),
                        metadata: metadata, producer: manifest.producer, tensors: tensors, fileBytes: file.count)
    }

    // MARK: - Header (R1–R8)

    private func header() throws(FormatError) -> (Int, Int, Int) {
        guard file.count >= Layout.headerSize else { throw .truncatedHeader(size: file.count) }
        let magic = Array(file[0..<4])
        guard magic == Layout.magic else { throw .badMagic(magic) }
        let storedHeaderSum = readLE(file, Layout.checksummedHeaderBytes, as: UInt32.self)
        let headerSum = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: file[0..<Layout.checksummedHeaderBytes]))
        if options.verifyChecksums && storedHeaderSum != headerSum {
            throw .headerChecksumMismatch(stored: storedHeaderSum, computed: headerSum)
        }
        let major = Int(readLE(file, 4, as: UInt16.self))
        let minor = Int(readLE(file, 6, as: UInt16.self))
        guard Layout.majorVersionsRead.contains(major) else { throw .unsupportedVersion(major: major, minor: minor) }
        let flags = readLE(file, 8, as: UInt32.self)
        if flags != 0 { throw .reservedBitsSet(detail: "flags are 0x\(String(flags, radix: 16)), none are defined") }
        if file[40..<60].contains(where: { $0 != 0 }) { throw .reservedBitsSet(detail: "reserved header bytes 40..<60 are not zero") }
        let declaredLength = readLE(file, 32, as: UInt64.self)
        guard declaredLength == UInt64(file.count) else { throw .fileLengthMismatch(declared: declaredLength, actual: file.count) }
        let manifestOffset = readLE(file, 16, as: UInt64.self)
        let manifestLength = readLE(file, 24, as: UInt64.self)
        guard manifestOffset == UInt64(Layout.headerSize),
              manifestLength <= UInt64(file.count - Layout.headerSize) else {
            throw .manifestOutOfBounds(offset: manifestOffset, length: manifestLength, fileLength: file.count)
        }
        let length = Int(manifestLength)
        let storedManifestSum = readLE(file, 12, as: UInt32.self)
        let manifestSum = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: file[Layout.headerSize..<Layout.headerSize + length]))
        if options.verifyChecksums && storedManifestSum != manifestSum {
            throw .manifestChecksumMismatch(stored: storedManifestSum, computed: manifestSum)
        }
        return (major, minor, length)
    }

    // MARK: - Layout (R12, R13)

    private func checkLayout(_ sections: [SectionRecord], manifestEnd: Int) throws(FormatError) {
        var end = UInt64(manifestEnd)
        let fileLength = UInt64(file.count)
        for (i, s) in sections.enumerated() {
            let expected = UInt64(align(Int(end), to: Layout.alignment))
            guard s.offset == expected else {
                throw .sectionMisplaced(section: i, detail: "starts at \(s.offset), the layout puts it at \(expected)")
            }
            guard s.offset <= fileLength, s.storedSize <= fileLength - s.offset else {
                throw .sectionMisplaced(section: i, detail: "\(s.storedSize) bytes at \(s.offset) run past the end of the \(fileLength)-byte file")
            }
            end = s.offset + s.storedSize
        }
        guard end == fileLength else { throw .trailingBytes(expectedEnd: end, fileLength: file.count) }
    }

    // MARK: - Tensor table (R16–R21)

    private static func neededParts(_ encoding: ManifestEncoding, _ valueType: WeightValueType) -> [TensorPart] {
        var parts: [TensorPart]
        switch encoding {
        case .dense: parts = [.values]
        case .csr: parts = [.rowPointers, .columnIndices, .values]
        case .bitmask: parts = [.mask, .values]
        }
        if valueType == .int8 { parts.append(.scales) }
        return parts
    }

    private func checkTensorTable(_ manifest: ManifestContents) throws(FormatError) -> [CheckedTensor] {
        var names = Set<String>()
        var owner = [String?](repeating: nil, count: manifest.sections.count)
        var checked: [CheckedTensor] = []
        var totalRaw: UInt64 = 0
        for r in manifest.tensors {
            if !names.insert(r.name).inserted { throw .duplicateName(kind: "tensor", name: r.name) }

            // R18: dimensions and sizes.
            let limit = Layout.maxElements
            guard r.shape.allSatisfy({ $0 >= 0 && $0 <= limit }) else { throw .invalidShape(name: r.name, shape: r.shape) }
            var cols: Int64 = 1
            for d in r.shape.dropFirst() {
                let (p, overflow) = cols.multipliedReportingOverflow(by: d)
                guard !overflow, p <= limit else { throw .invalidShape(name: r.name, shape: r.shape) }
                cols = p
            }
            let rows = r.shape.first ?? 1
            let (count, overflow) = rows.multipliedReportingOverflow(by: cols)
            guard !overflow, count <= limit else { throw .invalidShape(name: r.name, shape: r.shape) }

            // R21: value count and index formats.
            switch r.encoding {
            case .dense:
                guard r.storedValues == UInt64(count) else {
                    throw .invalidTensorHeader(tensor: r.name, detail: "dense tensor stores \(r.storedValues) values, its shape has \(count)")
                }
            case .csr, .bitmask:
                guard r.storedValues <= UInt64(count) else {
                    throw .invalidTensorHeader(tensor: r.name, detail: "stores \(r.storedValues) values, more than its \(count) elements")
                }
            }
            if r.encoding == .csr {
                guard let p = r.rowPointerFormat, !p.isDelta, r.columnIndexFormat != nil else {
                    throw .invalidTensorHeader(tensor: r.name, detail: "CSR needs a U8/U16/U32 row pointer format and a column index format")
                }
            } else if r.rowPointerFormat != nil || r.columnIndexFormat != nil {
                throw .invalidTensorHeader(tensor: r.name, detail: "index formats are set but the encoding is not CSR")
            }
            if r.halfScales && r.valueType != .int8 {
                throw .invalidTensorHeader(tensor: r.name, detail: "binary16 scales are set but the values are not int8")
            }
            // R16: in-memory indices are Int32.
            if (r.encoding != .dense || r.valueType == .int8) && count > Int64(Int32.max) {
                throw .limitExceeded(detail: "tensor '\(r.name)' has \(count) elements, more than this reader's 32-bit indices address")
            }

            // R19: parts present exactly as needed, each in its own existing section.
            let needed = Self.neededParts(r.encoding, r.valueType)
            for part in TensorPart.allCases where r.parts[part] != nil && !needed.contains(part) {
                throw .invalidSectionReference(tensor: r.name, detail: "has a \(part.rawValue) section its encoding does not use")
            }
            var sections: [(part: TensorPart, index: Int)] = []
            for part in needed {
                guard let index = r.parts[part] else {
                    throw .invalidSectionReference(tensor: r.name, detail: "has no \(part.rawValue) section")
                }
                let i = Int(index)
                guard i < manifest.sections.count else {
                    throw .invalidSectionReference(tensor: r.name, detail: "\(part.rawValue) names section \(i), but there are \(manifest.sections.count)")
                }
                if let other = owner[i] {
                    throw .invalidSectionReference(tensor: r.name, detail: "\(part.rawValue) section \(i) is already used by tensor '\(other)'")
                }
                owner[i] = r.name
                sections.append((part, i))

                // R20: the section holds what the encoding needs.
                let n = Int64(r.storedValues)
                let expected: Int64
                switch part {
                case .values:
                    expected = r.valueBits < 8 ? (n * Int64(r.valueBits) + 7) / 8 : n * Int64(r.halfValues ? 2 : r.valueType.byteWidth)
                case .scales: expected = rows * (r.halfScales ? 2 : 4)
                case .rowPointers: expected = (rows + 1) * Int64(r.rowPointerFormat?.byteWidth ?? 0)
                case .columnIndices: expected = n * Int64(r.columnIndexFormat?.byteWidth ?? 0)
                case .mask: expected = rows * ((cols + 7) / 8)
                }
                let actual = manifest.sections[i].rawSize
                guard actual == UInt64(expected) else {
                    throw .partSizeMismatch(tensor: r.name, part: part.rawValue, expected: UInt64(expected), actual: actual)
                }
                totalRaw += actual  // cannot overflow: each ≤ 2^51 and the running total stays ≤ the limit
                if totalRaw > UInt64(options.maxRawBytes) {
                    throw .limitExceeded(detail: "sections decode to more than this reader's limit of \(options.maxRawBytes) bytes")
                }
            }
            checked.append(CheckedTensor(record: r, shape: r.shape.map { Int($0) }, rows: Int(rows), cols: Int(cols),
                                         storedValues: Int(r.storedValues), sections: sections))
        }
        if let unused = owner.firstIndex(where: { $0 == nil }) {
            throw .invalidSectionReference(tensor: "", detail: "section \(unused) is not used by any tensor")
        }
        return checked
    }

    // MARK: - Sections (R14, R15)

    private func sectionBytes(_ index: Int, _ s: SectionRecord, tensor: String, part: TensorPart) throws(FormatError) -> [UInt8] {
        let stored = UnsafeRawBufferPointer(rebasing: file[Int(s.offset)..<Int(s.offset + s.storedSize)])
        if options.verifyChecksums && CRC32C.checksum(stored) != s.checksum {
            throw .sectionChecksumMismatch(section: index, tensor: tensor, part: part.rawValue)
        }
        switch s.codec {
        case .raw:
            guard s.storedSize == s.rawSize else {
                throw .sectionDecodeFailed(section: index, tensor: tensor,
                                           detail: "raw section stores \(s.storedSize) bytes but declares \(s.rawSize)")
            }
            return [UInt8](stored)
        case .zstd:
            switch Zstd.decompress(stored, rawSize: Int(s.rawSize)) {
            case .success(let bytes): return bytes
            case .failure(let f): throw .sectionDecodeFailed(section: index, tensor: tensor, detail: f.reason)
            }
        }
    }

    // MARK: - Tensor contents (R22–R25)

    private func decodeTensor(_ t: CheckedTensor, sections: [SectionRecord]) throws(FormatError) -> ArtifactTensor {
        let name = t.record.name
        var raw: [TensorPart: [UInt8]] = [:]
        var summaries: [SectionSummary] = []
        for (part, index) in t.sections {
            let s = sections[index]
            raw[part] = try sectionBytes(index, s, tensor: name, part: part)
            summaries.append(SectionSummary(part: part, index: index, codec: s.codec,
                                            storedBytes: Int(s.storedSize), rawBytes: Int(s.rawSize)))
        }
        summaries.sort { $0.index < $1.index }
        let int8 = t.record.valueType == .int8
        let values = raw[.values] ?? []
        let scales: [Float] = int8 ? try decodeScales(raw[.scales] ?? [], half: t.record.halfScales, tensor: name) : []
        let half = t.record.halfValues
        func floats() -> [Float] { values.withUnsafeBytes { half ? ByteCoding.halfFloats($0) : ByteCoding.floats($0) } }
        let bits = t.record.valueBits
        let int8Values: [Int8] = int8 ? try decodeInt8(values, count: t.storedValues, bits: bits, tensor: name) : []

        let storage: StoredTensor
        let encoding: WeightEncoding
        switch t.record.encoding {
        case .dense:
            encoding = .dense
            if int8 {
                let starts = (0...t.rows).map { Int32(truncatingIfNeeded: $0 * t.cols) }
                storage = .denseInt8(shape: t.shape, Int8Rows(rowStarts: starts, values: int8Values, scales: scales, bits: bits))
            } else {
                storage = .dense(Tensor(shape: t.shape, data: floats()))
            }
        case .csr:
            guard let pointerFormat = t.record.rowPointerFormat, let columnFormat = t.record.columnIndexFormat else {
                throw .invalidTensorHeader(tensor: name, detail: "CSR without index formats")
            }
            encoding = .csr(rowPointers: pointerFormat, columnIndices: columnFormat)
            let pointers = try decodeRowPointers(raw[.rowPointers] ?? [], format: pointerFormat, t)
            let columns = try decodeColumns(raw[.columnIndices] ?? [], format: columnFormat, rowPointers: pointers, t)
            if int8 {
                storage = .csrInt8(shape: t.shape, CSRMatrixInt8(
                    rows: t.rows, cols: t.cols, rowPointers: pointers, columnIndices: columns,
                    values: Int8Rows(rowStarts: pointers, values: int8Values, scales: scales, bits: bits)))
            } else {
                storage = .csr(shape: t.shape, CSRMatrix(
                    rows: t.rows, cols: t.cols, rowPointers: pointers, columnIndices: columns,
                    values: floats()))
            }
        case .bitmask:
            encoding = .bitmask
            let mask = raw[.mask] ?? []
            try checkMask(mask, t)
            if int8 {
                let starts = BitmaskMatrix.rowOffsets(mask: mask, rows: t.rows, bytesPerRow: BitmaskMatrix.bytesPerRow(cols: t.cols))
                storage = .bitmaskInt8(shape: t.shape, BitmaskMatrixInt8(
                    rows: t.rows, cols: t.cols, mask: mask, values: Int8Rows(rowStarts: starts, values: int8Values, scales: scales, bits: bits)))
            } else {
                storage = .bitmask(shape: t.shape, BitmaskMatrix(
                    rows: t.rows, cols: t.cols, mask: mask, values: floats()))
            }
        }
        return ArtifactTensor(name: name, storage: storage, encoding: encoding, sections: summaries,
                              halfValues: t.record.halfValues, halfScales: t.record.halfScales)
    }

    private func decodeScales(_ bytes: [UInt8], half: Bool, tensor: String) throws(FormatError) -> [Float] {
        let scales = bytes.withUnsafeBytes { half ? ByteCoding.halfFloats($0) : ByteCoding.floats($0) }
        if let bad = scales.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
            throw .invalidQuantization(tensor: tensor, detail: "scale of row \(bad) is \(scales[bad]); scales must be finite and ≥ 0")
        }
        return scales
    }

    private func decodeInt8(_ bytes: [UInt8], count: Int, bits: Int, tensor: String) throws(FormatError) -> [Int8] {
        let values = bytes.withUnsafeBytes { bits < 8 ? ByteCoding.unpackBits($0, count: count, bits: bits) : ByteCoding.int8s($0) }
        let largest = Int8Rows.largestStep(bits: bits)
        if let bad = values.firstIndex(where: { abs(Int($0)) > largest }) {
            throw .invalidQuantization(tensor: tensor, detail: "value \(bad) is \(values[bad]); \(bits)-bit values must be in [-\(largest), \(largest)]")
        }
        if bits < 8, count * bits % 8 != 0, let last = bytes.last, last >> UInt8(count * bits % 8) != 0 {
            throw .invalidQuantization(tensor: tensor, detail: "the packed values' last byte has bits set past value \(count - 1)")
        }
        return values
    }

    private func decodeRowPointers(_ bytes: [UInt8], format: IndexFormat, _ t: CheckedTensor) throws(FormatError) -> [Int32] {
        let width = format.byteWidth
        var pointers = [Int32](repeating: 0, count: t.rows + 1)
        try bytes.withBytes { (raw) throws(FormatError) in
            var previous = 0
            for r in 0...t.rows {
                let p = ByteCoding.entry(raw, r, width: width)
                if r == 0 && p != 0 { throw .invalidRowPointers(tensor: t.record.name, detail: "the first is \(p), not 0") }
                if p < previous { throw .invalidRowPointers(tensor: t.record.name, detail: "pointer \(r) is \(p), below \(previous)") }
                if p > t.storedValues {
                    throw .invalidRowPointers(tensor: t.record.name, detail: "pointer \(r) is \(p), past the \(t.storedValues) values")
                }
                pointers[r] = Int32(p)
                previous = p
            }
        }
        guard Int(pointers[t.rows]) == t.storedValues else {
            throw .invalidRowPointers(tensor: t.record.name, detail: "the last is \(pointers[t.rows]), not the \(t.storedValues) values")
        }
        return pointers
    }

    private func decodeColumns(_ bytes: [UInt8], format: IndexFormat, rowPointers: [Int32],
                               _ t: CheckedTensor) throws(FormatError) -> [Int32] {
        let width = format.byteWidth
        var columns = [Int32](repeating: 0, count: t.storedValues)
        try bytes.withBytes { (raw) throws(FormatError) in
            for r in 0..<t.rows {
                var previous = -1
                for k in Int(rowPointers[r])..<Int(rowPointers[r + 1]) {
                    let entry = ByteCoding.entry(raw, k, width: width)
                    let c: Int
                    if format.isDelta {
                        if k > Int(rowPointers[r]) && entry == 0 {
                            throw .invalidColumnIndices(tensor: t.record.name, detail: "row \(r) has a zero gap at entry \(k)")
                        }
                        c = max(previous, 0) + entry
                    } else {
                        c = entry
                    }
                    if c >= t.cols {
                        throw .invalidColumnIndices(tensor: t.record.name, detail: "row \(r) entry \(k) is column \(c), not below \(t.cols)")
                    }
                    if c <= previous {
                        throw .invalidColumnIndices(tensor: t.record.name, detail: "row \(r) is not strictly increasing at entry \(k)")
                    }
                    columns[k] = Int32(c)
                    previous = c
                }
            }
        }
        return columns
    }

    private func checkMask(_ mask: [UInt8], _ t: CheckedTensor) throws(FormatError) {
        let stride = BitmaskMatrix.bytesPerRow(cols: t.cols)
        let spare = stride * 8 - t.cols
        let padding: UInt8 = spare == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - spare))
        var bits = 0
        for r in 0..<t.rows where stride > 0 {
            for b in 0..<stride { bits += mask[r * stride + b].nonzeroBitCount }
            if mask[r * stride + stride - 1] & padding != 0 {
                throw .invalidMask(tensor: t.record.name, detail: "row \(r) sets padding bits past column \(t.cols)")
            }
        }
        guard bits == t.storedValues else {
            throw .invalidMask(tensor: t.record.name, detail: "\(bits) bits are set for \(t.storedValues) values")
        }
    }
}
