// The trainer-level API the CLI and the pipeline drive: one object holding a model's current
// weights, an optimizer and its state, the loss, freezing and pruning masks; `step` trains on
// one batch, `predict` runs inference-mode probabilities. It does no data loading, no epochs,
// no metrics and no file I/O (Data/, Metrics/ and SprucePipeline do).

import SpruceCore

import _SpruceSupport

/// Trains a `Model` batch by batch.
///
/// ```swift
/// let session = try TrainingSession(model: model, optimizer: .adam(learningRate: 1e-3), seed: 42)
/// session.freeze(.firstLayers(10))                    // optional
/// try session.setMasks(["conv1.weight": keep])         // optional, pruning: false = pruned
/// for (images, labels) in batches {                    // images [N, 3, H, W], labels [N] in {0, 1}
///     let loss = try session.step(inputs: images, labels: labels)
/// }
/// let probabilities = try session.predict(validationImages)   // [N] for a sigmoid head
/// let trained = session.model                          // weights and BN running statistics
/// let checkpoint = session.optimizerState()            // with trained, enough to resume
/// ```
///
/// The loss reads the logit: when the graph output is produced by Sigmoid (Softmax), the
/// session trains on that node's input with binary (softmax) cross-entropy; a graph that ends
/// in raw logits is trained the same way on its output. Labels are 0/1 floats per output
/// element for binary cross-entropy and class indices (as floats) per row for softmax.
public final class TrainingSession {
    /// The forward/backward engine holding the current parameters.
    public let executor: TrainingExecutor
    /// The optimizer and its state.
    public let optimizer: Optimizer
    /// The loss minimized.
    public let lossKind: LossKind
    /// The graph input fed with the batch.
    public let inputName: String
    /// The value the loss reads (the logits).
    public let logitName: String
    /// Whether the graph output already applies the sigmoid / softmax to the logits.
    public let outputIsProbability: Bool
    private let outputName: String
    private let source: Model
    private var maskBuffers: [Int: [Bool]] = [:]
    private var roundingBits: [Int: Int] = [:]

    /// A session over `model`. `lossKind` nil picks it from the head (Sigmoid → binary,
    /// Softmax → softmax, a raw output of width 1 → binary, wider → softmax).
    public init(model: Model, optimizer: OptimizerConfiguration = .adam(), lossKind: LossKind? = nil,
                options: TrainingOptions = TrainingOptions(), seed: UInt64 = 0) throws {
        let graph = model.graph
        guard graph.inputs.count == 1, let input = graph.inputs.first else {
            throw TrainingError.noTrainableOutput(detail: "the graph must have exactly one input, it has \(graph.inputs.count)")
        }
        guard graph.outputs.count == 1, let output = graph.outputs.first else {
            throw TrainingError.noTrainableOutput(detail: "the graph must have exactly one output, it has \(graph.outputs.count)")
        }
        source = model
        executor = try TrainingExecutor(graph: graph, options: options, seed: seed)
        self.optimizer = Optimizer(optimizer)
        inputName = input.name
        outputName = output.name
        let producer = graph.nodes.last { $0.outputs.contains(output.name) }
        switch producer?.op {
        case .sigmoid?:
            guard lossKind != .softmaxCrossEntropy else {
                throw TrainingError.noTrainableOutput(detail: "softmax cross-entropy on a sigmoid head '\(output.name)'")
            }
            self.lossKind = .binaryCrossEntropy
            logitName = producer?.inputs.first ?? output.name
            outputIsProbability = true
        case .softmax?:
            guard lossKind != .binaryCrossEntropy else {
                throw TrainingError.noTrainableOutput(detail: "binary cross-entropy on a softmax head '\(output.name)'")
            }
            self.lossKind = .softmaxCrossEntropy
            logitName = producer?.inputs.first ?? output.name
            outputIsProbability = true
        default:
            let width = output.shape.last.flatMap { $0 } ?? 1
            self.lossKind = lossKind ?? (width == 1 ? .binaryCrossEntropy : .softmaxCrossEntropy)
            logitName = output.name
            outputIsProbability = false
        }
    }

