// Reading protobuf-c structures safely and turning ONNX TensorProtos into IR tensors.
// Every count is checked against its pointer before a C array is read; float data is copied
// with one memcpy (little-endian hosts). Integer tensors become import-time constants.
import CSpruceProto
import SpruceCore
import _SpruceSupport

/// The ONNX `TensorProto.DataType` codes Spruce reads.
enum ONNXDataType: Int32 {
    case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7
    case bool = 9, double = 11, uint32 = 12

    /// Bytes per element in `raw_data`.
    var width: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .float, .int32, .uint32: 4
        case .int64, .double: 8
        }
    }

    var isFloatingPoint: Bool { self == .float || self == .double }

    /// ONNX spelling of any data type code, for error messages.
    static func name(of code: Int32) -> String {
        let names = ["UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING",
                     "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"]
        return code >= 0 && Int(code) < names.count ? names[Int(code)] : "code \(code)"
    }
}

/// A decoded ONNX tensor: float data becomes an IR tensor, integer data an import-time constant.
enum DecodedTensor {
    case float(Tensor)
    case integer(shape: [Int], values: [Int])
}

// MARK: - C access helpers

/// A Swift string from an optional C string ("" when absent).
@inline(__always)
func cString(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    return String(cString: pointer)
}

/// A C array as a buffer, refusing a non-zero count with a null pointer.
@inline(__always)
func cArray<T>(_ pointer: UnsafeMutablePointer<T>?, _ count: Int, what: String) throws -> UnsafeBufferPointer<T> {
    if count == 0 { return UnsafeBufferPointer(start: nil, count: 0) }
    guard let pointer, count > 0 else {
        throw ONNXError.notProtobuf(source: "malformed \(what)", byteCount: count)
    }
    return UnsafeBufferPointer(start: pointer, count: count)
}

/// The non-null message pointers of a repeated message field.
@inline(__always)
func cMessages<T>(_ pointer: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ count: Int,
                  what: String) throws -> [UnsafeMutablePointer<T>] {
    let buffer = try cArray(pointer, count, what: what)
    var result: [UnsafeMutablePointer<T>] = []
    result.reserveCapacity(count)
    for element in buffer {
        guard let element else { throw ONNXError.notProtobuf(source: "malformed \(what)", byteCount: count) }
        result.append(element)
    }
    return result
}

/// The strings of a repeated string field.
func cStrings(_ pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ count: Int,
              what: String) throws -> [String] {
    try cArray(pointer, count, what: what).map { cString($0) }
}

/// Bytes of a protobuf-c `bytes` field.
func cBytes(_ data: ProtobufCBinaryData) throws -> UnsafeRawBufferPointer {
    if data.len == 0 { return UnsafeRawBufferPointer(start: nil, count: 0) }
    guard let base = data.data else { throw ONNXError.notProtobuf(source: "malformed bytes field", byteCount: data.len) }
    return UnsafeRawBufferPointer(start: base, count: data.len)
}

// MARK: - Tensor decoding

/// Decodes TensorProtos, resolving external data against a base directory.
struct TensorDecoder {
    /// Directory that external data locations are relative to (nil: the current directory).
    var baseDirectory: String?

    /// Largest tensor the importer creates from a size written in the file (sparse, ConstantOfShape).
    static let maximumMaterializedCount = 1 << 30

    /// Element count of `dims`, rejecting negative dimensions and overflow.
    static func elementCount(_ dims: [Int64], tensor: String) throws -> Int {
        var count = 1
        for d in dims {
            guard d >= 0, d <= Int64(Int.max) else { throw ONNXError.invalidTensorShape(tensor: tensor, dims: dims) }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow else { throw ONNXError.invalidTensorShape(tensor: tensor, dims: dims) }
            count = product
        }
        return count
    }

