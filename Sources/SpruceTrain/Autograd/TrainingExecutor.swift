// The training executor: runs a Graph forward on a batch (training or inference mode), keeps
// what the backward needs, and computes reverse-mode gradients w.r.t. the float initializers
// (and graph inputs when asked). It owns the current parameter values, BatchNormalization
// running statistics included. The per-operator math is in GradientRules.swift; optimizers,
// losses and the step loop are elsewhere (TrainingSession.swift).

import SpruceCore

import COpenBLAS
import _SpruceSupport

/// Settings of a training executor.
public struct TrainingOptions: Sendable, Equatable {
    /// Keras momentum of the BatchNormalization moving averages: moving = moving·m + batch·(1 − m).
    public var batchNormMomentum: Float
    /// Drop probability of every Dropout node in training mode (the IR does not carry ONNX's ratio).
    public var dropoutRate: Float
    /// Threads for the kernels OpenBLAS does not run (depthwise, batch norm).
    public var threads: Int
    /// Accumulate wall time per operator and direction in `TrainingExecutor.profile`.
    public var profile: Bool = false

    /// Keras defaults: momentum 0.99, dropout 0.5 (ONNX's default ratio), and `threads` or else
    /// `defaultThreads`.
    public init(batchNormMomentum: Float = 0.99, dropoutRate: Float = 0.5, threads: Int? = nil) {
        self.batchNormMomentum = batchNormMomentum
        self.dropoutRate = dropoutRate
        self.threads = max(1, threads ?? Self.defaultThreads)
    }

    /// `SPRUCE_TRAIN_THREADS` when it is a positive integer, else every online core. The count
    /// decides how sums are split, so it is the knob for checking that nothing depends on it.
    public static var defaultThreads: Int {
        if let text = getenv("SPRUCE_TRAIN_THREADS"), let n = Int(String(cString: text)), n > 0 { return n }
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }
}

/// The values of one forward pass, kept for its backward.
public final class ForwardPass {
    /// How the pass ran.
    public let mode: ExecutionMode
    var values: [Value?]
    var saved: [Saved]
    let shapes: [[Int]?]
    let ids: [String: Int]
    /// Per step: for a BatchNormalization that ran fused with its ReLU / Clip, that step's index
    /// (and for the activation, the BatchNormalization's); −1 otherwise.
    var fusedWith: [Int] = []

    init(mode: ExecutionMode, values: [Value?], saved: [Saved], shapes: [[Int]?], ids: [String: Int]) {
        self.mode = mode
        self.values = values
        self.saved = saved
        self.shapes = shapes
        self.ids = ids
    }

    /// A value the pass kept (graph outputs and the names asked to keep always are), as a tensor.
    public func value(_ name: String) -> Tensor? {
        guard let id = ids[name], let v = values[id] else { return nil }
        return v.tensor
    }
}

/// Gradients of a scalar w.r.t. parameters and (when asked) graph inputs.
public struct Gradients: Sendable {
    /// By initializer name; only trainable, unfrozen parameters that the loss depends on.
    public var parameters: [String: Tensor]
    /// By graph input name, when requested.
    public var inputs: [String: Tensor]
}

/// Forward and backward passes over a `Graph`, holding its current parameters.
///
/// ```swift
/// let executor = try TrainingExecutor(graph: model.graph)
/// let pass = try executor.forward(["input": batch], mode: .training, keep: ["logits"])
/// let grads = try executor.backward(pass, seeds: ["logits": dLogits])
/// ```
public final class TrainingExecutor {
    struct Step {
        var node: Node
        var inputs: [Int]   // value ids, -1 for omitted
        var output: Int
        /// Which output of the node this step computes: a Split becomes one step per piece, so
        /// every step has one output and the pieces' gradients add up at the shared input.
        var part = 0
    }

