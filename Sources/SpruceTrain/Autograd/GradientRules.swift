// Every operator's forward and backward, side by side: the trainer's one table of gradient
// rules (as in mlx / tinygrad). Adding an operator means adding its case to `forward`,
// `backward` and `backwardReads` below, nothing else (Split, the one operator with several
// outputs, runs as one step per output: `RuleInputs.part` says which). Kernels do the
// arithmetic (Kernels/); the executor (TrainingExecutor.swift) owns values, parameters and the
// walk over the graph.
// Legend: x inputs, y output, dy incoming gradient, dx outgoing gradients (nil = not needed).

import SpruceCore

import COpenBLAS
import _SpruceSupport

/// How a forward pass treats BatchNormalization and Dropout.
public enum ExecutionMode: Sendable, Equatable {
    /// Batch statistics, running-average updates, active dropout.
    case training
    /// Running statistics, dropout passes through.
    case inference
}

/// What a forward rule keeps for its backward.
enum Saved {
    case none
    case batchNorm(mean: FloatBuffer, invStd: FloatBuffer)
    /// Arg-max indices (Int32 bit patterns in a pooled float block).
    case argmax(FloatBuffer)
    case dropoutMask(FloatBuffer)
    /// Each LayerNormalization row's mean and 1/√(variance + ε).
    case layerNorm(mean: FloatBuffer, invStd: FloatBuffer)
}

/// Batch statistics a training-mode BatchNormalization hands to the executor for the running averages.
struct BatchStatistics {
    var mean: FloatBuffer
    /// Unbiased (Bessel-corrected) batch variance; see `GradientRules.batchNormForward`.
    var variance: FloatBuffer
}

/// Per-call settings and state of the rules.
struct RuleContext {
    var mode: ExecutionMode
    var threads: Int
    var dropoutRate: Float
    var generator: SeededGenerator
    /// Ranks whose batch statistics training-mode BatchNormalization shares (nil: this batch only).
    var batchNormGroup: (any Communicator)? = nil
    /// A ReLU / Clip the executor folded into this training-mode BatchNormalization: the forward
    /// writes its output, the backward receives its dy and masks it by `activated` (its output).
    var activation: BatchNormActivation? = nil
    var activated: Value? = nil
}

/// One node's operands as the rules see them.
struct RuleInputs {
    let node: Node
    /// Operand values; nil for an omitted optional input, or one the backward does not read.
    let operands: [Value?]
    /// Operand shapes (nil for omitted inputs).
    let shapes: [[Int]?]
    let outShape: [Int]
    /// Where outputs, gradients and kernel scratch come from.
    let pool: BufferPool
    /// The output of the node this step computes (a Split piece; 0 otherwise).
    var part = 0

    /// An uninitialized value from the pool.
    func make(_ shape: [Int]) -> Value { Value(shape: shape, pool: pool) }

    /// A value from the pool filled with `value`.
    func make(_ shape: [Int], repeating value: Float) -> Value {
        let v = Value(shape: shape, pool: pool)
        v.pointer.update(repeating: value, count: v.count)
        return v
    }

    func operand(_ i: Int) throws -> Value {
        guard i < operands.count, let v = operands[i] else {
            throw TrainingError.unsupported(node: node.name, op: node.op.onnxName, detail: "input \(i) is not available")
        }
        return v
    }

    func optional(_ i: Int) -> Value? { i < operands.count ? operands[i] : nil }

    func shape(_ i: Int) -> [Int] { i < shapes.count ? shapes[i] ?? [] : [] }

    func unsupported(_ detail: String) -> TrainingError {
        TrainingError.unsupported(node: node.name, op: node.op.onnxName, detail: detail)
    }
}

/// The forward/backward table.
enum GradientRules {
    /// Which operands (by input index) and whether the output the backward of `op` reads;
    /// everything else is freed after its last forward use.
    static func backwardReads(_ op: Op) -> (inputs: [Int], output: Bool) {
        switch op {
        case .conv, .batchNormalization, .mul, .div, .gemm, .matMul, .layerNormalization: ([0, 1], false)
        case .relu, .clip, .sigmoid, .hardSigmoid, .softmax: ([], true)
        case .hardSwish, .erf, .gelu: ([0], false)
        case .add, .sub, .sum, .globalAveragePool, .reduceMean, .maxPool, .averagePool, .flatten, .reshape,
             .squeeze, .unsqueeze, .transpose, .concat, .pad, .identity, .dropout, .slice, .split: ([], false)
        }
    }

    // MARK: - The table