    /// Optimizer steps taken.
    public var stepCount: Int { optimizer.step }

    /// The model with the current weights and BatchNormalization running statistics.
    public var model: Model {
        var m = source
        m.graph = executor.graph
        return m
    }

    /// Freezes the parameters `rule` selects (they get no gradient, no update; frozen BatchNorm
    /// layers run in inference mode).
    public func freeze(_ rule: FreezeRule) { executor.freeze(rule) }

    /// Names of the parameters currently frozen.
    public var frozenParameters: Set<String> {
        Set(executor.parameterNames.indices.filter { executor.frozen[$0] }.map { executor.parameterNames[$0] })
    }

    /// Pruning masks by parameter name (true = kept). Setting them zeroes the pruned weights and
    /// clears their optimizer slots at once; every later step keeps them exactly zero.
    public var masks: [String: [Bool]] {
        var out: [String: [Bool]] = [:]
        for (i, m) in maskBuffers { out[executor.parameterNames[i]] = m }
        return out
    }

    /// Replaces all masks; each must name a parameter and match its element count.
    public func setMasks(_ masks: [String: [Bool]]) throws {
        var next: [Int: [Bool]] = [:]
        for (name, mask) in masks {
            guard let i = executor.parameterIndex[name] else {
                throw TrainingError.badParameterState(name: name, detail: "mask names no parameter")
            }
            guard mask.count == executor.parameters[i].count else {
                throw TrainingError.badParameterState(
                    name: name, detail: "mask has \(mask.count) entries, the parameter \(executor.parameters[i].count)")
            }
            next[i] = mask
        }
        maskBuffers = next
        for (i, mask) in next {
            let p = executor.parameters[i]
            let fresh = Value(shape: p.shape)
            for j in 0..<p.count { fresh.pointer[j] = mask[j] ? p.pointer[j] : 0 }
            executor.parameters[i] = fresh
            optimizer.clearSlots(name: executor.parameterNames[i], mask: mask)
        }
    }

    /// Quantization-aware training: by parameter name, the value width (2…8 bits) the weight will
    /// be stored at, rounded per row (dimension 0) as the artifact writer rounds it (`Int8Rows`:
    /// symmetric, the row's largest magnitude on the top step). While set, every forward pass,
    /// training and inference, sees the rounded weights, and each update applies the gradient they
    /// received to the float weights (straight-through: the rounding counts as the identity). The
    /// float weights are what `model` returns and checkpoints keep.
    public var roundedWeights: [String: Int] {
        var out: [String: Int] = [:]
        for (i, bits) in roundingBits { out[executor.parameterNames[i]] = bits }
        return out
    }

    /// Replaces `roundedWeights`; each name must be a parameter of rank ≥ 2 and each width 2…8.
    public func setRoundedWeights(_ widths: [String: Int]) throws {
        var next: [Int: Int] = [:]
        for (name, bits) in widths {
            guard let i = executor.parameterIndex[name] else {
                throw TrainingError.badParameterState(name: name, detail: "rounded width names no parameter")
            }
            guard Int8Rows.bitWidths.contains(bits), executor.parameters[i].shape.count >= 2 else {
                throw TrainingError.badParameterState(
                    name: name, detail: "cannot round a rank-\(executor.parameters[i].shape.count) parameter to \(bits) bits")
            }
            next[i] = bits
        }
        roundingBits = next
    }

    /// `body` with the rounded copies of the `roundedWeights` parameters in place of the float ones,
    /// which are put back afterwards (also when `body` throws).
    private func withRoundedWeights<R>(_ body: () throws -> R) rethrows -> R {
        guard !roundingBits.isEmpty else { return try body() }
        var floats: [(Int, Value)] = []
        for (i, bits) in roundingBits {
            let p = executor.parameters[i]
            floats.append((i, p))
            executor.parameters[i] = Self.rounded(p, bits: bits)
        }
        defer { for (i, p) in floats { executor.parameters[i] = p } }
        return try body()
    }