    /// The graph structure (its initializers are the values at construction).
    public let structure: Graph
    /// Settings (momentum, dropout, threads).
    public var options: TrainingOptions
    /// Initializer names in order of first use by the nodes (unused ones last, by name).
    public let parameterNames: [String]
    /// Whether each parameter (same order) is trainable by definition: every float initializer
    /// except BatchNormalization's running mean and variance (inputs 3 and 4).
    public let trainable: [Bool]
    /// Parameters frozen by the caller (same order); frozen BatchNormalization layers run in
    /// inference mode and keep their running statistics, as Keras does for `trainable = False`.
    public var frozen: [Bool]
    /// With several ranks, training-mode BatchNormalization uses the statistics of the global
    /// batch summed over these ranks (`--sync-bn`); nil uses this rank's rows only.
    public var batchNormGroup: (any Communicator)?
    /// Trainable parameters grouped by the node that first uses them, in node order ("layers").
    public let layers: [[Int]]

    var parameters: [Value]
    let parameterIndex: [String: Int]
    let steps: [Step]
    let ids: [String: Int]
    let inputIDs: [Int]
    /// For each value id, the last step reading it in forward, and whether a backward reads it.
    let lastForwardUse: [Int]
    let backwardRead: [Bool]
    /// Per step: the ReLU / Clip step that alone reads this BatchNormalization's output (the pair
    /// a training-mode pass may fuse), or −1; and that activation.
    let activationAfter: [Int]
    let foldedActivation: [BatchNormActivation?]
    /// Whether training-mode passes fuse BatchNormalization with a following ReLU / Clip (the
    /// results are identical; off only to compare the two in tests).
    var fusesActivations = true
    var generator: SeededGenerator
    let pool = BufferPool()
    /// Seconds spent per "Op forward" / "Op backward" since construction (with `options.profile`).
    public private(set) var profile: [String: Double] = [:]
    private var shapeCache: (key: [[Int]], shapes: [[Int]?])?

    /// An executor for `graph`; `seed` drives dropout masks.
    public init(graph: Graph, options: TrainingOptions = TrainingOptions(), seed: UInt64 = 0) throws {
        structure = graph
        self.options = options
        generator = SeededGenerator(seed: seed)
        // The kernels split work over cores themselves (images of the batch, or row / column
        // blocks of one GEMM) and call OpenBLAS single-threaded inside each chunk. OpenBLAS' own
        // threads spin while they wait and fought the Dispatch workers: on this shared 2-core
        // machine, back-to-back MobileNet v2 steps (96², batch 16) ran at 15.7 and 48.1 images/s
        // with OpenBLAS threading against 57.5 and 43.7 single-threaded, ResNet50 v2 at 17.5 and
        // 8.8 against 18.1 and 16.7; batch-parallel kernels then reached 114 and 28 images/s at
        // low load. Process-wide and idempotent.
        openblas_set_num_threads(1)

        var names: [String] = []
        var seen = Set<String>()
        var stats = Set<String>()
        for node in graph.nodes {
            for (i, name) in node.inputs.enumerated() where graph.initializers[name] != nil && !seen.contains(name) {
                seen.insert(name)
                names.append(name)
                if case .batchNormalization = node.op, i >= 3 { stats.insert(name) }
            }
            if case .batchNormalization = node.op {
                for name in node.inputs.dropFirst(3) where !name.isEmpty { stats.insert(name) }
            }
        }
        names += graph.initializers.keys.filter { !seen.contains($0) }.sorted()
        parameterNames = names
        var index: [String: Int] = [:]
        for (i, n) in names.enumerated() { index[n] = i }
        parameterIndex = index
        trainable = names.map { !stats.contains($0) }
        frozen = [Bool](repeating: false, count: names.count)
        parameters = names.map { Value(graph.initializers[$0] ?? Tensor(scalar: 0)) }

        var ids = index
        var inputs: [Int] = []
        for info in graph.inputs where ids[info.name] == nil {
            ids[info.name] = ids.count
            inputs.append(ids[info.name] ?? 0)
        }
        var steps: [Step] = []
        var claimed = Set<Int>()
        var layers: [[Int]] = []
        for node in graph.nodes {
            var ins: [Int] = []
            var layer: [Int] = []
            for name in node.inputs {
                if name.isEmpty { ins.append(-1); continue }
                guard let id = ids[name] else { throw GraphError.undefinedValue(node: node.name, value: name) }
                ins.append(id)
                if id < names.count, trainable[id], claimed.insert(id).inserted { layer.append(id) }
            }
            if !layer.isEmpty { layers.append(layer) }
            var several = false
            if case .split = node.op { several = true }
            guard several ? !node.outputs.isEmpty : node.outputs.count == 1, !node.outputs.contains("") else {
                throw GraphError.arity(node: node.name, op: node.op.onnxName, detail: "expected exactly one output")
            }
            for (part, outName) in node.outputs.enumerated() {
                guard ids[outName] == nil else { throw GraphError.duplicateValue(outName) }
                ids[outName] = ids.count
                steps.append(Step(node: node, inputs: ins, output: ids[outName] ?? 0, part: part))
            }
        }
        self.layers = layers
        self.steps = steps
        self.ids = ids
        inputIDs = inputs
        for info in graph.outputs where ids[info.name] == nil { throw GraphError.missingOutput(info.name) }

        var last = [Int](repeating: -1, count: ids.count)
        var read = [Bool](repeating: false, count: ids.count)
        for (s, step) in steps.enumerated() {
            for id in step.inputs where id >= 0 { last[id] = s }
            let reads = GradientRules.backwardReads(step.node.op)
            for i in reads.inputs where i < step.inputs.count && step.inputs[i] >= 0 { read[step.inputs[i]] = true }
            if reads.output { read[step.output] = true }
        }
        lastForwardUse = last
        backwardRead = read

        var readers = [[Int]](repeating: [], count: ids.count)
        for (s, step) in steps.enumerated() { for id in Set(step.inputs) where id >= 0 { readers[id].append(s) } }
        let outputs = Set(graph.outputs.compactMap { ids[$0.name] })
        var after = [Int](repeating: -1, count: steps.count)
        var folded = [BatchNormActivation?](repeating: nil, count: steps.count)
        for (s, step) in steps.enumerated() {
            guard case .batchNormalization = step.node.op, !outputs.contains(step.output),
                  readers[step.output].count == 1, let a = readers[step.output].first else { continue }
            let reader = steps[a]
            guard reader.inputs.filter({ $0 >= 0 }) == [step.output], reader.inputs.first == step.output else { continue }
            switch reader.node.op {
            case .relu: folded[s] = .relu
            case .clip(let lo, let hi): folded[s] = .clip(lo, hi)
            default: continue
            }
            after[s] = a
        }
        activationAfter = after
        foldedActivation = folded
    }

