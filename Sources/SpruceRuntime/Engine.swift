// The embedded inference engine: loads a .spruce artifact (path or bytes), plans it once, and
// runs batches of any size sample by sample through one preallocated activation arena, so an
// inference allocates nothing but the returned output tensors. With `threads` > 1 a pool created
// at load splits each large step (by output channels, rows, columns or elements). Not
// thread-safe: one engine runs one batch at a time (create one engine per calling thread).
import _SpruceSupport
import SpruceCore
import SpruceFormat

/// Options of an `Engine`.
public struct EngineOptions: Sendable, Equatable {
    /// Threads per inference, the calling thread included: convolutions are split by output
    /// channel between them. 1 (the default) starts no thread.
    public var threads: Int
    /// How convolutions with sparse stored weights are computed (default: per-layer cost model).
    public var kernelChoice: KernelChoice

    /// Options with `threads` threads (default 1) and the given kernel choice.
    public init(threads: Int = 1, kernelChoice: KernelChoice = .automatic) {
        self.threads = max(1, min(threads, 64))
        self.kernelChoice = kernelChoice
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
    /// The artifact's metadata (how it was made, and anything its writer recorded), sorted by key.
    public let metadata: [(key: String, value: String)]

    let plan: Plan
    let arena: UnsafeMutablePointer<Float>
    let offsets: UnsafeMutablePointer<Int>
    let workspace: UnsafeMutableRawPointer
    /// Scratch the threads of a step share.
    let sharedWorkspace: UnsafeMutableRawPointer
    /// nil when running on the calling thread only.
    let pool: WorkerPool?

    /// Plans an artifact already read.
    public init(artifact: Artifact, options: EngineOptions = EngineOptions()) throws(RuntimeError) {
        var tensors: [String: StoredTensor] = [:]
        for t in artifact.tensors { tensors[t.name] = t.storage }
        plan = try Plan.build(graph: artifact.graph, tensors: tensors, kernelChoice: options.kernelChoice,
                              threads: options.threads)
        self.options = options
        metadata = artifact.metadata.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        inputShapes = plan.inputs.map { ($0.name, $0.shape) }
        outputShapes = plan.outputs.map { ($0.name, $0.shape) }
        arena = .allocate(capacity: max(16, plan.arenaCount))
        arena.initialize(repeating: 0, count: max(16, plan.arenaCount))
        offsets = .allocate(capacity: max(1, plan.offsets.count))
        offsets.initialize(repeating: 0, count: max(1, plan.offsets.count))
        for (i, o) in plan.offsets.enumerated() { offsets[i] = o }
        let stride = roundUp(plan.workspaceBytes, 64) + 64  // keep threads' workspaces off shared lines
        workspace = .allocate(byteCount: stride * options.threads, alignment: 64)
        sharedWorkspace = .allocate(byteCount: max(64, plan.sharedWorkspaceBytes), alignment: 64)
        pool = options.threads > 1 ? WorkerPool(parts: options.threads, workspaces: workspace, workspaceStride: stride) : nil
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
        pool?.shutdown()
        arena.deallocate()
        offsets.deallocate()
        workspace.deallocate()
        sharedWorkspace.deallocate()
    }

    /// Bytes of the activation arena plus the kernel workspace.
    public var arenaBytes: Int { plan.arenaCount * 4 + plan.workspaceBytes + plan.sharedWorkspaceBytes }

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
        var results: [[Float]] = plan.outputs.map { [Float](repeating: 0, count: batch * $0.shape.elementCount) }
        let tensors = plan.inputs.map { inputs[$0.name]! }
        runSamples(batch: batch, load: { sample in
            for (i, binding) in plan.inputs.enumerated() {
                let count = binding.shape.elementCount
                tensors[i].data.withUnsafeBufferPointer { src in
                    if count > 0 { (arena + plan.offsets[binding.slot]).update(from: src.baseAddress! + sample * count, count: count) }
                }
            }
        }, store: { sample in
            for (j, binding) in plan.outputs.enumerated() {
                let count = binding.shape.elementCount
                results[j].withUnsafeMutableBufferPointer { dst in
                    if count > 0 { (dst.baseAddress! + sample * count).update(from: arena + plan.offsets[binding.slot], count: count) }
                }
            }
        })
        var outputs: [String: Tensor] = [:]
        for (i, binding) in plan.outputs.enumerated() {
            var shape = binding.shape
            if batch != 1 { shape[0] = batch }
            outputs[binding.name] = Tensor(shape: shape, data: results[i])
        }
        return outputs
    }