    static func forward(_ r: RuleInputs, _ ctx: inout RuleContext) throws -> (Value, Saved, BatchStatistics?) {
        let node = r.node
        switch node.op {
        case .conv(let a):
            return (try convForward(r, a, ctx), .none, nil)
        case .batchNormalization(let epsilon):
            return try batchNormForward(r, epsilon: epsilon, ctx)
        case .relu:
            let x = try r.operand(0), y = r.make(r.outShape)
            ElementwiseKernels.relu(x.pointer, y.pointer, x.count)
            return (y, .none, nil)
        case .clip(let lo, let hi):
            let x = try r.operand(0), y = r.make(r.outShape)
            ElementwiseKernels.clip(x.pointer, y.pointer, x.count, lo: lo, hi: hi)
            return (y, .none, nil)
        case .sigmoid:
            let x = try r.operand(0), y = r.make(r.outShape)
            ElementwiseKernels.sigmoid(x.pointer, y.pointer, x.count)
            return (y, .none, nil)
        case .hardSigmoid(let alpha, let beta):
            let x = try r.operand(0), y = r.make(r.outShape)
            ElementwiseKernels.hardSigmoid(x.pointer, y.pointer, x.count, alpha: alpha, beta: beta)
            return (y, .none, nil)
        case .hardSwish:
            let x = try r.operand(0), y = r.make(r.outShape)
            ElementwiseKernels.hardSwish(x.pointer, y.pointer, x.count)
            return (y, .none, nil)
        case .erf:
            let x = try r.operand(0), y = r.make(r.outShape)
            ElementwiseKernels.erf(x.pointer, y.pointer, x.count)
            return (y, .none, nil)
        case .gelu(let tanhApproximation):
            let x = try r.operand(0), y = r.make(r.outShape)
            ElementwiseKernels.gelu(x.pointer, y.pointer, x.count, tanhApproximation: tanhApproximation)
            return (y, .none, nil)
        case .layerNormalization(let axis, let epsilon):
            let x = try r.operand(0), scale = try r.operand(1), y = r.make(r.outShape)
            let (rows, width) = layerNormRows(x.shape, axis: axis)
            let mean = FloatBuffer(count: rows, pool: r.pool), invStd = FloatBuffer(count: rows, pool: r.pool)
            LayerNormKernels.forward(x: x.pointer, scale: scale.pointer, bias: r.optional(2).map { UnsafePointer($0.pointer) },
                                     y: y.pointer, mean: mean.pointer, invStd: invStd.pointer, rows: rows, width: width,
                                     epsilon: epsilon, threads: ctx.threads)
            return (y, .layerNorm(mean: mean, invStd: invStd), nil)
        case .softmax(let axis):
            return (try softmaxForward(r, axis: axis), .none, nil)
        case .add, .sub, .mul, .div:
            let a = try r.operand(0), b = try r.operand(1), y = r.make(r.outShape)
            ElementwiseKernels.binary(binaryKind(node.op), a.pointer, a.shape, b.pointer, b.shape, y.pointer, r.outShape)
            return (y, .none, nil)
        case .sum:
            let y = r.make(r.outShape, repeating: 0)
            for i in 0..<r.operands.count {
                let a = try r.operand(i)
                ElementwiseKernels.binary(.add, y.pointer, r.outShape, a.pointer, a.shape, y.pointer, r.outShape)
            }
            return (y, .none, nil)
        case .globalAveragePool:
            let x = try r.operand(0), y = r.make(r.outShape)
            let planes = x.shape[0] * x.shape[1]
            PoolKernels.globalAverageForward(x: x.pointer, y: y.pointer, planes: planes, s: planes > 0 ? x.count / planes : 0)
            return (y, .none, nil)
        case .reduceMean(let axes, _):
            let x = try r.operand(0)
            let kept = keptShape(x.shape, axes: axes)
            let y = r.make(r.outShape)
            ElementwiseKernels.reduce(x.pointer, x.shape, into: y.pointer, kept)
            let scale = Float(y.count) / Float(max(x.count, 1))
            for i in 0..<y.count { y.pointer[i] *= scale }
            return (y, .none, nil)
        case .maxPool(let a):
            let x = try r.operand(0), y = r.make(r.outShape)
            let g = Window(input: x.shape, output: r.outShape, kernel: a.kernelShape, strides: a.strides, pads: a.pads,
                           dilations: a.dilations, autoPad: a.autoPad)
            // Int32 and Float share size and alignment; the block is only ever read back as Int32.
            let argmax = FloatBuffer(count: y.count, pool: r.pool)
            argmax.pointer.withMemoryRebound(to: Int32.self, capacity: y.count) { am in
                PoolKernels.maxForward(x: x.pointer, y: y.pointer, argmax: am, g, threads: ctx.threads)
            }
            return (y, .argmax(argmax), nil)
        case .averagePool(let a):
            let x = try r.operand(0), y = r.make(r.outShape)
            let g = Window(input: x.shape, output: r.outShape, kernel: a.kernelShape, strides: a.strides, pads: a.pads,
                           dilations: a.dilations, autoPad: a.autoPad)
            PoolKernels.averageForward(x: x.pointer, y: y.pointer, g, countIncludePad: a.countIncludePad)
            return (y, .none, nil)
        case .gemm(let a):
            return (try gemmForward(r, a), .none, nil)
        case .matMul:
            return (try matMulForward(r), .none, nil)
        case .flatten, .reshape, .squeeze, .unsqueeze, .identity:
            return (try r.operand(0).reshaped(r.outShape), .none, nil)
        case .dropout:
            let x = try r.operand(0)
            guard ctx.mode == .training, ctx.dropoutRate > 0 else { return (x.reshaped(r.outShape), .none, nil) }
            let keep = 1 - ctx.dropoutRate
            let mask = FloatBuffer(count: x.count)
            let y = r.make(r.outShape)
            for i in 0..<x.count {
                mask.pointer[i] = ctx.generator.nextUnitFloat() < keep ? 1 / keep : 0
                y.pointer[i] = x.pointer[i] * mask.pointer[i]
            }
            return (y, .dropoutMask(mask), nil)
        case .transpose(let perm):
            let x = try r.operand(0), y = r.make(r.outShape)
            permute(x.pointer, x.shape, perm ?? Array((0..<x.shape.count).reversed()), y.pointer)
            return (y, .none, nil)
        case .concat(let axis):
            let y = r.make(r.outShape)
            let ax = axis < 0 ? axis + r.outShape.count : axis
            let outer = Array(r.outShape[..<ax]).elementCount
            let total = Array(r.outShape[ax...]).elementCount
            var offset = 0
            for i in 0..<r.operands.count {
                let x = try r.operand(i)
                let chunk = Array(x.shape[ax...]).elementCount
                for o in 0..<outer { (y.pointer + o * total + offset).update(from: x.pointer + o * chunk, count: chunk) }
                offset += chunk
            }
            return (y, .none, nil)
        case .pad(let pads, let value, .constant):
            let x = try r.operand(0), y = r.make(r.outShape, repeating: value)
            padCopy(from: x.pointer, x.shape, to: y.pointer, r.outShape, pads: pads, forward: true)
            return (y, .none, nil)
        case .pad(let pads, let value, let mode):
            let x = try r.operand(0), y = r.make(r.outShape)
            PadKernels.forward(x.pointer, try Graph.padGeometry(node, pads: pads, mode: mode, input: x.shape), value: value, y.pointer)
            return (y, .none, nil)
        case .slice, .split:
            let x = try r.operand(0), y = r.make(r.outShape)
            SliceKernels.forward(x.pointer, try sliceGeometry(r, input: x.shape), y.pointer)
            return (y, .none, nil)
        }
    }