    // MARK: - Parameters

    /// Current value of a parameter.
    public func parameter(_ name: String) -> Tensor? {
        parameterIndex[name].map { parameters[$0].tensor }
    }

    /// Replaces a parameter's value (same shape).
    public func setParameter(_ name: String, _ tensor: Tensor) throws {
        guard let i = parameterIndex[name] else {
            throw TrainingError.badParameterState(name: name, detail: "no such parameter")
        }
        guard tensor.shape == parameters[i].shape else {
            throw TrainingError.badParameterState(
                name: name, detail: "shape \(tensor.shape) differs from \(parameters[i].shape)")
        }
        parameters[i] = Value(tensor)
    }

    /// The graph with the current parameters (running statistics included) as initializers.
    public var graph: Graph {
        var g = structure
        for (i, name) in parameterNames.enumerated() { g.initializers[name] = parameters[i].tensor }
        return g
    }

    /// Marks every parameter `rule` selects as frozen (others keep their state).
    public func freeze(_ rule: FreezeRule) {
        for i in rule.select(names: parameterNames, layers: layers) { frozen[i] = true }
    }

    // MARK: - Forward

    func shapes(for inputs: [String: Tensor]) throws -> [[Int]?] {
        var key: [[Int]] = []
        var byName: [String: [Int]] = [:]
        for info in structure.inputs {
            guard let t = inputs[info.name] else { throw TrainingError.badInput(name: info.name, detail: "not supplied") }
            guard t.shape.count == info.shape.count else {
                throw TrainingError.badInput(name: info.name, detail: "rank \(t.shape.count), the graph declares \(info.shape.count)")
            }
            for (d, declared) in zip(t.shape, info.shape) where declared != nil && declared != d {
                throw TrainingError.badInput(
                    name: info.name, detail: "shape \(t.shape) does not fit declared \(info.shape.map { $0.map(String.init) ?? "?" })")
            }
            key.append(t.shape)
            byName[info.name] = t.shape
        }
        for name in inputs.keys.sorted() where !structure.inputs.contains(where: { $0.name == name }) {
            throw TrainingError.badInput(name: name, detail: "not an input of the graph")
        }
        if let cache = shapeCache, cache.key == key { return cache.shapes }
        // New batch shape: the recycled blocks no longer fit.
        if shapeCache != nil { pool.drain() }
        let named = try structure.inferShapes(inputShapes: byName)
        var shapes = [[Int]?](repeating: nil, count: ids.count)
        for (name, id) in ids { shapes[id] = named[name] }
        for (i, p) in parameters.enumerated() { shapes[i] = p.shape }
        shapeCache = (key, shapes)
        return shapes
    }

