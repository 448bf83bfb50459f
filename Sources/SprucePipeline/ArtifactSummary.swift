// What `spruce inspect MODEL.spruce` reports: per tensor its reader, shape, encoding, value type,
// non-zeros and the bytes of each part (raw and stored), plus totals against dense float32.
// One value feeds both the text table and the JSON. It reads the stored form; it never runs the model.
import SpruceCore
import SpruceFormat

/// Storage facts of a `.spruce` artifact.
public struct ArtifactSummary: Sendable, Equatable, Encodable {
    /// One tensor of the artifact.
    public struct TensorRow: Sendable, Equatable, Encodable {
        public var name: String
        /// Op type of the first node reading the tensor ("" when none does).
        public var `operator`: String
        /// Name of that node.
        public var node: String
        public var shape: [Int]
        /// `dense`, `csr` or `bitmask`.
        public var encoding: String
        /// CSR index formats, e.g. `u16/δu8` (row pointers / column indices); empty otherwise.
        public var indexFormats: String
        /// `f32`, `f16`, `int8` or `int8/f16` (int8 values with binary16 scales).
        public var valueType: String
        /// Whether it is a conv or Gemm weight (counted in the top-level sparsity).
        public var isWeight: Bool
        public var elements: Int
        /// Elements that are not exactly zero after decoding (int8 values that round to 0 count as zero).
        public var nonzeros: Int
        /// `1 - nonzeros / elements`.
        public var sparsity: Double
        /// Raw bytes of the values part.
        public var valueBytes: Int
        /// Raw bytes of row pointers + column indices (CSR) or of the mask (bitmask).
        public var indexBytes: Int
        /// Raw bytes of the int8 scales.
        public var scaleBytes: Int
        public var valueBytesStored: Int
        public var indexBytesStored: Int
        public var scaleBytesStored: Int
        /// Bytes in the file (all parts, as stored).
        public var storedBytes: Int
        /// `8 · storedBytes / nonzeros` (0 when nothing is non-zero).
        public var bitsPerNonzero: Double
        /// Values the tensor stores (every element when dense).
        public var storedValues: Int
        /// `8 · valueBytesStored / storedValues`: what one value costs after zstd.
        public var bitsPerValue: Double
        /// `8 · indexBytesStored / storedValues`: what naming one stored value's position costs (0 when dense).
        public var bitsPerPosition: Double

        enum CodingKeys: String, CodingKey {
            case name, `operator`, node, shape, encoding, valueType = "value_type", indexFormats = "index_formats"
            case isWeight = "is_weight", elements, nonzeros, sparsity
            case valueBytes = "value_bytes", indexBytes = "index_bytes", scaleBytes = "scale_bytes"
            case valueBytesStored = "value_bytes_stored", indexBytesStored = "index_bytes_stored"
            case scaleBytesStored = "scale_bytes_stored", storedBytes = "stored_bytes", bitsPerNonzero = "bits_per_nonzero"
            case storedValues = "stored_values", bitsPerValue = "bits_per_value", bitsPerPosition = "bits_per_position"
        }
    }