    /// Decodes a dense tensor; `name` overrides the proto's own name (Constant nodes).
    func decode(_ proto: UnsafeMutablePointer<Onnx__TensorProto>, name: String? = nil) throws -> (String, DecodedTensor) {
        let t = proto.pointee
        let tensorName = name ?? cString(t.name)
        let dims64 = Array(try cArray(t.dims, t.n_dims, what: "dims of tensor '\(tensorName)'"))
        let count = try Self.elementCount(dims64, tensor: tensorName)
        let shape = dims64.map { Int($0) }
        let code = t.has_data_type != 0 ? t.data_type : 0
        guard let type = ONNXDataType(rawValue: code) else {
            throw ONNXError.unsupportedDataType(tensor: tensorName, dataType: ONNXDataType.name(of: code))
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: type.width)
        guard !overflow else { throw ONNXError.invalidTensorShape(tensor: tensorName, dims: dims64) }

        let external = t.has_data_location != 0 && t.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL
        if external {
            let (path, offset) = try externalRange(t, tensor: tensorName, byteCount: byteCount)
            if type == .float {
                let data = try readFloats(count: count) { try Self.readExternal(path, offset: offset, into: $0) }
                return (tensorName, .float(Tensor(shape: shape, data: data)))
            }
            var bytes = [UInt8](repeating: 0, count: byteCount)
            try bytes.withUnsafeMutableBytes { try Self.readExternal(path, offset: offset, into: $0) }
            return (tensorName, try bytes.withUnsafeBytes { raw in
                try fromRaw(raw, type: type, shape: shape, count: count)
            })
        }

        if t.has_raw_data != 0 && (t.raw_data.len > 0 || count == 0) {
            let raw = try cBytes(t.raw_data)
            guard raw.count == byteCount else {
                throw ONNXError.badTensorDataSize(tensor: tensorName, expected: byteCount, actual: raw.count, field: "raw_data")
            }
            return (tensorName, try fromRaw(raw, type: type, shape: shape, count: count))
        }

        // Typed fields: exactly one of them carries `count` elements.
        func checkCount(_ actual: Int, _ field: String) throws {
            guard actual == count else {
                throw ONNXError.badTensorDataSize(tensor: tensorName, expected: count, actual: actual, field: field)
            }
        }
        switch type {
        case .float:
            try checkCount(t.n_float_data, "float_data")
            let values = Array(try cArray(t.float_data, t.n_float_data, what: "float_data"))
            return (tensorName, .float(Tensor(shape: shape, data: values)))
        case .double:
            try checkCount(t.n_double_data, "double_data")
            let values = try cArray(t.double_data, t.n_double_data, what: "double_data").map { Float($0) }
            return (tensorName, .float(Tensor(shape: shape, data: values)))
        case .int64:
            try checkCount(t.n_int64_data, "int64_data")
            let values = try cArray(t.int64_data, t.n_int64_data, what: "int64_data").map { Int($0) }
            return (tensorName, .integer(shape: shape, values: values))
        case .int32, .int16, .int8, .uint8, .uint16, .bool:
            try checkCount(t.n_int32_data, "int32_data")
            let values = try cArray(t.int32_data, t.n_int32_data, what: "int32_data").map { Int($0) }
            return (tensorName, .integer(shape: shape, values: values))
        case .uint32:
            // uint32 values live in uint64_data, which this schema does not read; only raw_data works.
            try checkCount(0, "raw_data")
            return (tensorName, .integer(shape: shape, values: []))
        }
    }

    /// Fills a new [Float] of `count` elements from little-endian bytes written by `fill`.
    private func readFloats(count: Int,
                            _ fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> [Float] {
        var failure: (any Error)?
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = 0
            do {
                try fill(UnsafeMutableRawBufferPointer(buffer))
            } catch {
                failure = error
                buffer.initialize(repeating: 0)
            }
            #if _endian(big)
            for i in 0..<count { buffer[i] = Float(bitPattern: UInt32(littleEndian: buffer[i].bitPattern)) }
            #endif
            initialized = count
        }
        if let failure { throw failure }
        return values
    }

