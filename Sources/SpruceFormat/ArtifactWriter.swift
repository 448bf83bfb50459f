// Model → .spruce bytes: encodes each conv/Gemm weight in the encoding with the fewest stored bytes
// (optionally int8, or 2–7-bit values packed), or as an EncodingPlan decided earlier says; stores
// other tensors dense (binary16 in int8 artifacts where exact, biases rounded to it), zstd-compresses
// each section when that helps, and lays out header (1.1, or 2.0 when a binary16 or packed part is
// used), manifest and 64-byte aligned sections with their CRC-32C checksums.
// It does not lower or prune the graph: stages before it do.

import SpruceCore

/// Writes models as `.spruce` artifacts.
///
/// ```swift
/// try ArtifactWriter(int8: true).write(model, to: "model.spruce")
/// ```
public struct ArtifactWriter: Sendable {
    /// Quantize conv and Gemm weights to int8 (symmetric, one scale per row), except the first
    /// conv's (see `float32Weights`).
    public var int8: Bool
    /// zstd compression level (1 fastest … 19 smallest).
    public var zstdLevel: Int
    /// Choose CSR or bitmask for weights when smaller; `false` stores every tensor dense.
    public var chooseEncodings: Bool
    /// With `int8`, quantize the first conv too (by default it stays float32, see `float32Weights`).
    public var quantizeFirstConv: Bool
    /// With `int8`, store in binary16 (format 2.0) the int8 row scales and every float tensor
    /// whose values are all binary16 values, after rounding the biases of conv and Gemm layers to
    /// the nearest binary16 value (a relative change of at most 2^-11, far below the weights' int8
    /// rounding; docs/RESULTS.md measures it). A float32 artifact is written as before (1.1).
    public var halfPrecision = true
    /// With `int8`, bits per quantized weight value: 8 (int8), or 2…7, packed (format 2.0).
    public var valueBits = 8
    /// With `int8`, widths for named weights in place of `valueBits` (mixed precision; 8 is int8).
    public var valueBitsByTensor: [String: Int] = [:]
    /// Whether this write stores binary16 parts (`halfPrecision` with int8 weights).
    private var halfParts = false

    /// A writer with the given options.
    public init(int8: Bool = false, zstdLevel: Int = 6, chooseEncodings: Bool = true, quantizeFirstConv: Bool = false) {
        self.int8 = int8
        self.zstdLevel = zstdLevel
        self.chooseEncodings = chooseEncodings
        self.quantizeFirstConv = quantizeFirstConv
    }

    /// Names of the initializers that are conv or Gemm weights (input 1, rank ≥ 2), or the [K, N]
    /// weight of a MatMul Linear layer (`Graph.prunableLayers`).
    public static func weightNames(in graph: Graph) -> Set<String> {
        Set(graph.prunableLayers().map(\.tensor))
    }

    /// The weights kept float32 under `int8`: the first conv's, the layer that reads the image. Its
    /// few inputs per output (3 channels × k×k) are smooth, same-signed pixels, so its rounding
    /// errors add up instead of averaging out; on the bundled trained MobileNet v2 it caused 99 %
    /// of the int8 output change, for about 2.6 KB of float32 at width 1.0.
    public static func float32Weights(in graph: Graph) -> Set<String> {
        Set(graph.prunableLayers().filter { $0.roles.contains(.firstConv) }.map(\.tensor))
    }

    /// The weights an int8 (or narrower) write quantizes by default: `weightNames` but `float32Weights`.
    public static func quantizedWeights(in graph: Graph) -> Set<String> {
        weightNames(in: graph).subtracting(float32Weights(in: graph))
    }

    /// Names of the bias initializers (input 2) of the conv and Gemm layers whose weights are
    /// `weightNames`.
    public static func biasNames(in graph: Graph) -> Set<String> {
        let nodes = Set(graph.prunableLayers().map(\.node))
        return Set(graph.nodes.filter { nodes.contains($0.name) && $0.inputs.count > 2 && !$0.inputs[2].isEmpty }
            .map { $0.inputs[2] }).filter { graph.initializers[$0] != nil }
    }

    /// `values` rounded to the nearest binary16 values, or as they are when one is not finite or
    /// beyond binary16's range.
    static func roundedToHalf(_ values: [Float]) -> [Float] {
        guard values.allSatisfy({ $0.isFinite && abs($0) <= Float(Float16.greatestFiniteMagnitude) }) else { return values }
        return values.map { Float(Float16($0)) }
    }

