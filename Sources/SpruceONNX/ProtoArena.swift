// Building protobuf-c ONNX messages from Swift: every C allocation (messages, strings, arrays,
// tensor bytes) is owned by one arena and freed together once the model has been packed.
// It only builds the messages the exporter writes; it is not a general protobuf writer.
import CSpruceProto
import _SpruceSupport

/// Owner of the C memory behind one ModelProto under construction.
final class ProtoArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit {
        for block in blocks { free(block) }
    }

    /// Zeroed C memory for `count` values of `T`.
    func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let bytes = max(count, 1) * MemoryLayout<T>.stride
        guard let raw = calloc(1, bytes) else { fatalError("out of memory allocating \(bytes) bytes for an ONNX message") }
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    /// A NUL-terminated copy of `text`.
    func string(_ text: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(text.utf8)
        let p = allocate(CChar.self, count: utf8.count + 1)
        for (i, byte) in utf8.enumerated() { p[i] = CChar(bitPattern: byte) }
        p[utf8.count] = 0
        return p
    }

    /// A C array copy of `values` (nil when empty, as protobuf-c expects).
    func array<T>(_ values: [T]) -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let p = allocate(T.self, count: values.count)
        p.initialize(from: values, count: values.count)
        return p
    }

    /// An array of message pointers.
    func pointers<T>(_ values: [UnsafeMutablePointer<T>]) -> UnsafeMutablePointer<UnsafeMutablePointer<T>?>? {
        guard !values.isEmpty else { return nil }
        let p = allocate(UnsafeMutablePointer<T>?.self, count: values.count)
        for (i, value) in values.enumerated() { p[i] = value }
        return p
    }

    /// Bytes as a protobuf-c `bytes` value.
    func bytes(_ raw: UnsafeRawBufferPointer) -> ProtobufCBinaryData {
        guard raw.count > 0, let source = raw.baseAddress else { return ProtobufCBinaryData(len: 0, data: nil) }
        let p = allocate(UInt8.self, count: raw.count)
        UnsafeMutableRawPointer(p).copyMemory(from: source, byteCount: raw.count)
        return ProtobufCBinaryData(len: raw.count, data: p)
    }

    /// A new message initialized by its protobuf-c `__init` function.
    func message<T>(_ initialize: (UnsafeMutablePointer<T>) -> Void) -> UnsafeMutablePointer<T> {
        let p = allocate(T.self, count: 1)
        initialize(p)
        return p
    }

    // MARK: - ONNX message helpers

    /// A key/value entry.
    func entry(_ key: String, _ value: String) -> UnsafeMutablePointer<Onnx__StringStringEntryProto> {
        let e = message(onnx__string_string_entry_proto__init)
        e.pointee.key = string(key)
        e.pointee.value = string(value)
        return e
    }

    /// A float tensor with little-endian `raw_data`.
    func floatTensor(name: String, shape: [Int], data: [Float]) -> UnsafeMutablePointer<Onnx__TensorProto> {
        let t = message(onnx__tensor_proto__init)
        t.pointee.name = string(name)
        t.pointee.n_dims = shape.count
        t.pointee.dims = array(shape.map { Int64($0) })
        t.pointee.has_data_type = 1
        t.pointee.data_type = ONNXDataType.float.rawValue
        t.pointee.has_raw_data = 1
        #if _endian(little)
        t.pointee.raw_data = data.withUnsafeBytes { bytes($0) }
        #else
        let swapped = data.map { $0.bitPattern.littleEndian }
        t.pointee.raw_data = swapped.withUnsafeBytes { bytes($0) }
        #endif
        return t
    }

    /// An int64 tensor with little-endian `raw_data`.
    func int64Tensor(name: String, shape: [Int], values: [Int]) -> UnsafeMutablePointer<Onnx__TensorProto> {
        let t = message(onnx__tensor_proto__init)
        t.pointee.name = string(name)
        t.pointee.n_dims = shape.count
        t.pointee.dims = array(shape.map { Int64($0) })
        t.pointee.has_data_type = 1
        t.pointee.data_type = ONNXDataType.int64.rawValue
        t.pointee.has_raw_data = 1
        let little = values.map { Int64($0).littleEndian }
        t.pointee.raw_data = little.withUnsafeBytes { bytes($0) }
        return t
    }

    private func attribute(_ name: String, _ type: Onnx__AttributeProto__AttributeType) -> UnsafeMutablePointer<Onnx__AttributeProto> {
        let a = message(onnx__attribute_proto__init)
        a.pointee.name = string(name)
        a.pointee.has_type = 1
        a.pointee.type = type
        return a
    }

    func attribute(_ name: String, int value: Int) -> UnsafeMutablePointer<Onnx__AttributeProto> {
        let a = attribute(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
        a.pointee.has_i = 1
        a.pointee.i = Int64(value)
        return a
    }

    func attribute(_ name: String, float value: Float) -> UnsafeMutablePointer<Onnx__AttributeProto> {
        let a = attribute(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
        a.pointee.has_f = 1
        a.pointee.f = value
        return a
    }

    func attribute(_ name: String, ints values: [Int]) -> UnsafeMutablePointer<Onnx__AttributeProto> {
        let a = attribute(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
        a.pointee.n_ints = values.count
        a.pointee.ints = array(values.map { Int64($0) })
        return a
    }

    func attribute(_ name: String, string value: String) -> UnsafeMutablePointer<Onnx__AttributeProto> {
        let a = attribute(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING)
        a.pointee.has_s = 1
        a.pointee.s = Array(value.utf8).withUnsafeBytes { bytes($0) }
        return a
    }

    /// A float tensor value description; `nil` dimensions become the symbolic dimension "N",
    /// an empty shape is left out.
    func valueInfo(name: String, shape: [Int?]) -> UnsafeMutablePointer<Onnx__ValueInfoProto> {
        let info = message(onnx__value_info_proto__init)
        info.pointee.name = string(name)
        let tensorType = message(onnx__type_proto__tensor__init)
        tensorType.pointee.has_elem_type = 1
        tensorType.pointee.elem_type = ONNXDataType.float.rawValue
        let shapeProto = message(onnx__tensor_shape_proto__init)
        let dims = shape.map { d -> UnsafeMutablePointer<Onnx__TensorShapeProto__Dimension> in
            let dim = message(onnx__tensor_shape_proto__dimension__init)
            if let d {
                dim.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                dim.pointee.dim_value = Int64(d)
            } else {
                dim.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                dim.pointee.dim_param = string("N")
            }
            return dim
        }
        shapeProto.pointee.n_dim = dims.count
        shapeProto.pointee.dim = pointers(dims)
        // An empty shape means "unknown" in the IR's outputs; ONNX says that by omitting it.
        if !shape.isEmpty { tensorType.pointee.shape = shapeProto }
        let type = message(onnx__type_proto__init)
        type.pointee.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
        type.pointee.tensor_type = tensorType
        info.pointee.type = type
        return info
    }
}
