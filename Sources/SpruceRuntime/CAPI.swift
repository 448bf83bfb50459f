// The C interface declared in include/spruce.h, as @_cdecl functions over an `Engine`: a model
// handle is a retained `CModel`, errors are caught here and kept per thread for
// `spruce_last_error`, so no Swift error or trap crosses the C boundary for bad input.
// Not a second engine: every call forwards to `Engine`.
import _SpruceSupport
import SpruceCore
import SpruceFormat

/// What a `spruce_model *` points to: the engine plus C copies of its names and metadata.
final class CModel {
    let engine: Engine
    let inputNames: [UnsafeMutablePointer<CChar>]
    let outputNames: [UnsafeMutablePointer<CChar>]
    let metadataKeys: [UnsafeMutablePointer<CChar>]
    let metadataValues: [UnsafeMutablePointer<CChar>]

    init(engine: Engine) {
        self.engine = engine
        inputNames = engine.inputShapes.map { strdup($0.name)! }
        outputNames = engine.outputShapes.map { strdup($0.name)! }
        metadataKeys = engine.metadata.map { strdup($0.key)! }
        metadataValues = engine.metadata.map { strdup($0.value)! }
    }

    deinit {
        for p in inputNames + outputNames + metadataKeys + metadataValues { free(p) }
    }

    static func from(_ raw: OpaquePointer?) -> CModel? {
        guard let raw else { return nil }
        return Unmanaged<CModel>.fromOpaque(UnsafeRawPointer(raw)).takeUnretainedValue()
    }
}

/// The thread-specific slot holding the calling thread's last error (a malloc'd C string).
private let lastErrorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { value in free(value) }
    return key
}()

/// Records `message` as this thread's last error.
func setLastError(_ message: String) {
    let old = pthread_getspecific(lastErrorKey)
    pthread_setspecific(lastErrorKey, strdup(message))
    free(old)
}

private func load(_ body: () throws(RuntimeError) -> Engine) -> OpaquePointer? {
    do {
        let model = CModel(engine: try body())
        return OpaquePointer(Unmanaged.passRetained(model).toOpaque())
    } catch {
        setLastError(error.description)
        return nil
    }
}

@_cdecl("spruce_load")
public func spruce_load(_ path: UnsafePointer<CChar>?, _ threads: Int32) -> OpaquePointer? {
    guard let path else {
        setLastError("spruce_load: path is NULL")
        return nil
    }
    let p = String(cString: path)
    return load { () throws(RuntimeError) in try Engine(path: p, options: EngineOptions(threads: Int(threads))) }
}

@_cdecl("spruce_load_bytes")
public func spruce_load_bytes(_ bytes: UnsafeRawPointer?, _ length: Int, _ threads: Int32) -> OpaquePointer? {
    guard let bytes, length >= 0 else {
        setLastError("spruce_load_bytes: bytes is NULL")
        return nil
    }
    let copy = [UInt8](UnsafeRawBufferPointer(start: bytes, count: length))
    return load { () throws(RuntimeError) in try Engine(bytes: copy, options: EngineOptions(threads: Int(threads))) }
}

@_cdecl("spruce_free")
public func spruce_free(_ model: OpaquePointer?) {
    guard let model else { return }
    Unmanaged<CModel>.fromOpaque(UnsafeRawPointer(model)).release()
}

@_cdecl("spruce_input_count")
public func spruce_input_count(_ model: OpaquePointer?) -> Int32 {
    guard let m = CModel.from(model) else { setLastError("spruce_input_count: model is NULL"); return -1 }
    return Int32(m.engine.inputShapes.count)
}

@_cdecl("spruce_output_count")
public func spruce_output_count(_ model: OpaquePointer?) -> Int32 {
    guard let m = CModel.from(model) else { setLastError("spruce_output_count: model is NULL"); return -1 }
    return Int32(m.engine.outputShapes.count)
}

/// The model-owned C string `index` of one of `model`'s lists, or nil with `missing` and the index
/// as this thread's last error.
private func string(_ list: KeyPath<CModel, [UnsafeMutablePointer<CChar>]>, of model: OpaquePointer?, at index: Int32,
                    _ missing: String) -> UnsafePointer<CChar>? {
    guard let m = CModel.from(model), index >= 0, Int(index) < m[keyPath: list].count else {
        setLastError("\(missing) \(index)")
        return nil
    }
    return UnsafePointer(m[keyPath: list][Int(index)])
}

@_cdecl("spruce_input_name")
public func spruce_input_name(_ model: OpaquePointer?, _ index: Int32) -> UnsafePointer<CChar>? {
    string(\.inputNames, of: model, at: index, "spruce_input_name: no input")
}