    /// Writes `model` to `path` atomically: the destination is replaced only when the whole file is on disk.
    public func write(_ model: Model, to path: String) throws(FormatError) {
        let bytes = try encode(model)
        try FileIO.writeAtomically(bytes, to: path)
    }

    /// The artifact bytes of `model`, each conv/Gemm weight in the encoding with the fewest stored bytes.
    public func encode(_ model: Model) throws(FormatError) -> [UInt8] {
        try encode(model, plan: nil)
    }

    /// The artifact bytes of `model` with every conv/Gemm weight stored as `plan` says (nothing is
    /// chosen again); the sections are compressed at the plan's zstd level.
    public func encode(_ model: Model, plan: EncodingPlan) throws(FormatError) -> [UInt8] {
        var writer = self
        writer.zstdLevel = plan.zstdLevel
        return try writer.encode(model, plan: Optional(plan))
    }

    /// How this writer stores each conv/Gemm weight of `graph`: the encoding with the fewest stored
    /// bytes, int8 values unless `int8` is off or the weight stays float32 (`float32Weights`).
    public func plan(for graph: Graph) throws(FormatError) -> EncodingPlan {
        var plan = EncodingPlan(zstdLevel: zstdLevel)
        let float32 = int8 && !quantizeFirstConv ? Self.float32Weights(in: graph) : []
        for name in Self.weightNames(in: graph).sorted() {
            guard let tensor = graph.initializers[name] else { continue }
            let quantize = int8 && !float32.contains(name)
            let bits = valueBitsByTensor[name] ?? valueBits
            let (record, _) = try storeTensor(name: name, tensor: tensor, isWeight: true, quantize: quantize, bits: bits,
                                              planned: nil)
            let encoding: WeightEncoding
            switch record.encoding {
            case .dense: encoding = .dense
            case .bitmask: encoding = .bitmask
            case .csr:
                guard let p = record.rowPointerFormat, let c = record.columnIndexFormat else { encoding = .dense; break }
                encoding = .csr(rowPointers: p, columnIndices: c)
            }
            plan.weights[name] = TensorStorage(encoding: encoding, valueType: record.valueType, valueBits: quantize ? bits : 8)
        }
        return plan
    }

    private func encode(_ model: Model, plan: EncodingPlan?) throws(FormatError) -> [UInt8] {
        let weights = Self.weightNames(in: model.graph)
        let float32 = int8 && !quantizeFirstConv ? Self.float32Weights(in: model.graph) : []
        var manifest = ManifestContents()
        manifest.producer = model.producer
        manifest.metadata = model.metadata.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        manifest.nodes = model.graph.nodes
        manifest.inputs = model.graph.inputs
        manifest.outputs = model.graph.outputs

        var writer = self
        writer.halfParts = halfPrecision && (plan.map(\.hasInt8) ?? int8)
        let biases = writer.halfParts ? Self.biasNames(in: model.graph).subtracting(weights) : []
        var payloads: [[UInt8]] = []
        for name in model.graph.initializers.keys.sorted() {
            guard var tensor = model.graph.initializers[name] else { continue }
            if biases.contains(name) { tensor.data = Self.roundedToHalf(tensor.data) }
            let isWeight = weights.contains(name)
            var planned: TensorStorage?
            if let plan, isWeight {
                guard let storage = plan.weights[name] else { throw .cannotEncode(name: name, detail: "the encoding plan has no entry for this weight") }
                planned = storage
            }
            let (entry, parts) = try writer.storeTensor(name: name, tensor: tensor, isWeight: isWeight,
                                                 quantize: planned.map { $0.valueType == .int8 } ?? (int8 && !float32.contains(name)),
                                                 bits: planned?.valueBits ?? valueBitsByTensor[name] ?? valueBits, planned: planned?.encoding)
            var record = entry
            for part in parts {
                record.parts[part.part] = UInt32(manifest.sections.count)
                // A non-zero placeholder: proto3 omits zero fields, which would shorten the draft.
                manifest.sections.append(SectionRecord(offset: UInt64(Layout.headerSize), storedSize: UInt64(part.stored.count),
                                                       rawSize: UInt64(part.rawSize), codec: part.codec,
                                                       checksum: CRC32C.checksum(part.stored)))
                payloads.append(part.stored)
            }
            manifest.tensors.append(record)
        }

        // Offsets are fixed64 (and never 0), so the manifest's length does not depend on their values.
        let draftLength = try ManifestCoding.encode(manifest).count
        var end = Layout.headerSize + draftLength
        for i in manifest.sections.indices {
            let offset = align(end, to: Layout.alignment)
            manifest.sections[i].offset = UInt64(offset)
            end = offset + payloads[i].count
        }
        let manifestBytes = try ManifestCoding.encode(manifest)
        guard manifestBytes.count == draftLength else {
            throw .cannotEncode(name: "manifest", detail: "manifest length changed while placing sections")
        }

        var header = ByteWriter()
        header.bytes = Layout.magic
        let version = manifest.tensors.contains { $0.halfValues || $0.halfScales || $0.valueBits < 8 } ? Layout.version2 : Layout.version1
        header.append(version.major)
        header.append(version.minor)
        header.append(UInt32(0))  // flags
        header.append(CRC32C.checksum(manifestBytes))
        header.append(UInt64(Layout.headerSize))
        header.append(UInt64(manifestBytes.count))
        header.append(UInt64(end))
        header.bytes.append(contentsOf: repeatElement(0, count: Layout.checksummedHeaderBytes - header.bytes.count))
        header.append(CRC32C.checksum(header.bytes))

        var out = ByteWriter()
        out.bytes.reserveCapacity(end)
        out.bytes.append(contentsOf: header.bytes)
        out.bytes.append(contentsOf: manifestBytes)
        for payload in payloads {
            out.pad(toMultipleOf: Layout.alignment)
            out.bytes.append(contentsOf: payload)
        }
        return out.bytes
    }