    /// Runs the graph. Training mode uses batch statistics (updating the running averages of
    /// unfrozen BatchNormalization nodes) and active dropout. With `differentiable` (in either
    /// mode) the pass keeps what `backward` needs; graph outputs and the values named in `keep`
    /// are always kept.
    public func forward(_ inputs: [String: Tensor], mode: ExecutionMode, keep: Set<String> = [],
                        differentiable: Bool = true) throws -> ForwardPass {
        let shapes = try shapes(for: inputs)
        var values = [Value?](repeating: nil, count: ids.count)
        for info in structure.inputs {
            guard let t = inputs[info.name], let id = ids[info.name] else { continue }
            // Pooled: a fresh batch-sized block each step would be mapped and faulted in anew.
            let v = Value(shape: t.shape, pool: pool)
            t.data.withUnsafeBufferPointer { src in
                if let base = src.baseAddress { v.pointer.update(from: base, count: v.count) }
            }
            values[id] = v
        }
        return try run(values: values, shapes: shapes, mode: mode, keep: keep, differentiable: differentiable)
    }

    func run(values start: [Value?], shapes: [[Int]?], mode: ExecutionMode, keep: Set<String>,
             differentiable: Bool) throws -> ForwardPass {
        var values = start
        var saved = [Saved](repeating: .none, count: steps.count)
        var pinned = Set(keep.compactMap { ids[$0] })
        for info in structure.outputs { if let id = ids[info.name] { pinned.insert(id) } }
        var ctx = RuleContext(mode: mode, threads: options.threads, dropoutRate: options.dropoutRate, generator: generator,
                              batchNormGroup: batchNormGroup)
        defer { generator = ctx.generator }
        let p = parameters.count
        var fusedWith = [Int](repeating: -1, count: steps.count)
        for (s, step) in steps.enumerated() {
            ctx.mode = mode
            if mode == .training, case .batchNormalization = step.node.op, isFrozenBatchNorm(step) { ctx.mode = .inference }
            // A training-mode BatchNormalization whose only reader is a ReLU / Clip writes the
            // activation's output itself; the activation step then has nothing left to do.
            let fuse = activationAfter[s]
            ctx.activation = nil
            if fuse >= 0, fusesActivations, ctx.mode == .training, batchNormGroup == nil, !pinned.contains(step.output) {
                ctx.activation = foldedActivation[s]
                fusedWith[s] = fuse
                fusedWith[fuse] = s
            }
            if fusedWith[s] >= 0 && fusedWith[s] < s {
                releaseAfter(s, step, &values, pinned: pinned, differentiable: differentiable)
                continue
            }
            var operands: [Value?] = []
            var operandShapes: [[Int]?] = []
            for id in step.inputs {
                operands.append(id < 0 ? nil : id < p ? parameters[id] : values[id])
                operandShapes.append(id < 0 ? nil : shapes[id])
            }
            guard let outShape = shapes[step.output] else { throw GraphError.missingOutput(step.node.outputs[step.part]) }
            let rule = RuleInputs(node: step.node, operands: operands, shapes: operandShapes, outShape: outShape, pool: pool,
                                  part: step.part)
            let started = options.profile ? monotonicSeconds() : 0
            let (y, keepForBackward, statistics) = try GradientRules.forward(rule, &ctx)
            if options.profile {
                let key = profileKey(step.node.op) + (fuse >= 0 && fusedWith[s] == fuse ? "+" + steps[fuse].node.op.onnxName : "")
                profile[key + " forward", default: 0] += monotonicSeconds() - started
            }
            if fusedWith[s] == fuse && fuse >= 0 {
                values[steps[fuse].output] = y
            } else {
                values[step.output] = y
            }
            saved[s] = keepForBackward
            if let statistics { updateRunningStatistics(step, statistics) }
            for id in step.inputs where id >= p && lastForwardUse[id] == s && !pinned.contains(id)
                && (!differentiable || !backwardRead[id]) {
                values[id] = nil
            }
            if !differentiable || !backwardRead[step.output], lastForwardUse[step.output] < 0,
               !pinned.contains(step.output) {
                values[step.output] = nil
            }
        }
        ctx.activation = nil
        let pass = ForwardPass(mode: mode, values: values, saved: saved, shapes: shapes, ids: ids)
        pass.fusedWith = fusedWith
        return pass
    }

