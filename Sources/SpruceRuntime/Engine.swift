// The embedded inference engine: loads a .spruce artifact (path or bytes), plans it once, and
// runs batches of any size sample by sample through one preallocated activation arena, so an
// inference allocates nothing but the returned output tensors. Not thread-safe: one engine
// runs one batch at a time (create one engine per thread).
import SpruceCore
import SpruceFormat

/// Options of an `Engine`.
public struct EngineOptions: Sendable, Equatable {
    /// Worker threads per inference. The kernels take output-channel ranges for splitting; the
    /// engine currently runs every step on the calling thread whatever this says.
    public var threads: Int

    /// Options with `threads` workers (default 1).
    public init(threads: Int = 1) {
        self.threads = max(1, threads)
    }
}

/// Runs a `.spruce` artifact with its weights as stored (dense, CSR or bitmask; f32 or int8).
///
/// ```swift
/// let engine = try Engine(path: "model.spruce")
/// let outputs = try engine.run(["input": image])   // image: [N, 3, H, W]
/// ```
public final class Engine {
    /// Graph inputs with their one-sample shapes (batch 1).
    public let inputShapes: [(name: String, shape: [Int])]
    /// Graph outputs with their one-sample shapes (batch 1).
    public let outputShapes: [(name: String, shape: [Int])]
    /// The options the engine was created with.
    public let options: EngineOptions

    let plan: Plan
    let arena: UnsafeMutablePointer<Float>
    let offsets: UnsafeMutablePointer<Int>
    let workspace: UnsafeMutableRawPointer

    /// Plans an artifact already read.
    public init(artifact: Artifact, options: EngineOptions = EngineOptions()) throws(RuntimeError) {
        var tensors: [String: StoredTensor] = [:]
        for t in artifact.tensors { tensors[t.name] = t.storage }
        plan = try Plan.build(graph: artifact.graph, tensors: tensors)
        self.options = options
        inputShapes = plan.inputs.map { ($0.name, $0.shape) }
        outputShapes = plan.outputs.map { ($0.name, $0.shape) }
        arena = .allocate(capacity: max(16, plan.arenaCount))
        arena.initialize(repeating: 0, count: max(16, plan.arenaCount))
        offsets = .allocate(capacity: max(1, plan.offsets.count))
        offsets.initialize(repeating: 0, count: max(1, plan.offsets.count))
        for (i, o) in plan.offsets.enumerated() { offsets[i] = o }
        workspace = .allocate(byteCount: plan.workspaceBytes, alignment: 64)
        for (slot, data) in plan.constants {
            for (i, v) in data.enumerated() { arena[plan.offsets[slot] + i] = v }
        }
    }

    /// Reads, validates and plans the artifact at `path`.
    public convenience init(path: String, options: EngineOptions = EngineOptions()) throws(RuntimeError) {
        let artifact: Artifact
        do { artifact = try ArtifactReader.load(path: path) } catch { throw .format(error) }
        try self.init(artifact: artifact, options: options)
    }

    /// Reads, validates and plans an artifact held in memory.
    public convenience init(bytes: [UInt8], options: EngineOptions = EngineOptions()) throws(RuntimeError) {
        let artifact: Artifact
        do { artifact = try ArtifactReader.decode(bytes) } catch { throw .format(error) }
        try self.init(artifact: artifact, options: options)
    }

    deinit {
        arena.deallocate()
        offsets.deallocate()
        workspace.deallocate()
    }

    /// Bytes of the activation arena plus the kernel workspace.
    public var arenaBytes: Int { plan.arenaCount * 4 + plan.workspaceBytes }

    /// Runs the model. With a dynamic batch axis (every input's first dim declared dynamic) any
    /// batch size N runs sample by sample and outputs are stacked on axis 0; otherwise inputs must
    /// have exactly the declared shapes.
    public func run(_ inputs: [String: Tensor]) throws(RuntimeError) -> [String: Tensor] {
        let declared = Set(plan.inputs.map(\.name))
        for name in inputs.keys.sorted() where !declared.contains(name) {
            throw .badInput(name: name, detail: "not an input of the model")
        }
        var batch = 1
        for (i, binding) in plan.inputs.enumerated() {
            guard let t = inputs[binding.name] else { throw .badInput(name: binding.name, detail: "not supplied") }
            guard t.shape.elementCount == t.data.count else {
                throw .badInput(name: binding.name, detail: "shape \(t.shape) does not match \(t.data.count) elements")
            }
            if plan.perSample {
                guard t.shape.count == binding.shape.count, t.shape.count > 0,
                      Array(t.shape.dropFirst()) == Array(binding.shape.dropFirst()) else {
                    throw .badInput(name: binding.name,
                                    detail: "shape \(t.shape), expected [N] + \(Array(binding.shape.dropFirst()))")
                }
                if i > 0 && t.shape[0] != batch {
                    throw .badInput(name: binding.name, detail: "batch \(t.shape[0]) differs from other inputs' \(batch)")
                }
                batch = t.shape[0]
            } else if t.shape != binding.shape {
                throw .badInput(name: binding.name, detail: "shape \(t.shape), expected \(binding.shape)")
            }
        }
        if batch != 1 {
            for binding in plan.outputs where binding.shape.first != 1 {
                throw .unbatchedOutput(name: binding.name, shape: binding.shape)
            }
        }
        var results: [String: [Float]] = [:]
        for binding in plan.outputs {
            results[binding.name] = [Float](repeating: 0, count: batch * binding.shape.elementCount)
        }
        for sample in 0..<batch {
            for binding in plan.inputs {
                let count = binding.shape.elementCount
                inputs[binding.name]!.data.withUnsafeBufferPointer { src in
                    let dst = arena + plan.offsets[binding.slot]
                    for i in 0..<count { dst[i] = src[sample * count + i] }
                }
            }
            runSample()
            for binding in plan.outputs {
                let count = binding.shape.elementCount
                let src = arena + plan.offsets[binding.slot]
                results[binding.name]!.withUnsafeMutableBufferPointer { dst in
                    for i in 0..<count { dst[sample * count + i] = src[i] }
                }
            }
        }
        var outputs: [String: Tensor] = [:]
        for binding in plan.outputs {
            var shape = binding.shape
            if batch != 1 { shape[0] = batch }
            outputs[binding.name] = Tensor(shape: shape, data: results[binding.name]!)
        }
        return outputs
    }

    /// Runs the plan on the sample already in the arena.
    func runSample() {
        let buffers = Buffers(arena: arena, offsets: UnsafePointer(offsets), workspace: workspace)
        for step in plan.steps { step.run(buffers) }
    }
}