    /// Format version, e.g. `1.0`.
    public var formatVersion: String
    public var producer: String
    public var metadata: [String: String]
    public var inputs: [ModelSummary.Value]
    public var outputs: [ModelSummary.Value]
    public var nodes: Int
    /// Fraction of zeros over all conv and Gemm weights.
    public var sparsity: Double
    /// Conv and Gemm weight elements.
    public var weightElements: Int
    /// All tensor elements.
    public var elements: Int
    /// Size of the artifact file.
    public var bytes: Int
    /// Bytes of every tensor as dense float32 (the graph itself not counted).
    public var denseBytes: Int
    /// `denseBytes / bytes`.
    public var ratio: Double
    /// Sums over all tensors, raw.
    public var valueBytes: Int
    public var indexBytes: Int
    public var scaleBytes: Int
    /// Bytes of all tensor sections as stored.
    public var storedBytes: Int
    /// Tensors in manifest order (sorted by name).
    public var tensors: [TensorRow]

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", producer, metadata, inputs, outputs, nodes, sparsity
        case weightElements = "weight_elements", elements, bytes, denseBytes = "dense_bytes", ratio
        case valueBytes = "value_bytes", indexBytes = "index_bytes", scaleBytes = "scale_bytes"
        case storedBytes = "stored_bytes", tensors
    }

    /// Summarises `artifact`.
    public init(artifact: Artifact) {
        let graph = artifact.graph
        var readers: [String: Node] = [:]
        var weights = Set<String>()
        for node in graph.nodes {
            for name in node.inputs where readers[name] == nil { readers[name] = node }
            switch node.op {
            case .conv, .gemm:
                if node.inputs.count > 1, let t = artifact.tensor(named: node.inputs[1]), t.storage.shape.count >= 2 {
                    weights.insert(node.inputs[1])
                }
            case .matMul:
                // A Linear layer (Graph.isLinearMatMul): run-time input times a constant 2-D weight.
                if node.inputs.count == 2, artifact.tensor(named: node.inputs[0]) == nil,
                   let t = artifact.tensor(named: node.inputs[1]), t.storage.shape.count == 2 {
                    weights.insert(node.inputs[1])
                }
            default: break
            }
        }
        formatVersion = "\(artifact.majorVersion).\(artifact.minorVersion)"
        producer = artifact.producer
        metadata = artifact.metadata
        inputs = graph.inputs.map { ModelSummary.Value(name: $0.name, shape: $0.shape) }
        outputs = graph.outputs.map { ModelSummary.Value(name: $0.name, shape: $0.shape) }
        nodes = graph.nodes.count
        tensors = artifact.tensors.map { t in
            let elements = t.storage.shape.reduce(1, *)
            let nonzeros = Self.nonzeros(t.storage)
            func stored(_ parts: [TensorPart]) -> Int {
                t.sections.filter { parts.contains($0.part) }.reduce(0) { $0 + $1.storedBytes }
            }
            let indexParts: [TensorPart] = [.rowPointers, .columnIndices, .mask]
            let reader = readers[t.name]
            let storedValues = t.storage.storedValues
            func bits(_ bytes: Int) -> Double { storedValues == 0 ? 0 : 8 * Double(bytes) / Double(storedValues) }
            return TensorRow(
                name: t.name, operator: reader?.op.onnxName ?? "", node: reader?.name ?? "", shape: t.storage.shape,
                encoding: Self.name(of: t.encoding), indexFormats: Self.indexFormats(of: t.encoding),
                valueType: t.storedType, isWeight: weights.contains(t.name),
                elements: elements, nonzeros: nonzeros,
                sparsity: elements == 0 ? 0 : 1 - Double(nonzeros) / Double(elements),
                valueBytes: t.rawBytes(of: .values), indexBytes: indexParts.reduce(0) { $0 + t.rawBytes(of: $1) },
                scaleBytes: t.rawBytes(of: .scales), valueBytesStored: stored([.values]),
                indexBytesStored: stored(indexParts), scaleBytesStored: stored([.scales]),
                storedBytes: t.storedBytes,
                bitsPerNonzero: nonzeros == 0 ? 0 : 8 * Double(t.storedBytes) / Double(nonzeros),
                storedValues: storedValues, bitsPerValue: bits(stored([.values])), bitsPerPosition: bits(stored(indexParts)))
        }
        let weightRows = tensors.filter(\.isWeight)
        weightElements = weightRows.reduce(0) { $0 + $1.elements }
        let weightNonzeros = weightRows.reduce(0) { $0 + $1.nonzeros }
        sparsity = weightElements == 0 ? 0 : 1 - Double(weightNonzeros) / Double(weightElements)
        elements = tensors.reduce(0) { $0 + $1.elements }
        bytes = artifact.fileBytes
        denseBytes = 4 * elements
        ratio = bytes == 0 ? 0 : Double(denseBytes) / Double(bytes)
        valueBytes = tensors.reduce(0) { $0 + $1.valueBytes }
        indexBytes = tensors.reduce(0) { $0 + $1.indexBytes }
        scaleBytes = tensors.reduce(0) { $0 + $1.scaleBytes }
        storedBytes = tensors.reduce(0) { $0 + $1.storedBytes }
    }

    /// `dense`, `csr` or `bitmask`.
    static func name(of encoding: WeightEncoding) -> String {
        switch encoding {
        case .dense: "dense"
        case .csr: "csr"
        case .bitmask: "bitmask"
        }
    }

    /// `u16/δu8` for CSR, empty otherwise.
    static func indexFormats(of encoding: WeightEncoding) -> String {
        guard case .csr(let p, let c) = encoding else { return "" }
        func n(_ f: IndexFormat) -> String { (f.isDelta ? "δu" : "u") + "\(8 * f.byteWidth)" }
        return "\(n(p))/\(n(c))"
    }

    /// Elements that decode to a non-zero value, counted on the stored form.
    static func nonzeros(_ s: StoredTensor) -> Int {
        func count(_ v: [Float]) -> Int { v.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }
        func count(_ q: Int8Rows) -> Int {
            // A value whose row scale is 0 decodes to 0 whatever q is (the writer stores q = 0 then).
            var n = 0
            for r in 0..<q.rows where q.scales[r] != 0 {
                let start = Int(q.rowStarts[r]), end = r + 1 < q.rowStarts.count ? Int(q.rowStarts[r + 1]) : q.values.count
                for i in start..<min(end, q.values.count) where q.values[i] != 0 { n += 1 }
            }
            return n
        }
        switch s {
        case .dense(let t): return count(t.data)
        case .denseInt8(_, let q): return count(q)
        case .csr(_, let m): return count(m.values)
        case .csrInt8(_, let m): return count(m.values)
        case .bitmask(_, let m): return count(m.values)
        case .bitmaskInt8(_, let m): return count(m.values)
        }
    }
}
