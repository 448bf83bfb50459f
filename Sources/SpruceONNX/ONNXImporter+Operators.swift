// ONNX operators → IR `Op`s, for every opset form PyTorch and tf2onnx emit (opset 6–20):
// attribute-style and input-style Clip, ReduceMean, Squeeze/Unsqueeze, Pad, Reshape, Slice, Split.
// Inputs that ONNX passes as tensors but the IR keeps as attributes are read as import-time
// constants here. Anything the IR cannot express is an error naming the node.
import CSpruceProto
import SpruceCore

extension ONNXImporter.Session {
    /// Maps one run-time ONNX node onto an IR node.
    mutating func importOperator(_ n: ONNXNode) throws {
        let a = n.attributes
        guard let output = n.outputs.first, !output.isEmpty else {
            throw ONNXError.missingAttribute(node: n.name, op: n.opType, attribute: "output")
        }
        var inputs = n.inputs
        let op: Op
        switch n.opType {
        case "Conv":
            op = .conv(try convAttributes(n))
            inputs = Array(n.inputs.prefix(3))
        case "BatchNormalization":
            if try a.int("training_mode") ?? 0 != 0 {
                throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "training_mode", detail: "training mode")
            }
            try rejectUsedOutputs(n, from: 1)
            op = .batchNormalization(epsilon: try a.float("epsilon") ?? 1e-5)
            inputs = Array(n.inputs.prefix(5))
        case "Relu": op = .relu
        case "Sigmoid": op = .sigmoid
        case "HardSigmoid": op = .hardSigmoid(alpha: try a.float("alpha") ?? 0.2, beta: try a.float("beta") ?? 0.5)
        case "HardSwish": op = .hardSwish
        case "Erf": op = .erf
        case "Gelu":
            let approximate = try a.string("approximate") ?? "none"
            guard approximate == "none" || approximate == "tanh" else {
                throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "approximate",
                                                     detail: "'\(approximate)' (none and tanh are defined)")
            }
            op = .gelu(tanhApproximation: approximate == "tanh")
        case "LayerNormalization":
            // Mean and InvStdDev are for training graphs; stash_type only sets the precision of
            // the statistics, which Spruce's kernels choose for themselves.
            try rejectUsedOutputs(n, from: 1)
            op = .layerNormalization(axis: try a.int("axis") ?? -1, epsilon: try a.float("epsilon") ?? 1e-5)
            inputs = Array(n.inputs.prefix(3))
        case "Add": op = .add
        case "Sub": op = .sub
        case "Mul": op = .mul
        case "Div": op = .div
        case "Sum": op = .sum
        case "MatMul": op = .matMul
        case "GlobalAveragePool": op = .globalAveragePool
        case "Identity":
            if aliasInitializer(n) { return }
            op = .identity
        case "Cast":
            // A run-time Cast is only accepted when it changes nothing (float to float).
            guard try a.int("to") == 1 else {
                throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "to",
                                                     detail: "run-time cast to \(ONNXDataType.name(of: Int32(clamping: try a.int("to") ?? 0)))")
            }
            if aliasInitializer(n) { return }
            op = .identity
        case "Clip":
            var low = try a.float("min") ?? -Float.infinity
            var high = try a.float("max") ?? Float.infinity
            if !n.input(1).isEmpty { low = try constantScalar(n.input(1), for: n) }
            if !n.input(2).isEmpty { high = try constantScalar(n.input(2), for: n) }
            op = .clip(min: low, max: high)
            inputs = [n.input(0)]
        case "ReduceMean":
            let keepDims = try a.int("keepdims") ?? 1 != 0
            let axes = try self.axes(n, inputIndex: 1) ?? []
            if axes.isEmpty, try a.int("noop_with_empty_axes") ?? 0 != 0 {
                op = .identity
            } else {
                op = .reduceMean(axes: normalizedAxes(axes, of: n.input(0), node: n), keepDims: keepDims)
            }
            inputs = [n.input(0)]
        case "MaxPool", "AveragePool":
            if n.opType == "MaxPool" { try rejectUsedOutputs(n, from: 1) }
            let rank = rank(of: n.input(0), node: n.name)
            if rank == 3 || rank == 5 { return try importPool(n, spatialAxes: rank! - 2, output: output) }
            let attributes = try poolAttributes(n, spatialAxes: 2)
            op = n.opType == "MaxPool" ? .maxPool(attributes) : .averagePool(attributes)
        case "Gemm":
            op = .gemm(GemmAttributes(alpha: try a.float("alpha") ?? 1, beta: try a.float("beta") ?? 1,
                                      transA: try a.int("transA") ?? 0 != 0, transB: try a.int("transB") ?? 0 != 0))
            inputs = Array(n.inputs.prefix(3))
        case "Flatten":
            op = .flatten(axis: try a.int("axis") ?? 1)
        case "Reshape":
            op = try reshapeOp(n)
            inputs = [n.input(0)]
        case "Squeeze":
            op = .squeeze(axes: try axes(n, inputIndex: 1))
            inputs = [n.input(0)]
        case "Unsqueeze":
            guard let axes = try axes(n, inputIndex: 1) else {
                throw ONNXError.missingAttribute(node: n.name, op: n.opType, attribute: "axes")
            }
            op = .unsqueeze(axes: axes)
            inputs = [n.input(0)]
        case "Transpose":
            op = .transpose(perm: try a.ints("perm"))
        case "Concat":
            guard let axis = try a.int("axis") else {
                throw ONNXError.missingAttribute(node: n.name, op: n.opType, attribute: "axis")
            }
            op = .concat(axis: axis)
        case "Softmax":
            guard opset >= 13 else { return try importLegacySoftmax(n, output: output) }
            op = .softmax(axis: try a.int("axis") ?? -1)
        case "Pad":
            op = try padOp(n)
            inputs = [n.input(0)]
        case "Slice":
            let (starts, ends, axes, steps) = try sliceLists(n)
            op = .slice(starts: starts, ends: ends, axes: axes, steps: steps)
            inputs = [n.input(0)]
        case "Split":
            return try importSplit(n)
        case "Dropout":
            try rejectUsedOutputs(n, from: 1)
            if !n.input(2).isEmpty, let training = try? constantScalar(n.input(2), for: n), training != 0 {
                throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "training_mode", detail: "training mode")
            }
            op = .dropout
            inputs = [n.input(0)]
        default:
            throw ONNXError.unsupportedOperator(op: n.opType, node: n.name)
        }
        while let last = inputs.last, last.isEmpty { inputs.removeLast() }
        try append(Node(name: n.name, op: op, inputs: inputs, outputs: [output]))
    }

    /// Split in all its forms: sizes from the `split` attribute (before opset 13) or the optional
    /// constant input 1, or (opset 18) `num_outputs` equal pieces. An output the model leaves
    /// unnamed gets a fresh name, since every IR output is named.
    private mutating func importSplit(_ n: ONNXNode) throws {
        let a = n.attributes
        var sizes = try a.ints("split") ?? []
        if sizes.isEmpty, !n.input(1).isEmpty { sizes = try constantInts(n.input(1), for: n) }
        if let count = try a.int("num_outputs") {
            guard sizes.isEmpty else {
                throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "num_outputs",
                                                     detail: "given together with split sizes \(sizes)")
            }
            guard count == n.outputs.count else {
                throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "num_outputs",
                                                     detail: "\(count), but the node has \(n.outputs.count) outputs")
            }
        }
        let axis = try a.int("axis") ?? 0
        // An equal split that does not divide a known axis size: an error before opset 18, and
        // Split-18's uneven pieces after, kept as explicit sizes so export can write them as such.
        if sizes.isEmpty, let shape = try? shapePair(of: n.input(0), node: n.name),
           let ax = IndexMath.normalize(axis, rank: shape.low.count), shape.low[ax] == shape.high[ax],
           !n.outputs.isEmpty, shape.low[ax] % n.outputs.count != 0 {
            let dim = shape.low[ax], count = n.outputs.count
            guard opset >= 18 else {
                throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "split",
                                                     detail: "omitted, and axis \(axis) of size \(dim) does not split evenly into \(count)")
            }
            let piece = (dim + count - 1) / count, last = dim - piece * (count - 1)
            // A negative last piece is left to shape inference, which names the node and sizes.
            if last >= 0 { sizes = [Int](repeating: piece, count: count - 1) + [last] }
        }
        let outputs = n.outputs.enumerated().map { k, name in name.isEmpty ? freshValueName("\(n.name)_output_\(k)") : name }
        try append(Node(name: n.name, op: .split(axis: axis, sizes: sizes), inputs: [n.input(0)], outputs: outputs))
    }

    /// Rejects a node whose dropped outputs (from index `first` on) are read by anything.
    private func rejectUsedOutputs(_ n: ONNXNode, from first: Int) throws {
        for extra in n.outputs.dropFirst(first) where !extra.isEmpty && usedNames.contains(extra) {
            throw ONNXError.unsupportedOutputUsed(node: n.name, op: n.opType, output: extra)
        }
    }

    /// Identity/Cast of a weight: the output becomes another name for the same initializer,
    /// so consumers (a Conv sharing weights) still read an initializer.
    private mutating func aliasInitializer(_ n: ONNXNode) -> Bool {
        guard let tensor = initializers[n.input(0)], let output = n.outputs.first,
              !graphOutputNames.contains(output) else { return false }
        initializers[output] = tensor
        return true
    }

    /// Axes made non-negative and sorted when the input rank is known; as given otherwise.
    private mutating func normalizedAxes(_ axes: [Int], of value: String, node n: ONNXNode) -> [Int] {
        guard let rank = rank(of: value, node: n.name) else { return axes }
        let normalized = axes.compactMap { IndexMath.normalize($0, rank: rank) }
        return normalized.count == axes.count ? normalized.sorted() : axes
    }

    /// Checks that a window attribute has one entry per spatial axis (`count` entries).
    private func window(_ n: ONNXNode, _ name: String, _ values: [Int], count: Int) throws -> [Int] {
        guard values.count == count else {
            throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: name,
                                                 detail: "\(values) (expected \(count) entries\(count == 2 || count == 4 ? ": 2-D windows" : ""))")
        }
        return values
    }

    private func autoPad(_ n: ONNXNode) throws -> AutoPad {
        let text = try n.attributes.string("auto_pad") ?? "NOTSET"
        guard let value = AutoPad(rawValue: text) else {
            throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "auto_pad", detail: text)
        }
        return value
    }

    private mutating func convAttributes(_ n: ONNXNode) throws -> ConvAttributes {
        let a = n.attributes
        var kernel = try a.ints("kernel_shape")
        if kernel == nil, let weight = try? shapePair(of: n.input(1), node: n.name), weight.low.count >= 2 {
            kernel = Array(weight.low.dropFirst(2))
        }
        guard let kernel else { throw ONNXError.missingAttribute(node: n.name, op: n.opType, attribute: "kernel_shape") }
        return ConvAttributes(
            kernelShape: try window(n, "kernel_shape", kernel, count: 2),
            strides: try window(n, "strides", a.ints("strides") ?? [1, 1], count: 2),
            pads: try window(n, "pads", a.ints("pads") ?? [0, 0, 0, 0], count: 4),
            dilations: try window(n, "dilations", a.ints("dilations") ?? [1, 1], count: 2),
            groups: try a.int("group") ?? 1,
            autoPad: try autoPad(n))
    }

    /// A pool's attributes over `spatialAxes` axes (window lists of that length, pads twice it).
    private func poolAttributes(_ n: ONNXNode, spatialAxes k: Int) throws -> PoolAttributes {
        let a = n.attributes
        guard let kernel = try a.ints("kernel_shape") else {
            throw ONNXError.missingAttribute(node: n.name, op: n.opType, attribute: "kernel_shape")
        }
        if try a.int("storage_order") ?? 0 != 0 && n.outputs.count > 1 && usedNames.contains(n.outputs[1]) {
            throw ONNXError.unsupportedOutputUsed(node: n.name, op: n.opType, output: n.outputs[1])
        }
        let ones = [Int](repeating: 1, count: k)
        return PoolAttributes(
            kernelShape: try window(n, "kernel_shape", kernel, count: k),
            strides: try window(n, "strides", a.ints("strides") ?? ones, count: k),
            pads: try window(n, "pads", a.ints("pads") ?? [Int](repeating: 0, count: 2 * k), count: 2 * k),
            dilations: try window(n, "dilations", a.ints("dilations") ?? ones, count: k),
            autoPad: try autoPad(n),
            countIncludePad: try a.int("count_include_pad") ?? 0 != 0,
            ceilMode: try a.int("ceil_mode") ?? 0 != 0)
    }

    /// A 1-D or 3-D MaxPool/AveragePool as 2-D pools. 1-D: Unsqueeze a unit height, pool 1×k,
    /// Squeeze it again. 3-D: a box window is separable — the max (or, with a divisor that is the
    /// product of the per-axis counts, the mean) over D×H×W is that over D of that over H×W — so
    /// Reshape [N, C·D, H, W], pool H×W, Reshape [N, C, D, H'·W'], pool D×1, Reshape
    /// [N, C, D', H', W']. Every per-axis rule (pads, dilations, ceil_mode, auto_pad,
    /// count_include_pad) stays with its axis.
    private mutating func importPool(_ n: ONNXNode, spatialAxes k: Int, output: String) throws {
        let a = try poolAttributes(n, spatialAxes: k)
        func pool(_ kernel: [Int], _ strides: [Int], _ pads: [Int], _ dilations: [Int]) -> Op {
            let p = PoolAttributes(kernelShape: kernel, strides: strides, pads: pads, dilations: dilations,
                                   autoPad: a.autoPad, countIncludePad: a.countIncludePad, ceilMode: a.ceilMode)
            return n.opType == "MaxPool" ? .maxPool(p) : .averagePool(p)
        }
        let input = n.input(0)
        if k == 1 {
            let tall = freshValueName("\(n.name)_2d")
            let pooled = freshValueName("\(n.name)_pooled")
            try append(Node(name: freshNodeName("\(n.name)_unsqueeze"), op: .unsqueeze(axes: [2]), inputs: [input], outputs: [tall]))
            try append(Node(name: n.name, op: pool([1, a.kernelShape[0]], [1, a.strides[0]], [0, a.pads[0], 0, a.pads[1]],
                                                    [1, a.dilations[0]]), inputs: [tall], outputs: [pooled]))
            return try append(Node(name: freshNodeName("\(n.name)_squeeze"), op: .squeeze(axes: [2]), inputs: [pooled], outputs: [output]))
        }
        let shape = try shapePair(of: input, node: n.name)
        guard shape.low[1...] == shape.high[1...] else {
            throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "kernel_shape",
                                                 detail: "a 3-D window needs fixed channels and spatial sizes, the input is \(shape.low)")
        }
        let (c, d, h, w) = (shape.low[1], shape.low[2], shape.low[3], shape.low[4])
        let planes = freshValueName("\(n.name)_planes")
        let spatial = freshValueName("\(n.name)_hw")
        let columns = freshValueName("\(n.name)_columns")
        let deep = freshValueName("\(n.name)_d")
        try append(Node(name: freshNodeName("\(n.name)_to_planes"), op: .reshape(shape: [0, c * d, h, w], allowZero: false),
                        inputs: [input], outputs: [planes]))
        try append(Node(name: freshNodeName("\(n.name)_hw"),
                        op: pool(Array(a.kernelShape[1...]), Array(a.strides[1...]), [a.pads[1], a.pads[2], a.pads[4], a.pads[5]],
                                 Array(a.dilations[1...])),
                        inputs: [planes], outputs: [spatial]))
        let pooled = try shapePair(of: spatial, node: n.name).low
        let (h2, w2) = (pooled[2], pooled[3])
        try append(Node(name: freshNodeName("\(n.name)_to_columns"), op: .reshape(shape: [0, c, d, h2 * w2], allowZero: false),
                        inputs: [spatial], outputs: [columns]))
        try append(Node(name: n.name, op: pool([a.kernelShape[0], 1], [a.strides[0], 1], [a.pads[0], 0, a.pads[3], 0],
                                                [a.dilations[0], 1]),
                        inputs: [columns], outputs: [deep]))
        try append(Node(name: freshNodeName("\(n.name)_to_volume"), op: .reshape(shape: [0, c, -1, h2, w2], allowZero: false),
                        inputs: [deep], outputs: [output]))
    }

    /// Reshape with its target folded into the attribute. Entries that depend on the dynamic
    /// dimensions become 0 ("copy the input dim") when they equal the input's dim at the same
    /// position under both assignments, or -1 when exactly one such entry is left.
    private mutating func reshapeOp(_ n: ONNXNode) throws -> Op {
        let allowZero = try n.attributes.int("allowzero") ?? 0 != 0
        if let target = try n.attributes.ints("shape") { return .reshape(shape: target, allowZero: allowZero) }
        let value = try constant(n.input(1), for: n)
        guard case .ints(let low, let high) = value.values else {
            throw ONNXError.unsupportedDataType(tensor: n.input(1), dataType: "FLOAT where integers are required")
        }
        if low == high { return .reshape(shape: low, allowZero: allowZero) }
        let data = try? shapePair(of: n.input(0), node: n.name)
        var target: [Int] = []
        var unresolved: [Int] = []
        for i in low.indices {
            if low[i] == high[i] {
                target.append(low[i])
            } else if !allowZero, let data, i < data.low.count, data.low[i] == low[i], data.high[i] == high[i] {
                target.append(0)
            } else {
                target.append(-1)
                unresolved.append(i)
            }
        }
        let staticInferred = low.indices.filter { low[$0] == -1 && high[$0] == -1 }.count
        guard unresolved.count + staticInferred <= 1 else {
            throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "shape",
                                                 detail: "target depends on the dynamic dimensions in more than one entry")
        }
        return .reshape(shape: target, allowZero: allowZero)
    }

    /// Softmax before opset 13 coerces its input to 2-D [prod(dims[..<axis]), prod(dims[axis...])]
    /// and normalizes each row. On the last axis that is one IR Softmax; on any other axis it
    /// becomes Flatten(axis) → Softmax(1) → Reshape back to the input's shape.
    private mutating func importLegacySoftmax(_ n: ONNXNode, output: String) throws {
        let axis = try n.attributes.int("axis") ?? 1
        let input = n.input(0)
        let shape = try shapePair(of: input, node: n.name)
        let rank = shape.low.count
        guard let normalized = IndexMath.normalize(axis, rank: rank) else {
            throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "axis",
                                                 detail: "\(axis) out of range for input rank \(rank)")
        }
        if normalized == rank - 1 {
            return try append(Node(name: n.name, op: .softmax(axis: normalized), inputs: [input], outputs: [output]))
        }
        // The Reshape's input is the 2-D softmax output, so a 0 ("copy the input dim") would copy
        // the wrong dim: a dynamic dim becomes -1, which can stand for only one of them.
        let target = zip(shape.low, shape.high).map { $0 == $1 ? $0 : -1 }
        let dynamicCount = target.filter { $0 == -1 }.count
        guard dynamicCount <= 1, !(dynamicCount == 1 && target.contains(0)) else {
            throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "axis",
                                                 detail: "opset \(opset) Softmax at axis \(axis) must reshape back to \(target) (-1 = dynamic), which one Reshape cannot do")
        }
        let flat = freshValueName("\(n.name)_flatten")
        let rows = freshValueName("\(n.name)_softmax")
        try append(Node(name: freshNodeName("\(n.name)_flatten"), op: .flatten(axis: normalized), inputs: [input], outputs: [flat]))
        try append(Node(name: n.name, op: .softmax(axis: 1), inputs: [flat], outputs: [rows]))
        try append(Node(name: freshNodeName("\(n.name)_reshape"), op: .reshape(shape: target, allowZero: target.contains(0)),
                        inputs: [rows], outputs: [output]))
    }

    /// Pad in constant, reflect or edge mode, from attributes (opset < 11) or inputs (pads,
    /// value, axes). The value only matters in constant mode; the others keep 0.
    private mutating func padOp(_ n: ONNXNode) throws -> Op {
        let a = n.attributes
        let name = try a.string("mode") ?? "constant"
        guard let mode = PadMode(rawValue: name) else {
            throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "mode",
                                                 detail: "'\(name)' padding (constant, reflect and edge are supported)")
        }
        if let pads = try a.ints("pads") {
            return .pad(pads: pads, value: mode == .constant ? try a.float("value") ?? 0 : 0, mode: mode)
        }
        var pads = try constantInts(n.input(1), for: n)
        // Read even where unused, so the value's initializer goes with the other folded constants.
        let given = n.input(2).isEmpty ? 0 : try constantScalar(n.input(2), for: n)
        let value = mode == .constant ? given : 0
        if !n.input(3).isEmpty {
            let axes = try constantInts(n.input(3), for: n)
            guard let rank = rank(of: n.input(0), node: n.name), pads.count == 2 * axes.count else {
                throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "axes",
                                                     detail: "pads \(pads) do not match axes \(axes)")
            }
            var full = [Int](repeating: 0, count: 2 * rank)
            for (k, axis) in axes.enumerated() {
                guard let a = IndexMath.normalize(axis, rank: rank) else {
                    throw ONNXError.unsupportedAttribute(node: n.name, op: n.opType, attribute: "axes", detail: "\(axes)")
                }
                full[a] = pads[k]
                full[a + rank] = pads[k + axes.count]
            }
            pads = full
        }
        return .pad(pads: pads, value: value, mode: mode)
    }
}