    /// The forward's freeing of a step's inputs and unused output, for a fused activation step
    /// whose output its BatchNormalization already wrote.
    private func releaseAfter(_ s: Int, _ step: Step, _ values: inout [Value?], pinned: Set<Int>, differentiable: Bool) {
        let p = parameters.count
        for id in step.inputs where id >= p && lastForwardUse[id] == s && !pinned.contains(id)
            && (!differentiable || !backwardRead[id]) {
            values[id] = nil
        }
        if !differentiable || !backwardRead[step.output], lastForwardUse[step.output] < 0, !pinned.contains(step.output) {
            values[step.output] = nil
        }
    }

    func isFrozenBatchNorm(_ step: Step) -> Bool {
        let params = step.inputs.prefix(3).dropFirst().filter { $0 >= 0 && $0 < parameters.count }
        return !params.isEmpty && params.allSatisfy { frozen[$0] }
    }

    func updateRunningStatistics(_ step: Step, _ s: BatchStatistics) {
        let momentum = options.batchNormMomentum
        for (k, batch) in [(3, s.mean), (4, s.variance)] where k < step.inputs.count {
            let id = step.inputs[k]
            guard id >= 0, id < parameters.count else { continue }
            // Fresh storage: the old buffer may still be shared with a caller's view.
            let moving = parameters[id]
            let updated = Value(shape: moving.shape)
            for i in 0..<min(moving.count, batch.count) {
                updated.pointer[i] = moving.pointer[i] * momentum + batch.pointer[i] * (1 - momentum)
            }
            parameters[id] = updated
        }
    }

    // MARK: - Backward

    /// Gradients of Σ seed·value over the seeded values, w.r.t. every trainable, unfrozen
    /// parameter (and the graph inputs in `inputGradients`).
    public func backward(_ pass: ForwardPass, seeds: [String: Tensor], inputGradients: Set<String> = []) throws -> Gradients {
        var seedValues: [(Int, Value)] = []
        for (name, t) in seeds.sorted(by: { $0.key < $1.key }) {
            guard let id = ids[name] else { throw TrainingError.badGradient(name: name, detail: "no such value") }
            guard let shape = pass.shapes[id], shape == t.shape else {
                throw TrainingError.badGradient(name: name, detail: "shape \(t.shape) differs from the value's \(pass.shapes[id] ?? [])")
            }
            seedValues.append((id, Value(t)))
        }
        let wanted = Set(inputGradients.compactMap { ids[$0] })
        let grads = try backward(pass, seeds: seedValues, inputs: wanted)
        var out = Gradients(parameters: [:], inputs: [:])
        for (i, name) in parameterNames.enumerated() { if let g = grads[i] { out.parameters[name] = g.tensor } }
        for info in structure.inputs {
            if let id = ids[info.name], wanted.contains(id), let g = grads[id] { out.inputs[info.name] = g.tensor }
        }
        return out
    }