@_cdecl("spruce_output_name")
public func spruce_output_name(_ model: OpaquePointer?, _ index: Int32) -> UnsafePointer<CChar>? {
    string(\.outputNames, of: model, at: index, "spruce_output_name: no output")
}

private func writeShape(_ shape: [Int], _ dims: UnsafeMutablePointer<Int64>?, _ capacity: Int32) -> Int32 {
    if let dims {
        for i in 0..<min(shape.count, max(0, Int(capacity))) { dims[i] = Int64(shape[i]) }
    }
    return Int32(shape.count)
}

@_cdecl("spruce_input_shape")
public func spruce_input_shape(_ model: OpaquePointer?, _ index: Int32, _ dims: UnsafeMutablePointer<Int64>?,
                               _ capacity: Int32) -> Int32 {
    guard let m = CModel.from(model), index >= 0, Int(index) < m.engine.inputShapes.count else {
        setLastError("spruce_input_shape: no input \(index)")
        return -1
    }
    return writeShape(m.engine.inputShapes[Int(index)].shape, dims, capacity)
}

@_cdecl("spruce_output_shape")
public func spruce_output_shape(_ model: OpaquePointer?, _ index: Int32, _ dims: UnsafeMutablePointer<Int64>?,
                                _ capacity: Int32) -> Int32 {
    guard let m = CModel.from(model), index >= 0, Int(index) < m.engine.outputShapes.count else {
        setLastError("spruce_output_shape: no output \(index)")
        return -1
    }
    return writeShape(m.engine.outputShapes[Int(index)].shape, dims, capacity)
}

@_cdecl("spruce_input_size")
public func spruce_input_size(_ model: OpaquePointer?, _ index: Int32) -> Int {
    guard let m = CModel.from(model), index >= 0, Int(index) < m.engine.inputShapes.count else { return 0 }
    return m.engine.inputShapes[Int(index)].shape.elementCount
}

@_cdecl("spruce_output_size")
public func spruce_output_size(_ model: OpaquePointer?, _ index: Int32) -> Int {
    guard let m = CModel.from(model), index >= 0, Int(index) < m.engine.outputShapes.count else { return 0 }
    return m.engine.outputShapes[Int(index)].shape.elementCount
}

@_cdecl("spruce_batch_dynamic")
public func spruce_batch_dynamic(_ model: OpaquePointer?) -> Int32 {
    guard let m = CModel.from(model) else { setLastError("spruce_batch_dynamic: model is NULL"); return -1 }
    return m.engine.batchIsDynamic ? 1 : 0
}

@_cdecl("spruce_run")
public func spruce_run(_ model: OpaquePointer?, _ input: UnsafePointer<Float>?, _ inputCount: Int,
                       _ output: UnsafeMutablePointer<Float>?, _ outputCount: Int) -> Int32 {
    guard let m = CModel.from(model) else { setLastError("spruce_run: model is NULL"); return -1 }
    let engine = m.engine
    guard engine.inputShapes.count == 1, engine.outputShapes.count == 1 else {
        setLastError("spruce_run: the model has \(engine.inputShapes.count) inputs and \(engine.outputShapes.count) outputs; use spruce_run_batch")
        return -1
    }
    guard let input, let output else { setLastError("spruce_run: input or output is NULL"); return -1 }
    let inSize = engine.inputShapes[0].shape.elementCount, outSize = engine.outputShapes[0].shape.elementCount
    let name = engine.inputShapes[0].name
    guard inSize > 0, inputCount > 0, inputCount % inSize == 0 else {
        setLastError("spruce_run: input '\(name)': \(inputCount) floats is not a positive multiple of one sample (\(inSize))")
        return -1
    }
    let batch = inputCount / inSize
    guard outputCount == batch * outSize else {
        setLastError("spruce_run: output '\(engine.outputShapes[0].name)': room for \(outputCount) floats, batch \(batch) needs \(batch * outSize)")
        return -1
    }
    guard batch <= Int(Int32.max) else { setLastError("spruce_run: batch too large"); return -1 }
    do {
        try engine.run(batch: batch, input: { _ in input }, output: { _ in output })
    } catch {
        setLastError(error.description)
        return -1
    }
    return Int32(batch)
}

@_cdecl("spruce_run_batch")
public func spruce_run_batch(_ model: OpaquePointer?, _ batch: Int32,
                             _ inputs: UnsafePointer<UnsafePointer<Float>?>?,
                             _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?) -> Int32 {
    guard let m = CModel.from(model) else { setLastError("spruce_run_batch: model is NULL"); return -1 }
    let engine = m.engine
    guard let inputs, let outputs else { setLastError("spruce_run_batch: inputs or outputs is NULL"); return -1 }
    for i in engine.inputShapes.indices where inputs[i] == nil {
        setLastError("spruce_run_batch: input \(i) ('\(engine.inputShapes[i].name)') is NULL")
        return -1
    }
    for j in engine.outputShapes.indices where outputs[j] == nil {
        setLastError("spruce_run_batch: output \(j) ('\(engine.outputShapes[j].name)') is NULL")
        return -1
    }
    do {
        try engine.run(batch: Int(batch), input: { inputs[$0]! }, output: { outputs[$0]! })
    } catch {
        setLastError(error.description)
        return -1
    }
    return 0
}

