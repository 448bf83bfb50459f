// Test helper: a tiny protobuf writer and ONNX message builders, so tests can hand-craft the
// files PyTorch and tf2onnx produce (old opset forms, external data, broken sizes) without
// going through the exporter under test. Field numbers follow the ONNX specification.

/// A protobuf message under construction (wire format only, no schema).
struct ProtoMessage {
    var bytes: [UInt8] = []

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func key(_ field: Int, _ wireType: Int) { varint(UInt64(field << 3 | wireType)) }

    mutating func int(_ field: Int, _ value: Int) {
        key(field, 0)
        varint(UInt64(bitPattern: Int64(value)))
    }

    mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }

    mutating func data(_ field: Int, _ value: [UInt8]) {
        key(field, 2)
        varint(UInt64(value.count))
        bytes += value
    }

    mutating func string(_ field: Int, _ value: String) { data(field, Array(value.utf8)) }

    mutating func message(_ field: Int, _ value: ProtoMessage) { data(field, value.bytes) }

    mutating func packedInts(_ field: Int, _ values: [Int]) {
        var inner = ProtoMessage()
        for v in values { inner.varint(UInt64(bitPattern: Int64(v))) }
        data(field, inner.bytes)
    }

    mutating func packedFloats(_ field: Int, _ values: [Float]) {
        var raw: [UInt8] = []
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw += $0 } }
        data(field, raw)
    }
}

/// Little-endian bytes of floats / int64s / int32s, as ONNX raw_data stores them.
func rawBytes(floats: [Float]) -> [UInt8] {
    var out: [UInt8] = []
    for v in floats { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
    return out
}

func rawBytes(int64s: [Int]) -> [UInt8] {
    var out: [UInt8] = []
    for v in int64s { withUnsafeBytes(of: Int64(v).littleEndian) { out += $0 } }
    return out
}

func rawBytes(int32s: [Int]) -> [UInt8] {
    var out: [UInt8] = []
    for v in int32s { withUnsafeBytes(of: Int32(v).littleEndian) { out += $0 } }
    return out
}

/// ONNX message builders over `ProtoMessage`.
enum OnnxProto {
    static let float = 1, int32 = 6, int64 = 7

    static func tensor(_ name: String, dims: [Int], type: Int, raw: [UInt8]? = nil,
                       floatData: [Float]? = nil, int64Data: [Int]? = nil, int32Data: [Int]? = nil,
                       external: [(String, String)]? = nil) -> ProtoMessage {
        var t = ProtoMessage()
        for d in dims { t.int(1, d) }
        t.int(2, type)
        if let floatData { t.packedFloats(4, floatData) }
        if let int32Data { t.packedInts(5, int32Data) }
        if let int64Data { t.packedInts(7, int64Data) }
        t.string(8, name)
        if let raw { t.data(9, raw) }
        if let external {
            for (k, v) in external {
                var e = ProtoMessage()
                e.string(1, k)
                e.string(2, v)
                t.message(13, e)
            }
            t.int(14, 1)
        }
        return t
    }

    static func floats(_ name: String, _ dims: [Int], _ values: [Float]) -> ProtoMessage {
        tensor(name, dims: dims, type: float, raw: rawBytes(floats: values))
    }

    static func int64s(_ name: String, _ dims: [Int], _ values: [Int]) -> ProtoMessage {
        tensor(name, dims: dims, type: int64, raw: rawBytes(int64s: values))
    }

    enum Attribute {
        case int(String, Int)
        case ints(String, [Int])
        case float(String, Float)
        case string(String, String)
        case tensor(String, ProtoMessage)
    }

    static func attribute(_ a: Attribute) -> ProtoMessage {
        var m = ProtoMessage()
        switch a {
        case .int(let name, let v):
            m.string(1, name); m.int(3, v); m.int(20, 2)
        case .ints(let name, let vs):
            m.string(1, name); for v in vs { m.int(8, v) }; m.int(20, 7)
        case .float(let name, let v):
            m.string(1, name); m.float(2, v); m.int(20, 1)
        case .string(let name, let v):
            m.string(1, name); m.string(4, v); m.int(20, 3)
        case .tensor(let name, let t):
            m.string(1, name); m.message(5, t); m.int(20, 4)
        }
        return m
    }

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String? = nil,
                     _ attributes: [Attribute] = [], domain: String? = nil) -> ProtoMessage {
        var n = ProtoMessage()
        for i in inputs { n.string(1, i) }
        for o in outputs { n.string(2, o) }
        if let name { n.string(3, name) }
        n.string(4, op)
        for a in attributes { n.message(5, attribute(a)) }
        if let domain { n.string(7, domain) }
        return n
    }

    /// A value info; nil dims are written as dim_param "N", `.some(nil)` rank omits the shape.
    static func valueInfo(_ name: String, _ dims: [Int?]?, elemType: Int = float) -> ProtoMessage {
        var tensorType = ProtoMessage()
        tensorType.int(1, elemType)
        if let dims {
            var shape = ProtoMessage()
            for d in dims {
                var dim = ProtoMessage()
                if let d { dim.int(1, d) } else { dim.string(2, "N") }
                shape.message(1, dim)
            }
            tensorType.message(2, shape)
        }
        var type = ProtoMessage()
        type.message(1, tensorType)
        var v = ProtoMessage()
        v.string(1, name)
        v.message(2, type)
        return v
    }

    static func graph(nodes: [ProtoMessage], initializers: [ProtoMessage] = [], inputs: [ProtoMessage],
                      outputs: [ProtoMessage]) -> ProtoMessage {
        var g = ProtoMessage()
        for n in nodes { g.message(1, n) }
        g.string(2, "test")
        for i in initializers { g.message(5, i) }
        for i in inputs { g.message(11, i) }
        for o in outputs { g.message(12, o) }
        return g
    }

    static func model(_ graph: ProtoMessage?, opset: Int? = 17, producer: String = "test") -> [UInt8] {
        var m = ProtoMessage()
        m.int(1, 8)
        m.string(2, producer)
        if let graph { m.message(7, graph) }
        if let opset {
            var o = ProtoMessage()
            o.string(1, "")
            o.int(2, opset)
            m.message(8, o)
        }
        return m.bytes
    }
}

/// SplitMix64: a tiny seeded generator so test weights are reproducible.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    mutating func nextFloat() -> Float {
        Float(next() >> 40) / Float(1 << 24) * 2 - 1
    }
}