    /// Gradients by value id (parameters first, ids 0..<parameterNames.count).
    func backward(_ pass: ForwardPass, seeds: [(Int, Value)], inputs wanted: Set<Int>) throws -> [Value?] {
        let p = parameters.count
        var requires = [Bool](repeating: false, count: ids.count)
        for i in 0..<p where trainable[i] && !frozen[i] { requires[i] = true }
        for id in wanted { requires[id] = true }
        for step in steps where step.inputs.contains(where: { $0 >= 0 && requires[$0] }) { requires[step.output] = true }

        var grads = [Value?](repeating: nil, count: ids.count)
        for (id, v) in seeds { accumulate(&grads, id, v) }
        var ctx = RuleContext(mode: pass.mode, threads: options.threads, dropoutRate: options.dropoutRate, generator: generator,
                              batchNormGroup: batchNormGroup)
        for s in stride(from: steps.count - 1, through: 0, by: -1) {
            let step = steps[s]
            let fused = s < pass.fusedWith.count ? pass.fusedWith[s] : -1
            if fused >= 0 && fused < s {
                // A fused activation: its dy goes to the BatchNormalization, which masks it.
                if let dy = grads[step.output], let bn = step.inputs.first {
                    grads[step.output] = nil
                    accumulate(&grads, bn, dy)
                }
                continue
            }
            guard let dy = grads[step.output] else { continue }
            grads[step.output] = nil
            let needs = step.inputs.map { $0 >= 0 && requires[$0] }
            guard needs.contains(true) else { continue }
            ctx.activation = fused > s ? foldedActivation[s] : nil
            ctx.activated = fused > s ? pass.values[steps[fused].output] : nil
            if fused > s && ctx.activated == nil { throw TrainingError.unsupported(node: step.node.name, op: "BatchNormalization", detail: "fused activation output was not kept") }
            var operands: [Value?] = []
            var operandShapes: [[Int]?] = []
            for id in step.inputs {
                operands.append(id < 0 ? nil : id < p ? parameters[id] : pass.values[id])
                operandShapes.append(id < 0 ? nil : pass.shapes[id])
            }
            guard let outShape = pass.shapes[step.output] else { throw GraphError.missingOutput(step.node.outputs[step.part]) }
            let rule = RuleInputs(node: step.node, operands: operands, shapes: operandShapes, outShape: outShape, pool: pool,
                                  part: step.part)
            let started = options.profile ? monotonicSeconds() : 0
            let dx = try GradientRules.backward(rule, output: pass.values[step.output], saved: pass.saved[s], dy: dy,
                                                needs: needs, ctx)
            if options.profile {
                let key = profileKey(step.node.op) + (fused > s ? "+" + steps[fused].node.op.onnxName : "")
                profile[key + " backward", default: 0] += monotonicSeconds() - started
            }
            for (i, id) in step.inputs.enumerated() where id >= 0 && needs[i] && i < dx.count {
                if let g = dx[i] { accumulate(&grads, id, g) }
            }
        }
        return grads
    }

    func profileKey(_ op: Op) -> String {
        if case .conv(let a) = op, a.groups > 1 { return "Conv(grouped)" }
        if case .conv(let a) = op, a.kernelShape == [1, 1] { return "Conv(1x1)" }
        return op.onnxName
    }

    func monotonicSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// grads[id] += g, in place when the accumulator's storage is not shared.
    func accumulate(_ grads: inout [Value?], _ id: Int, _ g: Value) {
        guard var existing = grads[id] else {
            grads[id] = g
            return
        }
        grads[id] = nil
        let inPlace = isKnownUniquelyReferenced(&existing.buffer) && existing.buffer !== g.buffer
        // Shared (e.g. an Add's dy handed to both branches): the sum goes to a fresh pooled
        // block, written in the same pass that reads both operands.
        let target = inPlace ? existing : Value(shape: existing.shape, pool: pool)
        let a = existing.pointer, b = g.pointer, out = target.pointer
        let count = min(existing.count, g.count)
        for i in 0..<count { out[i] = a[i] + b[i] }
        if !inPlace && count < existing.count { (out + count).update(from: a + count, count: existing.count - count) }
        grads[id] = target
    }
}