    /// One part of a tensor as it goes into its section.
    private struct StoredPart {
        var part: TensorPart
        var rawSize: Int
        var stored: [UInt8]
        var codec: SectionCodec
    }

    /// A part's bytes zstd-compressed when that makes them smaller, raw otherwise.
    private func store(_ part: TensorPart, _ raw: [UInt8]) -> StoredPart {
        if !raw.isEmpty, let z = Zstd.compress(raw, level: zstdLevel), z.count < raw.count {
            return StoredPart(part: part, rawSize: raw.count, stored: z, codec: .zstd)
        }
        return StoredPart(part: part, rawSize: raw.count, stored: raw, codec: .raw)
    }

    /// The tensor-table entry (without section indices) and its stored parts in section order. A
    /// weight is stored as `planned` says or, without a plan, tried in every encoding on the
    /// shortlist and kept in the one with the fewest stored bytes (sections counted at their 64-byte
    /// aligned length); ties go to the earlier one.
    private func storeTensor(name: String, tensor: Tensor, isWeight: Bool, quantize: Bool, bits: Int, planned: WeightEncoding?)
        throws(FormatError) -> (TensorRecord, [StoredPart]) {
        let rows = tensor.shape.first ?? 1
        let cols = tensor.shape.count > 1 ? tensor.shape.dropFirst().reduce(1, *) : 1
        let candidates: [WeightEncoding]
        if let planned {
            candidates = [planned]
        } else if isWeight && chooseEncodings && tensor.count <= Int(Int32.max) && tensor.count == rows * cols {
            candidates = WeightEncoding.candidates(for: tensor.data, rows: rows, cols: cols,
                                                   valueType: quantize ? .int8 : .f32).map(\.encoding)
        } else {
            candidates = [.dense]
        }
        var best: (record: TensorRecord, parts: [StoredPart], bytes: Int)?
        for encoding in candidates {
            let (record, raw) = try encodeTensor(name: name, tensor: tensor, isWeight: isWeight, quantize: quantize,
                                                 bits: bits, encoding: encoding)
            let parts = raw.map { store($0.0, $0.1) }
            let bytes = parts.reduce(0) { $0 + align($1.stored.count, to: Layout.alignment) }
            if best == nil || bytes < best?.bytes ?? 0 { best = (record, parts, bytes) }
        }
        guard let best else { throw .cannotEncode(name: name, detail: "no encoding applies") }
        return (best.record, best.parts)
    }

