// The reference executor: evaluates a graph node by node with plain, obviously correct loops.
// It is the oracle that the runtime, the trainer and the ONNX import are tested against, so
// clarity wins over speed; kernels still index flat buffers so real models run in seconds.
// It does not plan memory, fuse or parallelize anything. Kernels live in ReferenceExecutor+*.swift.

import _SpruceSupport

/// Runs a `Graph` on concrete inputs with straightforward loops (any batch size).
///
/// ```swift
/// let outputs = try ReferenceExecutor(graph: graph).run(["input": image])
/// ```
public struct ReferenceExecutor: Sendable {
    /// The graph being evaluated.
    public let graph: Graph

    /// An executor for `graph`; nothing is checked until `run`.
    public init(graph: Graph) {
        self.graph = graph
    }

    /// Evaluates the graph and returns its outputs by name.
    ///
    /// Throws `GraphError.badInput` for a missing, unknown or mis-shaped input, and any
    /// `GraphError` that shape inference reports for the graph.
    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        try run(inputs, substituting: { _, _ in nil })
    }

    /// `run`, asking `substitute(node, operands)` before each node for operands to evaluate it
    /// with instead (same count; nil: the node's own). Later nodes see the substituted node's
    /// output. Calibration uses it to swap a layer's weights as it reaches the layer.
    public func run(_ inputs: [String: Tensor],
                    substituting substitute: (Node, [Tensor?]) throws -> [Tensor?]?) throws -> [String: Tensor] {
        let declared = Set(graph.inputs.map(\.name))
        for name in inputs.keys.sorted() where !declared.contains(name) {
            throw GraphError.badInput(name: name, detail: "not an input of the graph")
        }
        var inputShapes: [String: [Int]] = [:]
        for info in graph.inputs {
            guard let tensor = inputs[info.name] else {
                throw GraphError.badInput(name: info.name, detail: "not supplied")
            }
            guard tensor.shape.allSatisfy({ $0 >= 0 }), tensor.shape.elementCount == tensor.data.count else {
                throw GraphError.badInput(
                    name: info.name, detail: "shape \(tensor.shape) does not match \(tensor.data.count) elements")
            }
            inputShapes[info.name] = tensor.shape
        }
        let shapes = try graph.inferShapes(inputShapes: inputShapes)

        // Free each intermediate after its last reader so deep networks stay small in memory.
        var lastUse: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() {
            for name in node.inputs where !name.isEmpty { lastUse[name] = i }
        }
        let keep = Set(graph.outputs.map(\.name)).union(graph.initializers.keys)

        var values = inputs
        for (i, node) in graph.nodes.enumerated() {
            var operands: [Tensor?] = []
            for name in node.inputs {
                if name.isEmpty { operands.append(nil); continue }
                guard let t = values[name] ?? graph.initializers[name] else {
                    throw GraphError.undefinedValue(node: node.name, value: name)
                }
                operands.append(t)
            }
            if let replaced = try substitute(node, operands) {
                guard replaced.count == operands.count else {
                    throw GraphError.arity(node: node.name, op: node.op.onnxName,
                                           detail: "\(replaced.count) substituted operands for \(operands.count)")
                }
                operands = replaced
            }
            var outShapes: [[Int]] = []
            for name in node.outputs {
                guard let shape = shapes[name] else { throw GraphError.missingOutput(name) }
                outShapes.append(shape)
            }
            for (name, tensor) in zip(node.outputs, try Self.evaluateOutputs(node, operands, outputShapes: outShapes)) {
                values[name] = tensor
            }
            for name in node.inputs where !name.isEmpty && lastUse[name] == i && !keep.contains(name) {
                values[name] = nil
            }
        }

        var result: [String: Tensor] = [:]
        for info in graph.outputs {
            guard let t = values[info.name] ?? graph.initializers[info.name] else {
                throw GraphError.missingOutput(info.name)
            }
            result[info.name] = t
        }
        return result
    }

    /// Every output of one node (several for Split) on concrete operands.
    static func evaluateOutputs(_ node: Node, _ operands: [Tensor?], outputShapes: [[Int]]) throws -> [Tensor] {
        guard case .split(let axis, let sizes) = node.op else {
            return [try evaluate(node, operands, outputShape: outputShapes.first ?? [])]
        }
        guard let x = operands.first ?? nil else {
            throw GraphError.arity(node: node.name, op: node.op.onnxName, detail: "input 0 is missing")
        }
        return try Graph.splitGeometries(node, axis: axis, sizes: sizes, input: x.shape).map { slice(x, $0) }
    }

    /// One node on concrete operands; `outputShape` comes from shape inference, which has
    /// already checked every rule, so kernels only compute.
    static func evaluate(_ node: Node, _ operands: [Tensor?], outputShape: [Int]) throws -> Tensor {
        func operand(_ i: Int) throws -> Tensor {
            guard i < operands.count, let t = operands[i] else {
                throw GraphError.arity(node: node.name, op: node.op.onnxName, detail: "input \(i) is missing")
            }
            return t
        }
        let x = try operand(0)
        switch node.op {
        case .conv(let a):
            let geometry = try Graph.windowGeometry(
                node: node, input: [x.shape[2], x.shape[3]], kernel: a.kernelShape, strides: a.strides,
                pads: a.pads, dilations: a.dilations, autoPad: a.autoPad, ceilMode: false)
            let bias = operands.count > 2 ? operands[2] : nil
            return conv2D(x, weight: try operand(1), bias: bias, attributes: a, geometry: geometry,
                          outputShape: outputShape)
        case .batchNormalization(let epsilon):
            // An omitted scale ("") is fixed at 1 (Keras `scale=False`).
            let scale = operands.count > 1 ? operands[1] : nil
            return batchNormalization(x, scale: scale, bias: try operand(2), mean: try operand(3),
                                      variance: try operand(4), epsilon: epsilon)
        case .maxPool(let a), .averagePool(let a):
            let geometry = try Graph.windowGeometry(
                node: node, input: [x.shape[2], x.shape[3]], kernel: a.kernelShape, strides: a.strides,
                pads: a.pads, dilations: a.dilations, autoPad: a.autoPad, ceilMode: a.ceilMode)
            if case .maxPool = node.op {
                return maxPool(x, attributes: a, geometry: geometry, outputShape: outputShape)
            }
            return averagePool(x, attributes: a, geometry: geometry, outputShape: outputShape)
        case .globalAveragePool:
            return globalAveragePool(x, outputShape: outputShape)
        case .reduceMean(let axes, let keepDims):
            let set = Set((axes.isEmpty ? Array(0..<x.rank) : axes).compactMap {
                Graph.normalizedAxis($0, rank: x.rank)
            })
            return reduceMean(x, axes: set, keepDims: keepDims, outputShape: outputShape)
        case .relu:
            return map(x) { $0 > 0 ? $0 : 0 }
        case .clip(let lo, let hi):
            return map(x) { min(max($0, lo), hi) }
        case .sigmoid:
            return map(x) { 1 / (1 + expf(-$0)) }
        case .hardSigmoid(let alpha, let beta):
            return map(x) { max(0, min(1, alpha * $0 + beta)) }
        case .hardSwish:
            return map(x) { $0 * max(0, min(1, $0 / 6 + 0.5)) }
        case .erf:
            return map(x) { Float(erf(Double($0))) }
        case .gelu(let tanhApproximation):
            return map(x) { Float(gelu(Double($0), tanhApproximation: tanhApproximation)) }
        case .layerNormalization(let axis, let epsilon):
            let bias = operands.count > 2 ? operands[2] : nil
            return layerNormalization(x, scale: try operand(1), bias: bias,
                                      axis: Graph.normalizedAxis(axis, rank: x.rank) ?? 0, epsilon: epsilon)
        case .softmax(let axis):
            return softmax(x, axis: Graph.normalizedAxis(axis, rank: x.rank) ?? 0)
        case .add:
            return broadcasting(x, try operand(1), outputShape: outputShape, +)
        case .sub:
            return broadcasting(x, try operand(1), outputShape: outputShape, -)
        case .mul:
            return broadcasting(x, try operand(1), outputShape: outputShape, *)
        case .div:
            return broadcasting(x, try operand(1), outputShape: outputShape, /)
        case .sum:
            // Every operand broadcasts to the final shape, so accumulate directly in it.
            var acc = x
            for i in 1..<operands.count {
                acc = broadcasting(acc, try operand(i), outputShape: outputShape, +)
            }
            return acc
        case .gemm(let a):
            let c = operands.count > 2 ? operands[2] : nil
            return gemm(x, try operand(1), c, attributes: a, outputShape: outputShape)
        case .matMul:
            return matMul(x, try operand(1), outputShape: outputShape)
        case .flatten, .reshape, .squeeze, .unsqueeze, .identity, .dropout:
            // Row-major data is unchanged by these; only the shape differs.
            return Tensor(shape: outputShape, data: x.data)
        case .transpose(let perm):
            return transpose(x, perm: perm ?? Array((0..<x.rank).reversed()))
        case .concat(let axis):
            var parts: [Tensor] = []
            for i in 0..<operands.count { parts.append(try operand(i)) }
            return concat(parts, axis: Graph.normalizedAxis(axis, rank: x.rank) ?? 0, outputShape: outputShape)
        case .pad(let pads, let value, let mode):
            return pad(x, try Graph.padGeometry(node, pads: pads, mode: mode, input: x.shape), value: value)
        case .slice(let starts, let ends, let axes, let steps):
            return slice(x, try Graph.sliceGeometry(node, starts: starts, ends: ends, axes: axes, steps: steps, input: x.shape))
        case .split:
            throw GraphError.arity(node: node.name, op: node.op.onnxName, detail: "has several outputs (see evaluateOutputs)")
        }
    }

    /// Applies `f` to every element.
    static func map(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
        var out = x.data
        out.withUnsafeMutableBufferPointer { o in
            for i in 0..<o.count { o[i] = f(o[i]) }
        }
        return Tensor(shape: x.shape, data: out)
    }

    /// Calls `body` with the multi-index of every row of `shape` (all axes but the last), in
    /// row-major order; a rank-0 or rank-1 shape has one row with an empty index.
    static func forEachRow(of shape: [Int], _ body: ([Int]) -> Void) {
        let outer = Array(shape.dropLast())
        if outer.contains(0) || shape.last == 0 { return }
        var index = [Int](repeating: 0, count: outer.count)
        let rows = outer.elementCount
        for _ in 0..<rows {
            body(index)
            var axis = outer.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < outer[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// Sum of `index[i] * strides[i]` over the leading axes covered by `index`.
    static func offset(_ index: [Int], _ strides: [Int]) -> Int {
        var o = 0
        for i in 0..<index.count { o += index[i] * strides[i] }
        return o
    }
}