@_cdecl("spruce_metadata_count")
public func spruce_metadata_count(_ model: OpaquePointer?) -> Int32 {
    guard let m = CModel.from(model) else { setLastError("spruce_metadata_count: model is NULL"); return -1 }
    return Int32(m.metadataKeys.count)
}

@_cdecl("spruce_metadata_key")
public func spruce_metadata_key(_ model: OpaquePointer?, _ index: Int32) -> UnsafePointer<CChar>? {
    string(\.metadataKeys, of: model, at: index, "spruce_metadata_key: no metadata entry")
}

@_cdecl("spruce_metadata_value")
public func spruce_metadata_value(_ model: OpaquePointer?, _ index: Int32) -> UnsafePointer<CChar>? {
    string(\.metadataValues, of: model, at: index, "spruce_metadata_value: no metadata entry")
}

@_cdecl("spruce_metadata")
public func spruce_metadata(_ model: OpaquePointer?, _ key: UnsafePointer<CChar>?) -> UnsafePointer<CChar>? {
    guard let m = CModel.from(model) else { setLastError("spruce_metadata: model is NULL"); return nil }
    guard let key else { setLastError("spruce_metadata: key is NULL"); return nil }
    let name = String(cString: key)
    guard let i = m.engine.metadata.firstIndex(where: { $0.key == name }) else {
        setLastError("spruce_metadata: no metadata '\(name)'")
        return nil
    }
    return UnsafePointer(m.metadataValues[i])
}

@_cdecl("spruce_preprocess")
public func spruce_preprocess(_ model: OpaquePointer?, _ rgb: UnsafePointer<UInt8>?, _ height: Int32, _ width: Int32,
                              _ out: UnsafeMutablePointer<Float>?, _ outCount: Int) -> Int32 {
    guard let m = CModel.from(model) else { setLastError("spruce_preprocess: model is NULL"); return -1 }
    guard let rgb, let out else { setLastError("spruce_preprocess: rgb or out is NULL"); return -1 }
    guard m.engine.inputShapes.count == 1, let shape = m.engine.inputShapes.first?.shape, shape.count == 4,
          shape[1] == 3 || shape[3] == 3 else {
        setLastError("spruce_preprocess: the model has no single image input (N, 3, H, W) or (N, H, W, 3)")
        return -1
    }
    let channelsFirst = shape[1] == 3
    let (h, w) = channelsFirst ? (shape[2], shape[3]) : (shape[1], shape[2])
    guard Int(height) == h, Int(width) == w else {
        setLastError("spruce_preprocess: the image is \(height)x\(width), the model takes \(h)x\(w) (resize it first)")
        return -1
    }
    guard outCount == 3 * h * w else {
        setLastError("spruce_preprocess: out holds \(outCount) floats, the input needs \(3 * h * w)")
        return -1
    }
    let metadata = Dictionary(m.engine.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
    let n = InputNormalization(metadata: metadata) ?? .unit
    for y in 0..<h {
        for x in 0..<w {
            for c in 0..<3 {
                let v = (Float(rgb[(y * w + x) * 3 + c]) / 255 - n.mean[c]) / n.std[c]
                out[channelsFirst ? (c * h + y) * w + x : (y * w + x) * 3 + c] = v
            }
        }
    }
    return 0
}

/// `SpruceVersion.current` as a C string that lives as long as the process.
// nonisolated(unsafe): written once at first use, never changed.
nonisolated(unsafe) private let versionString: UnsafeMutablePointer<CChar> = strdup(SpruceVersion.current)!

@_cdecl("spruce_version")
public func spruce_version() -> UnsafePointer<CChar> {
    UnsafePointer(versionString)
}

@_cdecl("spruce_format_version")
public func spruce_format_version(_ minor: UnsafeMutablePointer<Int32>?) -> Int32 {
    minor?.pointee = Int32(ArtifactReader.minorVersionWritten)
    return Int32(ArtifactReader.majorVersionRead)
}

@_cdecl("spruce_last_error")
public func spruce_last_error() -> UnsafePointer<CChar> {
    guard let value = pthread_getspecific(lastErrorKey) else {
        let empty: StaticString = ""  // a NUL-terminated constant
        return UnsafeRawPointer(empty.utf8Start).assumingMemoryBound(to: CChar.self)
    }
    return UnsafePointer(value.assumingMemoryBound(to: CChar.self))
}