    /// The tensor-table entry (without section indices) and raw part bytes, in section order.
    private func encodeTensor(name: String, tensor: Tensor, isWeight: Bool, quantize: Bool, bits: Int, encoding chosen: WeightEncoding)
        throws(FormatError) -> (TensorRecord, [(TensorPart, [UInt8])]) {
        if name.isEmpty { throw .cannotEncode(name: name, detail: "tensor names must not be empty") }
        let rows = tensor.shape.first ?? 1
        let cols = tensor.shape.count > 1 ? tensor.shape.dropFirst().reduce(1, *) : 1
        if Int64(tensor.count) > Layout.maxElements || Int64(cols) > Layout.maxElements {
            throw .cannotEncode(name: name, detail: "\(tensor.count) elements exceed the format's 2^48 limit")
        }
        var record = TensorRecord(name: name, shape: tensor.shape.map { Int64($0) }, encoding: .dense, valueType: .f32,
                                  storedValues: UInt64(tensor.count), rowPointerFormat: nil, columnIndexFormat: nil,
                                  parts: [:])
        // Float values and scales that are all exactly binary16 values are stored as binary16.
        func floatValues(_ v: [Float]) -> [UInt8] {
            guard halfParts, let half = ByteCoding.halfBytes(of: v) else { return ByteCoding.bytes(of: v) }
            record.halfValues = true
            return half
        }
        func scales(_ v: [Float]) -> [UInt8] {
            guard halfParts, let half = ByteCoding.halfBytes(of: v) else { return ByteCoding.bytes(of: v) }
            record.halfScales = true
            return half
        }
        func quantized(_ q: Int8Rows) -> [(TensorPart, [UInt8])] {
            record.valueBits = q.bits
            let values = q.bits < 8 ? Int8Rows.packBits(q.values, bits: q.bits) : ByteCoding.bytes(of: q.values)
            return [(.values, values), (.scales, scales(q.scales))]
        }
        guard isWeight else {
            let values = floatValues(tensor.data)
            return (record, [(.values, values)])
        }
        guard !quantize || Int8Rows.bitWidths.contains(bits) else {
            throw .cannotEncode(name: name, detail: "values of \(bits) bits; 2 to 8 can be stored")
        }

        let valueType: WeightValueType = quantize ? .int8 : .f32
        if quantize, tensor.data.contains(where: { !$0.isFinite }) {
            throw .cannotEncode(name: name, detail: "int8 quantization needs finite weights")
        }
        // In-memory indices are Int32 (rows * cols for dense int8 row starts, cols and counts for sparse).
        let fitsInt32 = tensor.count <= Int(Int32.max)
        let encoding = fitsInt32 ? chosen : .dense
        if valueType == .int8 && !fitsInt32 {
            throw .cannotEncode(name: name, detail: "int8 tensors need fewer than 2^31 elements")
        }
        record.valueType = valueType
        var parts: [(TensorPart, [UInt8])] = []
        switch encoding {
        case .dense:
            if valueType == .f32 {
                parts.append((.values, floatValues(tensor.data)))
            } else {
                parts += quantized(Int8Rows(quantizingDense: tensor.data, rows: rows, cols: cols, bits: bits))
            }
        case .csr(let pointerFormat, let columnFormat):
            let m = CSRMatrix(dense: tensor.data, rows: rows, cols: cols)
            record.encoding = .csr
            record.storedValues = UInt64(m.storedCount)
            record.rowPointerFormat = pointerFormat
            record.columnIndexFormat = columnFormat
            parts.append((.rowPointers, ByteCoding.pack(m.rowPointers, width: pointerFormat.byteWidth)))
            let columns = columnFormat.isDelta ? Self.deltas(of: m) : m.columnIndices
            parts.append((.columnIndices, ByteCoding.pack(columns, width: columnFormat.byteWidth)))
            if valueType == .f32 {
                parts.append((.values, floatValues(m.values)))
            } else {
                parts += quantized(Int8Rows(quantizing: m.values, rowStarts: m.rowPointers, bits: bits))
            }
        case .bitmask:
            let m = BitmaskMatrix(dense: tensor.data, rows: rows, cols: cols)
            record.encoding = .bitmask
            record.storedValues = UInt64(m.storedCount)
            parts.append((.mask, m.mask))
            if valueType == .f32 {
                parts.append((.values, floatValues(m.values)))
            } else {
                parts += quantized(Int8Rows(quantizing: m.values, rowStarts: m.rowOffsets, bits: bits))
            }
        }
        return (record, parts)
    }

    /// Column indices as per-row differences (a row's first entry is its column).
    static func deltas(of m: CSRMatrix) -> [Int32] {
        var out = m.columnIndices
        for r in 0..<m.rows {
            let start = Int(m.rowPointers[r])
            let end = Int(m.rowPointers[r + 1])
            var k = end - 1
            while k > start {
                out[k] = m.columnIndices[k] - m.columnIndices[k - 1]
                k -= 1
            }
        }
        return out
    }
}