    /// Converts little-endian raw bytes (already size-checked) into a decoded tensor.
    private func fromRaw(_ raw: UnsafeRawBufferPointer, type: ONNXDataType, shape: [Int],
                         count: Int) throws -> DecodedTensor {
        switch type {
        case .float:
            let values = try readFloats(count: count) { destination in
                if count > 0, let dst = destination.baseAddress, let src = raw.baseAddress {
                    dst.copyMemory(from: src, byteCount: count * 4)
                }
            }
            return .float(Tensor(shape: shape, data: values))
        case .double:
            var values = [Float](repeating: 0, count: count)
            for i in 0..<count {
                values[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))))
            }
            return .float(Tensor(shape: shape, data: values))
        default:
            var values = [Int](repeating: 0, count: count)
            for i in 0..<count {
                switch type {
                case .int64: values[i] = Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)))
                case .int32: values[i] = Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)))
                case .uint32: values[i] = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
                case .int16: values[i] = Int(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: Int16.self)))
                case .uint16: values[i] = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
                case .int8: values[i] = Int(Int8(bitPattern: raw[i]))
                case .uint8: values[i] = Int(raw[i])
                case .bool: values[i] = raw[i] != 0 ? 1 : 0
                case .float, .double: break
                }
            }
            return .integer(shape: shape, values: values)
        }
    }

    /// Reads `destination.count` bytes at `offset` of the external data file `path`.
    private static func readExternal(_ path: String, offset: Int, into destination: UnsafeMutableRawBufferPointer)
        throws(ONNXError)
    {
        do { try FileAccess.read(path: path, offset: offset, into: destination) } catch {
            throw .unreadableFile(path: path, reason: error.reason)
        }
    }

    /// Resolves and validates an external data reference: the file exists and the range fits.
    private func externalRange(_ t: Onnx__TensorProto, tensor: String, byteCount: Int) throws -> (String, Int) {
        var location = ""
        var offsetText: String?
        var lengthText: String?
        for entry in try cMessages(t.external_data, t.n_external_data, what: "external_data") {
            let key = cString(entry.pointee.key)
            let value = cString(entry.pointee.value)
            switch key {
            case "location": location = value
            case "offset": offsetText = value
            case "length": lengthText = value
            default: break
            }
        }
        let path: String
        if location.hasPrefix("/") {
            path = location
        } else {
            path = (baseDirectory ?? ".") + "/" + location
        }
        guard !location.isEmpty else { throw ONNXError.externalDataMissing(tensor: tensor, path: "(no location)") }
        let fileSize: Int
        do { fileSize = try FileAccess.size(path: path) } catch { throw ONNXError.externalDataMissing(tensor: tensor, path: path) }
        let offset = offsetText.map { Int($0) ?? -1 } ?? 0
        let length = lengthText.map { Int($0) ?? -1 } ?? (fileSize - max(offset, 0))
        guard offset >= 0, length >= 0, offset <= fileSize, length <= fileSize - offset else {
            throw ONNXError.externalDataOutOfRange(tensor: tensor, path: path, offset: offset, length: length, fileSize: fileSize)
        }
        guard length == byteCount else {
            throw ONNXError.badTensorDataSize(tensor: tensor, expected: byteCount, actual: length, field: "external data")
        }
        return (path, offset)
    }

    /// Decodes a sparse tensor (COO, linear or coordinate indices) into a dense float tensor.
    func decodeSparse(_ proto: UnsafeMutablePointer<Onnx__SparseTensorProto>, name: String? = nil) throws -> (String, Tensor) {
        let s = proto.pointee
        guard let valuesProto = s.values else { throw ONNXError.missingAttribute(node: name ?? "sparse_initializer", op: "SparseTensor", attribute: "values") }
        let (valuesName, decoded) = try decode(valuesProto)
        let tensorName = name ?? valuesName
        guard case .float(let values) = decoded else {
            throw ONNXError.unsupportedDataType(tensor: tensorName, dataType: "non-float sparse values")
        }
        let dims64 = Array(try cArray(s.dims, s.n_dims, what: "sparse dims"))
        let count = try Self.elementCount(dims64, tensor: tensorName)
        // The dense size comes from the file, not from stored data: bound it before allocating.
        guard count <= Self.maximumMaterializedCount else { throw ONNXError.invalidTensorShape(tensor: tensorName, dims: dims64) }
        let shape = dims64.map { Int($0) }
        let nnz = values.count
        var indices: [Int] = []
        var indexShape: [Int] = [0]
        if let indicesProto = s.indices {
            guard case .integer(let ishape, let ivalues) = try decode(indicesProto).1 else {
                throw ONNXError.unsupportedDataType(tensor: tensorName, dataType: "non-integer sparse indices")
            }
            indices = ivalues
            indexShape = ishape
        }
        var dense = [Float](repeating: 0, count: count)
        let strides = shape.rowMajorStrides
        if indexShape == [nnz] {
            for (k, index) in indices.enumerated() {
                guard index >= 0, index < count else {
                    throw ONNXError.badTensorDataSize(tensor: tensorName, expected: count, actual: index, field: "sparse index")
                }
                dense[index] = values.data[k]
            }
        } else if indexShape == [nnz, shape.count] {
            for k in 0..<nnz {
                var linear = 0
                for axis in 0..<shape.count {
                    let i = indices[k * shape.count + axis]
                    guard i >= 0, i < shape[axis] else {
                        throw ONNXError.badTensorDataSize(tensor: tensorName, expected: shape[axis], actual: i, field: "sparse coordinate")
                    }
                    linear += i * strides[axis]
                }
                dense[linear] = values.data[k]
            }
        } else {
            throw ONNXError.badTensorDataSize(tensor: tensorName, expected: nnz, actual: indices.count, field: "sparse indices")
        }
        return (tensorName, Tensor(shape: shape, data: dense))
    }
}