    /// `p` rounded per row to `bits`-bit steps of the row's scale (`Int8Rows.scale`, `quantize`).
    static func rounded(_ p: Value, bits: Int) -> Value {
        let out = Value(shape: p.shape)
        let rows = max(1, p.shape.first ?? 1), cols = p.count / rows
        for r in 0..<rows {
            let row = p.pointer + r * cols, dst = out.pointer + r * cols
            var top: Float = 0
            for j in 0..<cols { top = max(top, abs(row[j])) }
            let scale = Int8Rows.scale(maxAbs: top, bits: bits)
            guard scale > 0, scale.isFinite else {
                dst.update(from: row, count: cols)
                continue
            }
            for j in 0..<cols { dst[j] = Float(Int8Rows.quantize(row[j], scale: scale, bits: bits)) * scale }
        }
        return out
    }

    /// One training step on a batch: forward in training mode, loss, backward, optimizer update.
    /// Returns the batch loss before the update.
    @discardableResult
    public func step(inputs: Tensor, labels: [Float]) throws -> Float {
        let (loss, grads) = try withRoundedWeights { () throws -> (Float, [Value?]) in
            let pass = try executor.forward([inputName: inputs], mode: .training, keep: [logitName])
            guard let id = executor.ids[logitName], let logits = pass.values[id] else {
                throw TrainingError.noTrainableOutput(detail: "logit value '\(logitName)' was not computed")
            }
            let (loss, gradient) = try lossAndGradient(logits, labels: labels)
            guard loss.isFinite else { throw TrainingError.nonFiniteLoss(step: optimizer.step) }
            return (loss, try executor.backward(pass, seeds: [(id, Value(shape: logits.shape, buffer: FloatBuffer(gradient)))],
                                                inputs: []))
        }
        applyUpdate(grads)
        return loss
    }

    /// One data-parallel step: this rank's rows (nil or no labels when it has none this step),
    /// gradients summed over the ranks by `sync` with weight rows_local / rows_global, then the
    /// same update on every rank. Returns the global batch's mean loss.
    @discardableResult
    public func step(inputs: Tensor?, labels: [Float], sync: GradientSync, globalRows: Int) throws -> Float {
        var grads = [Value?](repeating: nil, count: executor.parameters.count)
        var loss: Float = 0
        let weight = Float(labels.count) / Float(max(globalRows, 1))
        if let inputs, !labels.isEmpty {
            try withRoundedWeights {
                let pass = try executor.forward([inputName: inputs], mode: .training, keep: [logitName])
                guard let id = executor.ids[logitName], let logits = pass.values[id] else {
                    throw TrainingError.noTrainableOutput(detail: "logit value '\(logitName)' was not computed")
                }
                let (l, gradient) = try lossAndGradient(logits, labels: labels)
                guard l.isFinite else { throw TrainingError.nonFiniteLoss(step: optimizer.step) }
                loss = l * weight
                let seed = FloatBuffer(gradient.map { $0 * weight })
                grads = try executor.backward(pass, seeds: [(id, Value(shape: logits.shape, buffer: seed))], inputs: [])
            }
        }
        let mean = try sync.reduce(&grads, executor: executor, loss: loss)
        applyUpdate(grads)
        return mean
    }

    /// The loss of a batch in inference mode (no update, no running-statistics change).
    public func loss(inputs: Tensor, labels: [Float]) throws -> Float {
        let pass = try withRoundedWeights { try executor.forward([inputName: inputs], mode: .inference, keep: [logitName], differentiable: false) }
        guard let id = executor.ids[logitName], let logits = pass.values[id] else {
            throw TrainingError.noTrainableOutput(detail: "logit value '\(logitName)' was not computed")
        }
        return try lossAndGradient(logits, labels: labels).0
    }