    static func backward(_ r: RuleInputs, output y: Value?, saved: Saved, dy: Value, needs: [Bool],
                         _ ctx: RuleContext) throws -> [Value?] {
        let node = r.node
        var dx = [Value?](repeating: nil, count: r.operands.count)
        func need(_ i: Int) -> Bool { i < needs.count && needs[i] }
        switch node.op {
        case .conv(let a):
            return try convBackward(r, a, dy: dy, needs: needs, ctx)
        case .batchNormalization(let epsilon):
            return try batchNormBackward(r, epsilon: epsilon, saved: saved, dy: dy, needs: needs, ctx)
        case .relu:
            guard let y else { throw r.unsupported("output was not kept") }
            let d = r.make(r.shape(0))
            ElementwiseKernels.reluBackward(y.pointer, dy.pointer, d.pointer, d.count)
            dx[0] = d
        case .clip(let lo, let hi):
            // y lies strictly inside (lo, hi) exactly where x does, so the output suffices.
            guard let y else { throw r.unsupported("output was not kept") }
            let d = r.make(r.shape(0))
            ElementwiseKernels.clipBackward(y.pointer, dy.pointer, d.pointer, d.count, lo: lo, hi: hi)
            dx[0] = d
        case .sigmoid:
            guard let y else { throw r.unsupported("output was not kept") }
            let d = r.make(r.shape(0))
            ElementwiseKernels.sigmoidBackward(y.pointer, dy.pointer, d.pointer, d.count)
            dx[0] = d
        case .hardSigmoid(let alpha, _):
            guard let y else { throw r.unsupported("output was not kept") }
            let d = r.make(r.shape(0))
            ElementwiseKernels.hardSigmoidBackward(y.pointer, dy.pointer, d.pointer, d.count, alpha: alpha)
            dx[0] = d
        case .hardSwish:
            let x = try r.operand(0), d = r.make(r.shape(0))
            ElementwiseKernels.hardSwishBackward(x.pointer, dy.pointer, d.pointer, d.count)
            dx[0] = d
        case .erf:
            let x = try r.operand(0), d = r.make(r.shape(0))
            ElementwiseKernels.erfBackward(x.pointer, dy.pointer, d.pointer, d.count)
            dx[0] = d
        case .gelu(let tanhApproximation):
            let x = try r.operand(0), d = r.make(r.shape(0))
            ElementwiseKernels.geluBackward(x.pointer, dy.pointer, d.pointer, d.count, tanhApproximation: tanhApproximation)
            dx[0] = d
        case .layerNormalization(let axis, _):
            guard case .layerNorm(let mean, let invStd) = saved else { throw r.unsupported("row statistics were not kept") }
            let x = try r.operand(0), scale = try r.operand(1)
            let (rows, width) = layerNormRows(x.shape, axis: axis)
            let d = need(0) ? r.make(x.shape) : nil
            let dScale = need(1) ? r.make(r.shape(1)) : nil
            let dBias = need(2) ? r.make(r.shape(2)) : nil
            LayerNormKernels.backward(x: x.pointer, scale: scale.pointer, dy: dy.pointer, mean: mean.pointer, invStd: invStd.pointer,
                                      dx: d?.pointer, dScale: dScale?.pointer, dBias: dBias?.pointer,
                                      rows: rows, width: width, threads: ctx.threads)
            dx[0] = d
            if dx.count > 1 { dx[1] = dScale }
            if dx.count > 2 { dx[2] = dBias }
        case .softmax(let axis):
            guard let y else { throw r.unsupported("output was not kept") }
            dx[0] = softmaxBackward(r, y, dy: dy, axis: axis)
        case .add, .sum:
            for i in 0..<r.operands.count where need(i) { dx[i] = reduced(r, dy, to: r.shape(i)) }
        case .sub:
            if need(0) { dx[0] = reduced(r, dy, to: r.shape(0)) }
            if need(1) {
                let d = reduced(r, dy, to: r.shape(1), copy: true)
                for i in 0..<d.count { d.pointer[i] = -d.pointer[i] }
                dx[1] = d
            }
        case .mul:
            let a = try r.operand(0), b = try r.operand(1)
            for (i, other) in [(0, b), (1, a)] where need(i) {
                let full = r.make(r.outShape)
                ElementwiseKernels.binary(.mul, dy.pointer, r.outShape, other.pointer, other.shape, full.pointer, r.outShape)
                dx[i] = reduced(r, full, to: r.shape(i))
            }
        case .div:
            let a = try r.operand(0), b = try r.operand(1)
            if need(0) {
                let full = r.make(r.outShape)
                ElementwiseKernels.binary(.div, dy.pointer, r.outShape, b.pointer, b.shape, full.pointer, r.outShape)
                dx[0] = reduced(r, full, to: r.shape(0))
            }
            if need(1) {
                // d(a/b)/db = −a/b²: build −dy·a, then divide by b twice.
                let full = r.make(r.outShape)
                ElementwiseKernels.binary(.mul, dy.pointer, r.outShape, a.pointer, a.shape, full.pointer, r.outShape)
                ElementwiseKernels.binary(.div, full.pointer, r.outShape, b.pointer, b.shape, full.pointer, r.outShape)
                ElementwiseKernels.binary(.div, full.pointer, r.outShape, b.pointer, b.shape, full.pointer, r.outShape)
                for i in 0..<full.count { full.pointer[i] = -full.pointer[i] }
                dx[1] = reduced(r, full, to: r.shape(1))
            }
        case .globalAveragePool:
            let shape = r.shape(0)
            let d = r.make(shape)
            let planes = shape[0] * shape[1]
            PoolKernels.globalAverageBackward(dy: dy.pointer, dx: d.pointer, planes: planes, s: planes > 0 ? d.count / planes : 0)
            dx[0] = d
        case .reduceMean(let axes, _):
            let shape = r.shape(0)
            let kept = keptShape(shape, axes: axes)
            let d = r.make(shape)
            var scale = Float(dy.count) / Float(max(d.count, 1))
            ElementwiseKernels.binary(.mul, dy.pointer, kept, &scale, [], d.pointer, shape)
            dx[0] = d
        case .maxPool(let a):
            guard case .argmax(let argmax) = saved else { throw r.unsupported("arg-max was not kept") }
            let d = r.make(r.shape(0))
            let g = Window(input: d.shape, output: r.outShape, kernel: a.kernelShape, strides: a.strides, pads: a.pads,
                           dilations: a.dilations, autoPad: a.autoPad)
            argmax.pointer.withMemoryRebound(to: Int32.self, capacity: argmax.count) { am in
                PoolKernels.maxBackward(dy: dy.pointer, argmax: am, dx: d.pointer, g, threads: ctx.threads)
            }
            dx[0] = d
        case .averagePool(let a):
            let d = r.make(r.shape(0))
            let g = Window(input: d.shape, output: r.outShape, kernel: a.kernelShape, strides: a.strides, pads: a.pads,
                           dilations: a.dilations, autoPad: a.autoPad)
            PoolKernels.averageBackward(dy: dy.pointer, dx: d.pointer, g, countIncludePad: a.countIncludePad)
            dx[0] = d
        case .gemm(let a):
            return try gemmBackward(r, a, dy: dy, needs: needs)
        case .matMul:
            return try matMulBackward(r, dy: dy, needs: needs)
        case .flatten, .reshape, .squeeze, .unsqueeze, .identity:
            dx[0] = dy.reshaped(r.shape(0))
        case .dropout:
            if case .dropoutMask(let mask) = saved {
                let d = r.make(r.shape(0))
                for i in 0..<d.count { d.pointer[i] = dy.pointer[i] * mask.pointer[i] }
                dx[0] = d
            } else {
                dx[0] = dy.reshaped(r.shape(0))
            }
        case .transpose(let perm):
            let shape = r.shape(0)
            let p = perm ?? Array((0..<shape.count).reversed())
            var inverse = [Int](repeating: 0, count: p.count)
            for (i, axis) in p.enumerated() { inverse[axis] = i }
            let d = r.make(shape)
            permute(dy.pointer, r.outShape, inverse, d.pointer)
            dx[0] = d
        case .concat(let axis):
            let ax = axis < 0 ? axis + r.outShape.count : axis
            let outer = Array(r.outShape[..<ax]).elementCount
            let total = Array(r.outShape[ax...]).elementCount
            var offset = 0
            for i in 0..<r.operands.count {
                let shape = r.shape(i)
                let chunk = Array(shape[ax...]).elementCount
                if need(i) {
                    let d = r.make(shape)
                    for o in 0..<outer { (d.pointer + o * chunk).update(from: dy.pointer + o * total + offset, count: chunk) }
                    dx[i] = d
                }
                offset += chunk
            }
        case .pad(let pads, _, .constant):
            let d = r.make(r.shape(0), repeating: 0)
            padCopy(from: d.pointer, d.shape, to: dy.pointer, r.outShape, pads: pads, forward: false)
            dx[0] = d
        case .pad(let pads, _, let mode):
            // Border cells copy input cells, so their gradient adds up at those cells.
            let d = r.make(r.shape(0), repeating: 0)
            PadKernels.backward(dy.pointer, try Graph.padGeometry(node, pads: pads, mode: mode, input: d.shape), d.pointer)
            dx[0] = d
        case .slice, .split:
            // One piece's dy in zeros of the input shape; a Split's pieces accumulate at the input.
            let d = r.make(r.shape(0), repeating: 0)
            SliceKernels.backward(dy.pointer, try sliceGeometry(r, input: d.shape), d.pointer)
            dx[0] = d
        }
        return dx
    }