    /// Whether any batch size runs (every input's leading dim is dynamic); otherwise only batch 1.
    public var batchIsDynamic: Bool { plan.perSample }

    /// Runs `batch` samples from raw buffers, without allocating: `input(i)` holds
    /// batch · (one-sample count) floats of input i, `output(j)` has room for the same of output j,
    /// in the order of `inputShapes` / `outputShapes`. Fails when `batch` is not allowed.
    public func run(batch: Int, input: (Int) -> UnsafePointer<Float>,
                    output: (Int) -> UnsafeMutablePointer<Float>) throws(RuntimeError) {
        guard batch >= 1 else { throw .badInput(name: plan.inputs.first?.name ?? "?", detail: "batch \(batch)") }
        if batch != 1 {
            guard plan.perSample else {
                throw .badInput(name: plan.inputs.first?.name ?? "?", detail: "batch \(batch), the model takes only 1")
            }
            for binding in plan.outputs where binding.shape.first != 1 {
                throw .unbatchedOutput(name: binding.name, shape: binding.shape)
            }
        }
        runSamples(batch: batch, load: { sample in
            for (i, binding) in plan.inputs.enumerated() {
                let count = binding.shape.elementCount
                (arena + plan.offsets[binding.slot]).update(from: input(i) + sample * count, count: count)
            }
        }, store: { sample in
            for (j, binding) in plan.outputs.enumerated() {
                let count = binding.shape.elementCount
                (output(j) + sample * count).update(from: arena + plan.offsets[binding.slot], count: count)
            }
        })
    }

    /// For each sample: `load` puts it into the arena's input slots, the plan runs, `store` copies the outputs out.
    func runSamples(batch: Int, load: (Int) -> Void, store: (Int) -> Void) {
        for sample in 0..<batch {
            load(sample)
            runSample()
            store(sample)
        }
    }

    /// Runs the plan on the sample already in the arena.
    func runSample() {
        let buffers = Buffers(arena: arena, offsets: UnsafePointer(offsets), workspace: workspace,
                              shared: sharedWorkspace)
        if let pool {
            for step in plan.steps {
                if step.isSplitAcrossThreads {
                    pool.run(step, buffers)
                } else {
                    step.run(buffers)
                }
            }
        } else {
            for step in plan.steps { step.run(buffers) }
        }
    }

    /// Multiply-adds below which a step runs on the calling thread alone. Dispatch to the
    /// spinning workers costs about a microsecond, but a split step also reads what the other
    /// core wrote; this much work takes ~15 µs. 50k and 20k measured no better (noisy machine).
    static let parallelWorkThreshold = 150_000

    /// Per-step wall time, averaged over `runs` inferences on the sample in the arena: for
    /// finding slow layers. Returns (node, step kind, seconds) in plan order.
    public func profileSteps(runs: Int) -> [(node: String, kernel: String, seconds: Double)] {
        let buffers = Buffers(arena: arena, offsets: UnsafePointer(offsets), workspace: workspace,
                              shared: sharedWorkspace)
        var totals = [Double](repeating: 0, count: plan.steps.count)
        let clock = ContinuousClock()
        for _ in 0..<max(1, runs) {
            for (i, step) in plan.steps.enumerated() {
                let elapsed = clock.measure {
                    if let pool, step.isSplitAcrossThreads {
                        pool.run(step, buffers)
                    } else {
                        step.run(buffers)
                    }
                }
                totals[i] += Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            }
        }
        return plan.steps.enumerated().map { i, step in
            (step.node, "\(type(of: step)) \(step.detail)", totals[i] / Double(max(1, runs)))
        }
    }
}