    /// Inference-mode probabilities: [N] for a binary head (N·K for K sigmoid outputs),
    /// [N·classes] row-major for a softmax head.
    public func predict(_ inputs: Tensor) throws -> [Float] {
        let pass = try withRoundedWeights {
            try executor.forward([inputName: inputs], mode: .inference, keep: [logitName], differentiable: false)
        }
        guard let id = executor.ids[outputIsProbability ? outputName : logitName], let out = pass.values[id] else {
            throw TrainingError.noTrainableOutput(detail: "output '\(outputName)' was not computed")
        }
        var values = out.buffer.array
        if !outputIsProbability {
            switch lossKind {
            case .binaryCrossEntropy:
                values = values.map { 1 / (1 + expf(-$0)) }
            case .softmaxCrossEntropy:
                let classes = out.shape.last ?? 1
                values = GradientRules.softmaxForwardRows(values, classes: classes)
            }
        }
        return values
    }

    /// The optimizer's step count and slots, for a checkpoint (save it with `model`).
    public func optimizerState() -> OptimizerState {
        var shapes: [String: [Int]] = [:]
        for (i, name) in executor.parameterNames.enumerated() { shapes[name] = executor.parameters[i].shape }
        return optimizer.exportState(shapes: shapes)
    }

    /// Restores a checkpoint's optimizer state (the model weights come with the `Model`).
    public func restoreOptimizerState(_ state: OptimizerState) throws {
        var counts: [String: Int] = [:]
        for (i, name) in executor.parameterNames.enumerated() { counts[name] = executor.parameters[i].count }
        try optimizer.importState(state, counts: counts)
    }

    /// The dropout generator's state (part of a checkpoint when the graph has Dropout).
    public var generatorState: UInt64 {
        get { executor.generator.state }
        set { executor.generator.state = newValue }
    }

    // MARK: - Internals

    func lossAndGradient(_ logits: Value, labels: [Float]) throws -> (Float, [Float]) {
        let z = logits.buffer.array
        switch lossKind {
        case .binaryCrossEntropy:
            guard labels.count == z.count else {
                throw TrainingError.badInput(name: "labels", detail: "\(labels.count) labels for \(z.count) logits")
            }
            return Loss.binaryCrossEntropy(logits: z, labels: labels)
        case .softmaxCrossEntropy:
            let classes = logits.shape.last ?? 1
            let indices = labels.map { Int($0) }
            guard labels.allSatisfy({ $0 == $0.rounded() && $0 >= 0 }),
                  let result = Loss.softmaxCrossEntropy(logits: z, classes: classes, labels: indices) else {
                throw TrainingError.badInput(
                    name: "labels", detail: "expected \(z.count / max(classes, 1)) class indices in 0..<\(classes)")
            }
            return result
        }
    }

    func applyUpdate(_ grads: [Value?]) {
        for i in 0..<executor.parameters.count where executor.trainable[i] && !executor.frozen[i] {
            let mask = maskBuffers[i]
            guard let g = grads[i] else {
                // No gradient reached it (unused); a masked weight still stays zero.
                continue
            }
            // In place: parameter buffers are only shared with the (finished) forward pass.
            let p = executor.parameters[i]
            let name = executor.parameterNames[i]
            if let mask {
                mask.withUnsafeBufferPointer { m in
                    optimizer.update(name: name, weight: p.pointer, gradient: g.pointer, count: p.count,
                                     rank: p.shape.count, mask: m.baseAddress, threads: executor.options.threads)
                }
            } else {
                optimizer.update(name: name, weight: p.pointer, gradient: g.pointer, count: p.count,
                                 rank: p.shape.count, mask: nil, threads: executor.options.threads)
            }
        }
        optimizer.finishStep()
    }
}