    /// The crop a Slice step, or the piece `r.part` of a Split step, reads from `input`.
    static func sliceGeometry(_ r: RuleInputs, input: [Int]) throws -> SliceGeometry {
        switch r.node.op {
        case .slice(let starts, let ends, let axes, let steps):
            return try Graph.sliceGeometry(r.node, starts: starts, ends: ends, axes: axes, steps: steps, input: input)
        case .split(let axis, let sizes):
            let pieces = try Graph.splitGeometries(r.node, axis: axis, sizes: sizes, input: input)
            guard r.part < pieces.count else { throw r.unsupported("no output \(r.part)") }
            return pieces[r.part]
        default:
            throw r.unsupported("not a slice")
        }
    }

    // MARK: - Convolution

    static func window(_ r: RuleInputs, _ a: ConvAttributes, input: [Int]) -> Window {
        Window(input: input, output: r.outShape, kernel: a.kernelShape, strides: a.strides, pads: a.pads,
               dilations: a.dilations, autoPad: a.autoPad)
    }

    static func isDepthwise(_ a: ConvAttributes, input: [Int], weight: [Int]) -> Bool {
        a.groups > 1 && a.groups == input[1] && weight[0] == input[1] && weight[1] == 1
    }

    static func convForward(_ r: RuleInputs, _ a: ConvAttributes, _ ctx: RuleContext) throws -> Value {
        guard a.activation == .none else { throw r.unsupported("fused activations are for inference graphs only") }
        let x = try r.operand(0), w = try r.operand(1), b = r.optional(2)
        let g = window(r, a, input: x.shape)
        let y = r.make(r.outShape)
        if isDepthwise(a, input: x.shape, weight: w.shape) {
            DepthwiseKernels.forward(x: x.pointer, weight: w.pointer, bias: b?.pointer, y: y.pointer, g, threads: ctx.threads)
        } else {
            ConvolutionKernels.forward(x: x.pointer, weight: w.pointer, bias: b?.pointer, y: y.pointer, g,
                                       m: w.shape[0], groups: a.groups, pool: r.pool, threads: ctx.threads)
        }
        return y
    }

    static func convBackward(_ r: RuleInputs, _ a: ConvAttributes, dy: Value, needs: [Bool],
                             _ ctx: RuleContext) throws -> [Value?] {
        let x = try r.operand(0), w = try r.operand(1)
        let g = window(r, a, input: x.shape)
        let need = (0..<3).map { $0 < needs.count && needs[$0] }
        let dx = need[0] ? r.make(x.shape) : nil
        let dw = need[1] ? r.make(w.shape) : nil
        let db = need[2] ? r.make(r.shape(2)) : nil
        if isDepthwise(a, input: x.shape, weight: w.shape) {
            DepthwiseKernels.backward(x: x.pointer, weight: w.pointer, dy: dy.pointer, dx: dx?.pointer,
                                      dWeight: dw?.pointer, dBias: db?.pointer, g, threads: ctx.threads)
        } else {
            ConvolutionKernels.backward(x: x.pointer, weight: w.pointer, dy: dy.pointer, dx: dx?.pointer,
                                        dWeight: dw?.pointer, dBias: db?.pointer, g, m: w.shape[0], groups: a.groups, pool: r.pool, threads: ctx.threads)
        }
        var out: [Value?] = [dx, dw, db]
        while out.count > r.operands.count { out.removeLast() }
        return out
    }

    // MARK: - Batch normalization

    /// Training mode normalizes with the biased batch variance (what the forward formula is) and
    /// hands the executor the unbiased variance for the moving average. Keras' BatchNormalization
    /// on 4-D inputs runs TensorFlow's fused kernel, which applies Bessel's correction
    /// (m / (m − 1), m = N·H·W) to the variance it feeds the moving average; PyTorch does the
    /// same. Matching it keeps moving variances comparable with the study's models.
    static func batchNormForward(_ r: RuleInputs, epsilon: Float, _ ctx: RuleContext) throws
        -> (Value, Saved, BatchStatistics?) {
        let x = try r.operand(0), scale = r.optional(1), bias = try r.operand(2)
        let n = x.shape[0], c = x.shape[1], s = c > 0 && n > 0 ? x.count / (n * c) : 0
        let y = r.make(r.outShape)
        guard ctx.mode == .training else {
            let mean = try r.operand(3), variance = try r.operand(4)
            BatchNormKernels.forwardInference(x: x.pointer, scale: scale?.pointer, bias: bias.pointer, mean: mean.pointer,
                                              variance: variance.pointer, y: y.pointer, n: n, c: c, s: s,
                                              epsilon: epsilon, threads: ctx.threads)
            return (y, .none, nil)
        }
        let mean = FloatBuffer(count: c), variance = FloatBuffer(count: c), invStd = FloatBuffer(count: c)
        var m = n * s
        if let group = ctx.batchNormGroup {
            m = try SyncBatchNorm.forward(x: x.pointer, scale: scale?.pointer, bias: bias.pointer, y: y.pointer,
                                          mean: mean.pointer, variance: variance.pointer, invStd: invStd.pointer,
                                          n: n, c: c, s: s, epsilon: epsilon, communicator: group)
        } else {
            BatchNormKernels.forwardTraining(x: x.pointer, scale: scale?.pointer, bias: bias.pointer, y: y.pointer,
                                             mean: mean.pointer, variance: variance.pointer, invStd: invStd.pointer,
                                             n: n, c: c, s: s, epsilon: epsilon, threads: ctx.threads,
                                             activation: ctx.activation)
        }
        let correction: Float = m > 1 ? Float(m) / Float(m - 1) : 1
        for i in 0..<c { variance.pointer[i] *= correction }
        return (y, .batchNorm(mean: mean, invStd: invStd), BatchStatistics(mean: mean, variance: variance))
    }

    static func batchNormBackward(_ r: RuleInputs, epsilon: Float, saved: Saved, dy: Value, needs: [Bool],
                                  _ ctx: RuleContext) throws -> [Value?] {
        let x = try r.operand(0), scale = r.optional(1)
        let n = x.shape[0], c = x.shape[1], s = c > 0 && n > 0 ? x.count / (n * c) : 0
        let need = (0..<3).map { $0 < needs.count && needs[$0] }
        let dx = need[0] ? r.make(x.shape) : nil
        let dScale = need[1] ? r.make([c]) : nil
        let dBias = need[2] ? r.make([c]) : nil
        if case .batchNorm(let mean, let invStd) = saved, let group = ctx.batchNormGroup {
            try SyncBatchNorm.backward(x: x.pointer, scale: scale?.pointer, dy: dy.pointer, mean: mean.pointer,
                                       invStd: invStd.pointer, dx: dx?.pointer, dScale: dScale?.pointer,
                                       dBias: dBias?.pointer, n: n, c: c, s: s, communicator: group)
        } else if case .batchNorm(let mean, let invStd) = saved {
            BatchNormKernels.backwardTraining(x: x.pointer, scale: scale?.pointer, dy: dy.pointer, mean: mean.pointer,
                                              invStd: invStd.pointer, dx: dx?.pointer, dScale: dScale?.pointer,
                                              dBias: dBias?.pointer, n: n, c: c, s: s, threads: ctx.threads,
                                              activation: ctx.activation, activated: ctx.activated.map { UnsafePointer($0.pointer) })
        } else {
            guard let mean = r.optional(3), let variance = r.optional(4) else {
                throw r.unsupported("running statistics are not available")
            }
            BatchNormKernels.backwardInference(x: x.pointer, scale: scale?.pointer, dy: dy.pointer, mean: mean.pointer,
                                               variance: variance.pointer, dx: dx?.pointer, dScale: dScale?.pointer,
                                               dBias: dBias?.pointer, n: n, c: c, s: s, epsilon: epsilon)
        }
        var out = [Value?](repeating: nil, count: r.operands.count)
        out[0] = dx
        if out.count > 1 { out[1] = dScale }
        if out.count > 2 { out[2] = dBias }
        return out
    }

    // MARK: - Gemm and MatMul

    static func gemmForward(_ r: RuleInputs, _ a: GemmAttributes) throws -> Value {
        let x = try r.operand(0), w = try r.operand(1)
        let m = r.outShape[0], n = r.outShape[1], k = a.transA ? x.shape[0] : x.shape[1]
        let y = r.make(r.outShape, repeating: 0)
        var beta: Float = 0
        if let c = r.optional(2), a.beta != 0 {
            var b = a.beta
            ElementwiseKernels.binary(.mul, c.pointer, c.shape, &b, [], y.pointer, r.outShape)
            beta = 1
        }
        if m > 0 && n > 0 && k > 0 {
            cblas_sgemm(CblasRowMajor, a.transA ? CblasTrans : CblasNoTrans, a.transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), a.alpha, x.pointer, Int32(x.shape[1]), w.pointer,
                        Int32(w.shape[1]), beta, y.pointer, Int32(n))
        }
        return y
    }

    static func gemmBackward(_ r: RuleInputs, _ a: GemmAttributes, dy: Value, needs: [Bool]) throws -> [Value?] {
        let x = try r.operand(0), w = try r.operand(1)
        let m = r.outShape[0], n = r.outShape[1], k = a.transA ? x.shape[0] : x.shape[1]
        var out = [Value?](repeating: nil, count: r.operands.count)
        let noT = CblasNoTrans, t = CblasTrans
        if needs.count > 0 && needs[0] {
            let d = r.make(x.shape, repeating: 0)
            if m > 0 && n > 0 && k > 0 {
                if !a.transA {
                    // dA[M,K] = α·dY[M,N]·op(B)ᵀ
                    cblas_sgemm(CblasRowMajor, noT, a.transB ? noT : t, Int32(m), Int32(k), Int32(n), a.alpha,
                                dy.pointer, Int32(n), w.pointer, Int32(w.shape[1]), 0, d.pointer, Int32(k))
                } else {
                    // dA[K,M] = α·op(B)[K,N]·dYᵀ
                    cblas_sgemm(CblasRowMajor, a.transB ? t : noT, t, Int32(k), Int32(m), Int32(n), a.alpha,
                                w.pointer, Int32(w.shape[1]), dy.pointer, Int32(n), 0, d.pointer, Int32(m))
                }
            }
            out[0] = d
        }
        if needs.count > 1 && needs[1] {
            let d = r.make(w.shape, repeating: 0)
            if m > 0 && n > 0 && k > 0 {
                if !a.transB {
                    // dB[K,N] = α·op(A)ᵀ·dY
                    cblas_sgemm(CblasRowMajor, a.transA ? noT : t, noT, Int32(k), Int32(n), Int32(m), a.alpha,
                                x.pointer, Int32(x.shape[1]), dy.pointer, Int32(n), 0, d.pointer, Int32(n))
                } else {
                    // dB[N,K] = α·dYᵀ·op(A)
                    cblas_sgemm(CblasRowMajor, t, a.transA ? t : noT, Int32(n), Int32(k), Int32(m), a.alpha,
                                dy.pointer, Int32(n), x.pointer, Int32(x.shape[1]), 0, d.pointer, Int32(k))
                }
            }
            out[1] = d
        }
        if needs.count > 2 && needs[2] {
            let d = reduced(r, dy, to: r.shape(2), copy: true)
            for i in 0..<d.count { d.pointer[i] *= a.beta }
            out[2] = d
        }
        return out
    }

    /// MatMul as rows × matrix (B of rank ≤ 2) or as equal-batch matrix products.
    struct MatMulPlan {
        var batches: Int, m: Int, k: Int, n: Int
        var aStride: Int, bStride: Int
    }

    static func matMulPlan(_ r: RuleInputs) throws -> MatMulPlan {
        let sa = r.shape(0), sb = r.shape(1)
        guard !sa.isEmpty, !sb.isEmpty else { throw r.unsupported("scalar operands") }
        let k = sa[sa.count - 1]
        if sb.count <= 2 {
            let n = sb.count == 1 ? 1 : sb[1]
            return MatMulPlan(batches: 1, m: Array(sa.dropLast()).elementCount, k: k, n: n, aStride: 0, bStride: 0)
        }
        guard sa.count == sb.count, Array(sa.dropLast(2)) == Array(sb.dropLast(2)) else {
            throw r.unsupported("batch broadcasting between \(sa) and \(sb)")
        }
        let m = sa[sa.count - 2], n = sb[sb.count - 1]
        return MatMulPlan(batches: Array(sa.dropLast(2)).elementCount, m: m, k: k, n: n, aStride: m * k, bStride: k * n)
    }

    static func matMulForward(_ r: RuleInputs) throws -> Value {
        let a = try r.operand(0), b = try r.operand(1), p = try matMulPlan(r)
        let y = r.make(r.outShape, repeating: 0)
        guard p.m > 0, p.n > 0, p.k > 0 else { return y }
        for i in 0..<p.batches {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(p.m), Int32(p.n), Int32(p.k), 1,
                        a.pointer + i * p.aStride, Int32(p.k), b.pointer + i * p.bStride, Int32(p.n), 0,
                        y.pointer + i * p.m * p.n, Int32(p.n))
        }
        return y
    }

    static func matMulBackward(_ r: RuleInputs, dy: Value, needs: [Bool]) throws -> [Value?] {
        let a = try r.operand(0), b = try r.operand(1), p = try matMulPlan(r)
        var out: [Value?] = [nil, nil]
        let da = !needs.isEmpty && needs[0] ? r.make(a.shape, repeating: 0) : nil
        let db = needs.count > 1 && needs[1] ? r.make(b.shape, repeating: 0) : nil
        if p.m > 0 && p.n > 0 && p.k > 0 {
            for i in 0..<p.batches {
                let g = dy.pointer + i * p.m * p.n
                if let da {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(p.m), Int32(p.k), Int32(p.n), 1,
                                g, Int32(p.n), b.pointer + i * p.bStride, Int32(p.n), 0, da.pointer + i * p.aStride, Int32(p.k))
                }
                if let db {
                    // With a shared B (bStride 0) the batches' contributions accumulate.
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(p.k), Int32(p.n), Int32(p.m), 1,
                                a.pointer + i * p.aStride, Int32(p.k), g, Int32(p.n), p.bStride == 0 && i > 0 ? 1 : 0,
                                db.pointer + i * p.bStride, Int32(p.n))
                }
            }
        }
        out[0] = da
        out[1] = db
        return out
    }

    // MARK: - Softmax

    static func softmaxForward(_ r: RuleInputs, axis: Int) throws -> Value {
        let x = try r.operand(0), y = r.make(r.outShape)
        let (outer, d, inner) = softmaxSplit(x.shape, axis: axis)
        for a in 0..<outer {
            for b in 0..<inner {
                let base = a * d * inner + b
                var peak = -Float.infinity
                for i in 0..<d { peak = max(peak, x.pointer[base + i * inner]) }
                var sum: Float = 0
                for i in 0..<d {
                    let e = expf(x.pointer[base + i * inner] - peak)
                    y.pointer[base + i * inner] = e
                    sum += e
                }
                for i in 0..<d { y.pointer[base + i * inner] /= sum }
            }
        }
        return y
    }

    /// dx = y·(dy − Σ dy·y) along the axis.
    static func softmaxBackward(_ r: RuleInputs, _ y: Value, dy: Value, axis: Int) -> Value {
        let d = r.make(y.shape)
        let (outer, n, inner) = softmaxSplit(y.shape, axis: axis)
        for a in 0..<outer {
            for b in 0..<inner {
                let base = a * n * inner + b
                var dot: Float = 0
                for i in 0..<n { dot += dy.pointer[base + i * inner] * y.pointer[base + i * inner] }
                for i in 0..<n {
                    let j = base + i * inner
                    d.pointer[j] = y.pointer[j] * (dy.pointer[j] - dot)
                }
            }
        }
        return d
    }

    /// Row-wise softmax of `classes`-wide rows (for predictions from a raw-logit head).
    static func softmaxForwardRows(_ z: [Float], classes: Int) -> [Float] {
        guard classes > 0 else { return z }
        var out = z
        for base in stride(from: 0, to: z.count, by: classes) {
            var peak = -Float.infinity
            for c in 0..<classes { peak = max(peak, z[base + c]) }
            var sum: Float = 0
            for c in 0..<classes { out[base + c] = expf(z[base + c] - peak); sum += out[base + c] }
            for c in 0..<classes { out[base + c] /= sum }
        }
        return out
    }

    /// LayerNormalization's [rows × width] view of `shape`: width covers the axes from `axis` on.
    static func layerNormRows(_ shape: [Int], axis: Int) -> (rows: Int, width: Int) {
        let ax = axis < 0 ? axis + shape.count : axis
        return (Array(shape[..<ax]).elementCount, Array(shape[ax...]).elementCount)
    }

    static func softmaxSplit(_ shape: [Int], axis: Int) -> (Int, Int, Int) {
        guard !shape.isEmpty else { return (1, 1, 1) }
        let ax = axis < 0 ? axis + shape.count : axis
        return (Array(shape[..<ax]).elementCount, shape[ax], Array(shape[(ax + 1)...]).elementCount)
    }

    // MARK: - Helpers

    static func binaryKind(_ op: Op) -> BinaryKind {
        switch op {
        case .sub: .sub
        case .mul: .mul
        case .div: .div
        default: .add
        }
    }

    /// `shape` with the reduced axes kept as 1 (all axes when `axes` is empty).
    static func keptShape(_ shape: [Int], axes: [Int]) -> [Int] {
        let set = Set((axes.isEmpty ? Array(0..<shape.count) : axes).map { $0 < 0 ? $0 + shape.count : $0 })
        return shape.enumerated().map { set.contains($0.offset) ? 1 : $0.element }
    }

    /// `dy` summed down to `shape` (shared, not copied, when no axis is broadcast unless `copy`).
    static func reduced(_ r: RuleInputs, _ dy: Value, to shape: [Int], copy: Bool = false) -> Value {
        if shape.elementCount == dy.count && !copy { return dy.reshaped(shape) }
        let d = r.make(shape)
        if shape.elementCount == dy.count {
            d.pointer.update(from: dy.pointer, count: dy.count)
        } else {
            ElementwiseKernels.reduce(dy.pointer, dy.shape, into: d.pointer, shape)
        }
        return d
    }

    /// dst = src with axes permuted: output axis i is input axis perm[i].
    static func permute(_ src: UnsafePointer<Float>, _ shape: [Int], _ perm: [Int], _ dst: UnsafeMutablePointer<Float>) {
        guard !shape.isEmpty else {
            dst[0] = src[0]
            return
        }
        let outShape = perm.map { shape[$0] }
        let inStrides = shape.rowMajorStrides
        let source = perm.map { inStrides[$0] }
        let zeros = [Int](repeating: 0, count: perm.count)
        let n = outShape[outShape.count - 1], step = source[source.count - 1]
        ElementwiseKernels.forEachRow(outShape, source, zeros) { o, s, _ in
            for i in 0..<n { dst[o + i] = src[s + i * step] }
        }
    }

    /// Constant-pad copy between the input (`small`) and the padded output (`big`): forward copies
    /// small → big, backward copies big → small (the gradient crop). Negative pads crop.
    static func padCopy(from small: UnsafeMutablePointer<Float>, _ smallShape: [Int],
                        to big: UnsafeMutablePointer<Float>, _ bigShape: [Int], pads: [Int], forward: Bool) {
        let rank = bigShape.count
        guard rank > 0, bigShape.elementCount > 0, smallShape.elementCount > 0 else { return }
        let smallStrides = smallShape.rowMajorStrides
        let last = rank - 1
        var index = [Int](repeating: 0, count: last)
        let rows = Array(bigShape.dropLast()).elementCount
        for row in 0..<rows {
            var src = 0, inside = true
            for axis in 0..<last {
                let i = index[axis] - pads[axis]
                if i < 0 || i >= smallShape[axis] { inside = false; break }
                src += i * smallStrides[axis]
            }
            if inside {
                let dst = row * bigShape[last]
                for j in 0..<bigShape[last] {
                    let i = j - pads[last]
                    guard i >= 0 && i < smallShape[last] else { continue }
                    if forward { big[dst + j] = small[src + i] } else { small[src + i] = big[dst + j] }
                }
            }
            var axis = last - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < bigShape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
    }
}
