// Shape inference: the concrete shape of every value of a graph for given input shapes.
// Each operator's rule lives in `Graph.outputShapes(of:inputShapes:)`, which also checks arity
// and attributes, so the verifier and the reference executor share exactly the same rules.
// It does not evaluate values and does not rewrite the graph (auto_pad is resolved on the fly).

extension Graph {
    /// Shapes of every value (graph inputs, initializers, node outputs) for concrete input shapes.
    ///
    /// Throws `GraphError.badInput` when an input shape is missing or contradicts the declared
    /// static dims, and the `GraphError` naming the node for any broken operator rule.
    public func inferShapes(inputShapes: [String: [Int]]) throws -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for (name, tensor) in initializers {
            try Graph.checkInitializer(name: name, tensor)
            shapes[name] = tensor.shape
        }
        for info in inputs {
            guard let given = inputShapes[info.name] else {
                throw GraphError.badInput(name: info.name, detail: "no shape given")
            }
            try Graph.checkInputShape(info, given)
            if shapes[info.name] != nil { throw GraphError.duplicateValue(info.name) }
            shapes[info.name] = given
        }
        for node in nodes {
            var operands: [[Int]?] = []
            operands.reserveCapacity(node.inputs.count)
            for name in node.inputs {
                if name.isEmpty { operands.append(nil); continue }
                guard let shape = shapes[name] else {
                    throw GraphError.undefinedValue(node: node.name, value: name)
                }
                operands.append(shape)
            }
            let results = try Graph.outputShapes(of: node, inputShapes: operands)
            for (name, shape) in zip(node.outputs, results) {
                guard Graph.checkedCount(shape) != nil else {
                    throw GraphError.shapeMismatch(node: node.name, op: node.op.onnxName,
                                                   detail: "output shape \(shape) is too large")
                }
                if shapes[name] != nil { throw GraphError.duplicateValue(name) }
                shapes[name] = shape
            }
        }
        return shapes
    }

    /// Rejects a tensor whose element count disagrees with its shape (possible after mutation).
    static func checkInitializer(name: String, _ tensor: Tensor) throws {
        if checkedCount(tensor.shape) != tensor.data.count {
            throw GraphError.invalidInitializer(
                name: name, detail: "shape \(tensor.shape) does not match \(tensor.data.count) elements")
        }
    }

    /// Element count of `shape`, or nil when a dim is negative or the product of the non-zero
    /// dims overflows (so every partial product of a checked shape fits in an Int).
    static func checkedCount(_ shape: [Int]) -> Int? {
        var product = 1
        var zero = false
        for d in shape {
            if d < 0 { return nil }
            if d == 0 { zero = true; continue }
            let (p, overflow) = product.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            product = p
        }
        return zero ? 0 : product
    }

    /// Largest kernel, stride, dilation or pad accepted; far beyond any real model, small enough
    /// that size arithmetic can never overflow.
    static let attributeLimit = 1 << 24

    /// Checks a concrete input shape against the declared one (rank and static dims).
    static func checkInputShape(_ info: ValueInfo, _ given: [Int]) throws {
        guard checkedCount(given) != nil else {
            throw GraphError.badInput(name: info.name, detail: "shape \(given) has a negative dimension or too many elements")
        }
        guard given.count == info.shape.count else {
            throw GraphError.badInput(
                name: info.name, detail: "rank \(given.count) given, graph declares \(shapeText(info.shape))")
        }
        for (axis, (g, d)) in zip(given, info.shape).enumerated() {
            if g < 0 {
                throw GraphError.badInput(name: info.name, detail: "negative dimension \(g) at axis \(axis)")
            }
            if let d, d != g {
                throw GraphError.badInput(
                    name: info.name,
                    detail: "shape \(given) given, graph declares \(shapeText(info.shape))")
            }
        }
    }

    static func shapeText(_ shape: [Int?]) -> String {
        "[" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]"
    }
}

/// Resolved geometry of a 2-D sliding window (conv or pool) over one input.
struct WindowGeometry: Sendable, Equatable {
    /// [top, left, bottom, right] after auto_pad resolution.
    var pads: [Int]
    /// [outH, outW].
    var outputSize: [Int]
}

/// Arity, attribute and shape rules per operator.
extension Graph {
    /// Output shapes of `node` given its input shapes (nil = omitted optional input).
    static func outputShapes(of node: Node, inputShapes: [[Int]?]) throws -> [[Int]] {
        try checkArity(node)
        try checkAttributes(node)
        if case .split(let axis, let sizes) = node.op {
            guard let input = inputShapes.first ?? nil else {
                throw GraphError.shapeMismatch(node: node.name, op: node.op.onnxName, detail: "input 0 has no shape")
            }
            return try splitGeometries(node, axis: axis, sizes: sizes, input: input).map(\.output)
        }
        let rule = ShapeRule(node: node, inputs: inputShapes)
        return [try rule.output()]
    }

    /// Input/output counts allowed for `op`: (min inputs, max inputs, required inputs).
    static func arity(of op: Op) -> (min: Int, max: Int, required: Int) {
        switch op {
        case .conv, .gemm, .layerNormalization: (2, 3, 2)
        case .batchNormalization: (5, 5, 5)
        case .add, .sub, .mul, .div, .matMul: (2, 2, 2)
        case .sum, .concat: (1, Int.max, Int.max)
        case .relu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .softmax, .identity, .dropout, .globalAveragePool, .reduceMean,
             .maxPool, .averagePool, .flatten, .reshape, .squeeze, .unsqueeze, .transpose, .pad, .slice, .split,
             .erf, .gelu:
            (1, 1, 1)
        }
    }

    /// Inputs inside the required range that may still be "" because the IR gives them a meaning:
    /// BatchNormalization's scale (input 1) omitted means scale 1 (Keras `scale=False`).
    static func isOmittable(_ input: Int, of op: Op) -> Bool {
        if case .batchNormalization = op { return input == 1 }
        return false
    }

    static func checkArity(_ node: Node) throws {
        let (lo, hi, required) = arity(of: node.op)
        let name = node.op.onnxName
        let count = node.inputs.count
        if count < lo || count > hi {
            let expected = hi == Int.max ? "at least \(lo)" : (lo == hi ? "\(lo)" : "\(lo) to \(hi)")
            throw GraphError.arity(node: node.name, op: name, detail: "expects \(expected) inputs, has \(count)")
        }
        for (i, input) in node.inputs.enumerated() where i < required && input.isEmpty && !isOmittable(i, of: node.op) {
            throw GraphError.arity(node: node.name, op: name, detail: "required input \(i) is omitted")
        }
        if case .split(_, let sizes) = node.op {
            // One output per piece; with explicit sizes, exactly one per size.
            if node.outputs.isEmpty || (!sizes.isEmpty && sizes.count != node.outputs.count) {
                let expected = sizes.isEmpty ? "at least 1" : "\(sizes.count) (one per split size)"
                throw GraphError.arity(node: node.name, op: name, detail: "expects \(expected) outputs, has \(node.outputs.count)")
            }
        } else if node.outputs.count != 1 {
            throw GraphError.arity(node: node.name, op: name, detail: "expects 1 output, has \(node.outputs.count)")
        }
        if let empty = node.outputs.firstIndex(where: \.isEmpty) {
            throw GraphError.arity(node: node.name, op: name, detail: "output \(empty) has an empty name")
        }
    }

    /// Attribute rules that need no shapes.
    static func checkAttributes(_ node: Node) throws {
        func bad(_ detail: String) -> GraphError {
            .invalidAttribute(node: node.name, op: node.op.onnxName, detail: detail)
        }
        func checkWindow(kernel: [Int], strides: [Int], pads: [Int], dilations: [Int]) throws {
            guard kernel.count == 2 else { throw bad("kernel_shape \(kernel) must have 2 entries") }
            guard kernel.allSatisfy({ $0 > 0 }) else { throw bad("kernel_shape \(kernel) must be positive") }
            guard strides.count == 2 else { throw bad("strides \(strides) must have 2 entries") }
            guard strides.allSatisfy({ $0 > 0 }) else { throw bad("strides \(strides) must be positive") }
            guard dilations.count == 2 else { throw bad("dilations \(dilations) must have 2 entries") }
            guard dilations.allSatisfy({ $0 > 0 }) else { throw bad("dilations \(dilations) must be positive") }
            guard pads.count == 4 else { throw bad("pads \(pads) must have 4 entries") }
            guard pads.allSatisfy({ $0 >= 0 }) else { throw bad("pads \(pads) must not be negative") }
            guard (kernel + strides + dilations + pads).allSatisfy({ $0 <= attributeLimit }) else {
                throw bad("window attributes exceed \(attributeLimit)")
            }
        }
        switch node.op {
        case .conv(let a):
            try checkWindow(kernel: a.kernelShape, strides: a.strides, pads: a.pads, dilations: a.dilations)
            guard a.groups > 0 else { throw bad("group \(a.groups) must be positive") }
            if case .clip(let lo, let hi) = a.activation, !(lo <= hi) {
                throw bad("fused clip min \(lo) exceeds max \(hi)")
            }
        case .maxPool(let a), .averagePool(let a):
            try checkWindow(kernel: a.kernelShape, strides: a.strides, pads: a.pads, dilations: a.dilations)
        case .clip(let lo, let hi):
            guard lo <= hi else { throw bad("min \(lo) exceeds max \(hi)") }
        case .batchNormalization(let epsilon), .layerNormalization(_, let epsilon):
            guard epsilon >= 0, epsilon.isFinite else { throw bad("epsilon \(epsilon) must be finite and >= 0") }
        case .reshape(let shape, let allowZero):
            if shape.contains(where: { $0 < -1 }) { throw bad("shape \(shape) has a negative entry other than -1") }
            if shape.filter({ $0 == -1 }).count > 1 { throw bad("shape \(shape) has more than one -1") }
            if allowZero && shape.contains(0) && shape.contains(-1) {
                throw bad("shape \(shape) mixes 0 and -1 with allowzero")
            }
        case .transpose(let perm):
            if let perm, perm.sorted() != Array(0..<perm.count) {
                throw bad("perm \(perm) is not a permutation of 0..<\(perm.count)")
            }
        case .pad(let pads, _, _):
            guard pads.count % 2 == 0 else { throw bad("pads \(pads) must have an even count") }
            guard pads.allSatisfy({ $0 >= -attributeLimit && $0 <= attributeLimit }) else { throw bad("pads \(pads) exceed \(attributeLimit)") }
        case .unsqueeze(let axes):
            guard !axes.isEmpty else { throw bad("axes must not be empty") }
        case .slice(let starts, let ends, let axes, let steps):
            try checkSliceLists(starts: starts, ends: ends, axes: axes, steps: steps, bad)
        case .split(_, let sizes):
            if let s = sizes.first(where: { $0 < 0 }) { throw bad("split size \(s) is negative") }
        default:
            break
        }
    }

    /// The resolved pads [top, left, bottom, right] and output size [OH, OW] of conv `node` over
    /// spatial size `input` ([H, W]).
    public static func convWindow(_ node: Node, _ a: ConvAttributes, input: [Int]) throws -> (pads: [Int], outputSize: [Int]) {
        let g = try windowGeometry(node: node, input: input, kernel: a.kernelShape, strides: a.strides, pads: a.pads,
                                   dilations: a.dilations, autoPad: a.autoPad, ceilMode: false)
        return (g.pads, g.outputSize)
    }

    /// Resolves auto_pad and ceil mode for a 2-D window over spatial size `input` ([H, W]).
    static func windowGeometry(node: Node, input: [Int], kernel: [Int], strides: [Int], pads: [Int],
                               dilations: [Int], autoPad: AutoPad, ceilMode: Bool) throws -> WindowGeometry {
        var resolved = [0, 0, 0, 0]
        var out = [0, 0]
        for axis in 0..<2 {
            let size = input[axis], stride = strides[axis]
            let extent = (kernel[axis] - 1) * dilations[axis] + 1
            switch autoPad {
            case .sameUpper, .sameLower:
                let o = (size + stride - 1) / stride
                let total = max(0, (o - 1) * stride + extent - size)
                let small = total / 2, large = total - small
                resolved[axis] = autoPad == .sameUpper ? small : large
                resolved[axis + 2] = autoPad == .sameUpper ? large : small
                out[axis] = o
            case .valid, .notSet:
                let begin = autoPad == .valid ? 0 : pads[axis]
                let end = autoPad == .valid ? 0 : pads[axis + 2]
                resolved[axis] = begin
                resolved[axis + 2] = end
                let span = size + begin + end - extent
                guard span >= 0 else {
                    throw GraphError.shapeMismatch(
                        node: node.name, op: node.op.onnxName,
                        detail: "window extent \(extent) exceeds padded input \(size + begin + end) on spatial axis \(axis)")
                }
                if ceilMode {
                    var o = (span + stride - 1) / stride + 1
                    // A last window starting past the input and its leading pad would read only
                    // trailing padding; onnxruntime drops it, and so do we.
                    if (o - 1) * stride >= size + begin { o -= 1 }
                    out[axis] = o
                } else {
                    out[axis] = span / stride + 1
                }
            }
        }
        return WindowGeometry(pads: resolved, outputSize: out)
    }

    /// Normalizes an axis in [-rank, rank) to [0, rank), or nil when out of range.
    package static func normalizedAxis(_ axis: Int, rank: Int) -> Int? {
        let a = axis < 0 ? axis + rank : axis
        return a >= 0 && a < rank ? a : nil
    }

    /// Whether a LayerNormalization scale or bias of shape `parameter` holds one value per element
    /// of the normalized axes `normalized`, in their order: equal once leading 1s are dropped.
    package static func layerNormParameterFits(_ parameter: [Int], _ normalized: [Int]) -> Bool {
        parameter.drop(while: { $0 == 1 }).elementsEqual(normalized.drop(while: { $0 == 1 }))
    }

    /// numpy broadcast of two shapes, or nil when incompatible (also ONNX constant folding's).
    package static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        var out = [Int](repeating: 0, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }
}

/// One node's shape rule, with the node at hand for error messages.
private struct ShapeRule {
    let node: Node
    let inputs: [[Int]?]

    private func mismatch(_ detail: String) -> GraphError {
        .shapeMismatch(node: node.name, op: node.op.onnxName, detail: detail)
    }

    private func bad(_ detail: String) -> GraphError {
        .invalidAttribute(node: node.name, op: node.op.onnxName, detail: detail)
    }

    private func input(_ i: Int) -> [Int]? { i < inputs.count ? inputs[i] : nil }

    /// Required input `i` (arity has been checked, so it is present).
    private func x(_ i: Int = 0) throws -> [Int] {
        guard let s = input(i) else { throw mismatch("input \(i) has no shape") }
        return s
    }

    private func axis(_ a: Int, rank: Int, _ what: String) throws -> Int {
        guard let n = Graph.normalizedAxis(a, rank: rank) else {
            throw bad("\(what) \(a) out of range for rank \(rank)")
        }
        return n
    }

    func output() throws -> [Int] {
        switch node.op {
        case .relu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .identity, .dropout, .erf, .gelu:
            return try x()
        case .layerNormalization(let a, _):
            let s = try x()
            let normalized = Array(s[try axis(a, rank: s.count, "axis")...])
            for i in 1..<3 {
                guard let p = input(i) else { continue }  // bias omitted: no shift
                guard Graph.layerNormParameterFits(p, normalized) else {
                    throw mismatch("\(i == 1 ? "scale" : "bias") \(p) does not match the normalized shape \(normalized) of \(s)")
                }
            }
            return s
        case .softmax(let a):
            let s = try x()
            _ = try axis(a, rank: s.count, "axis")
            return s
        case .add, .sub, .mul, .div, .sum:
            var out = try x(0)
            for i in 1..<inputs.count {
                let s = try x(i)
                guard let b = Graph.broadcast(out, s) else {
                    throw mismatch("\(out) and \(s) do not broadcast")
                }
                out = b
            }
            return out
        case .conv(let a):
            return try conv(a)
        case .maxPool(let a), .averagePool(let a):
            let s = try x()
            guard s.count == 4 else { throw mismatch("input \(s) must be rank 4 [N, C, H, W]") }
            let g = try Graph.windowGeometry(
                node: node, input: [s[2], s[3]], kernel: a.kernelShape, strides: a.strides, pads: a.pads,
                dilations: a.dilations, autoPad: a.autoPad, ceilMode: a.ceilMode)
            return [s[0], s[1]] + g.outputSize
        case .batchNormalization:
            let s = try x()
            guard s.count >= 2 else { throw mismatch("input \(s) must have rank >= 2") }
            for i in 1..<5 {
                if i == 1 && input(1) == nil { continue }  // omitted scale: fixed at 1
                let p = try x(i)
                guard p == [s[1]] else { throw mismatch("parameter \(i) has shape \(p), expected [\(s[1])]") }
            }
            return s
        case .globalAveragePool:
            let s = try x()
            guard s.count >= 3 else { throw mismatch("input \(s) must have rank >= 3 [N, C, spatial...]") }
            return [s[0], s[1]] + [Int](repeating: 1, count: s.count - 2)
        case .reduceMean(let axes, let keepDims):
            let s = try x()
            let set = try normalizedAxes(axes.isEmpty ? Array(0..<s.count) : axes, rank: s.count)
            var out: [Int] = []
            for (i, d) in s.enumerated() {
                if set.contains(i) { if keepDims { out.append(1) } } else { out.append(d) }
            }
            return out
        case .gemm(let a):
            return try gemm(a)
        case .matMul:
            return try matMul()
        case .flatten(let a):
            let s = try x()
            let r = s.count
            let ax = a < 0 ? a + r : a
            guard ax >= 0 && ax <= r else { throw bad("axis \(a) out of range for rank \(r)") }
            return [Array(s[..<ax]).elementCount, Array(s[ax...]).elementCount]
        case .reshape(let target, let allowZero):
            return try reshape(target, allowZero: allowZero)
        case .squeeze(let axes):
            let s = try x()
            guard let axes else { return s.filter { $0 != 1 } }
            let set = try normalizedAxes(axes, rank: s.count)
            for a in set where s[a] != 1 {
                throw mismatch("cannot squeeze axis \(a) of size \(s[a]) in \(s)")
            }
            return s.enumerated().filter { !set.contains($0.offset) }.map(\.element)
        case .unsqueeze(let axes):
            let s = try x()
            let rank = s.count + axes.count
            let set = try normalizedAxes(axes, rank: rank)
            var out: [Int] = []
            var next = 0
            for i in 0..<rank {
                if set.contains(i) { out.append(1) } else { out.append(s[next]); next += 1 }
            }
            return out
        case .transpose(let perm):
            let s = try x()
            let p = perm ?? Array((0..<s.count).reversed())
            guard p.count == s.count else { throw mismatch("perm \(p) does not match rank \(s.count)") }
            return p.map { s[$0] }
        case .concat(let a):
            let first = try x(0)
            let ax = try axis(a, rank: first.count, "axis")
            var out = first
            for i in 1..<inputs.count {
                let s = try x(i)
                guard s.count == first.count else { throw mismatch("input \(i) has rank \(s.count), input 0 has \(first.count)") }
                for d in 0..<s.count where d != ax && s[d] != first[d] {
                    throw mismatch("input \(i) shape \(s) differs from \(first) outside axis \(ax)")
                }
                out[ax] += s[ax]
            }
            return out
        case .slice(let starts, let ends, let axes, let steps):
            return try Graph.sliceGeometry(node, starts: starts, ends: ends, axes: axes, steps: steps, input: try x()).output
        case .split:
            // Several outputs: `Graph.outputShapes` answers before any ShapeRule is made.
            throw mismatch("split has no single output shape")
        case .pad(let pads, _, let mode):
            return try Graph.padOutputShape(node, pads: pads, mode: mode, input: try x())
        }
    }

    private func normalizedAxes(_ axes: [Int], rank: Int) throws -> Set<Int> {
        var set = Set<Int>()
        for a in axes {
            let n = try axis(a, rank: rank, "axis")
            guard set.insert(n).inserted else { throw bad("axes \(axes) repeat axis \(n)") }
        }
        return set
    }

    private func conv(_ a: ConvAttributes) throws -> [Int] {
        let s = try x(0), w = try x(1)
        guard s.count == 4 else { throw mismatch("input \(s) must be rank 4 [N, C, H, W]") }
        guard w.count == 4 else { throw mismatch("weight \(w) must be rank 4 [M, C/group, kH, kW]") }
        guard s[1] % a.groups == 0 else { throw bad("group \(a.groups) does not divide input channels \(s[1])") }
        guard w[0] % a.groups == 0 else { throw bad("group \(a.groups) does not divide output channels \(w[0])") }
        guard w[1] * a.groups == s[1] else {
            throw mismatch("weight \(w) expects \(w[1] * a.groups) input channels, input \(s) has \(s[1])")
        }
        guard [w[2], w[3]] == a.kernelShape else {
            throw mismatch("weight \(w) disagrees with kernel_shape \(a.kernelShape)")
        }
        if let b = input(2), b != [w[0]] {
            throw mismatch("bias \(b) must be [\(w[0])]")
        }
        let g = try Graph.windowGeometry(
            node: node, input: [s[2], s[3]], kernel: a.kernelShape, strides: a.strides, pads: a.pads,
            dilations: a.dilations, autoPad: a.autoPad, ceilMode: false)
        return [s[0], w[0]] + g.outputSize
    }

    private func gemm(_ a: GemmAttributes) throws -> [Int] {
        let sa = try x(0), sb = try x(1)
        guard sa.count == 2, sb.count == 2 else { throw mismatch("A \(sa) and B \(sb) must be rank 2") }
        let (m, k) = a.transA ? (sa[1], sa[0]) : (sa[0], sa[1])
        let (k2, n) = a.transB ? (sb[1], sb[0]) : (sb[0], sb[1])
        guard k == k2 else { throw mismatch("inner dimensions differ: A \(sa), B \(sb)") }
        if let c = input(2) {
            guard c.count <= 2, Graph.broadcast([m, n], c) == [m, n] else {
                throw mismatch("C \(c) does not broadcast to [\(m), \(n)]")
            }
        }
        return [m, n]
    }

    private func matMul() throws -> [Int] {
        let sa = try x(0), sb = try x(1)
        guard !sa.isEmpty, !sb.isEmpty else { throw mismatch("operands \(sa) and \(sb) must not be scalars") }
        let a = sa.count == 1 ? [1] + sa : sa
        let b = sb.count == 1 ? sb + [1] : sb
        guard a[a.count - 1] == b[b.count - 2] else { throw mismatch("inner dimensions differ: \(sa) and \(sb)") }
        guard let batch = Graph.broadcast(Array(a.dropLast(2)), Array(b.dropLast(2))) else {
            throw mismatch("batch dimensions of \(sa) and \(sb) do not broadcast")
        }
        var out = batch
        if sa.count > 1 { out.append(a[a.count - 2]) }
        if sb.count > 1 { out.append(b[b.count - 1]) }
        return out
    }

    private func reshape(_ target: [Int], allowZero: Bool) throws -> [Int] {
        let s = try x()
        var out = target
        for (i, d) in target.enumerated() where d == 0 && !allowZero {
            guard i < s.count else { throw mismatch("shape \(target) copies axis \(i), input \(s) has rank \(s.count)") }
            out[i] = s[i]
        }
        let total = s.elementCount
        if let hole = out.firstIndex(of: -1) {
            var known = 1
            for (i, d) in out.enumerated() where i != hole {
                let (p, overflow) = known.multipliedReportingOverflow(by: d)
                guard !overflow else { throw mismatch("cannot reshape \(s) to \(target)") }
                known = p
            }
            guard known > 0, total % known == 0 else {
                throw mismatch("cannot reshape \(s) to \(target)")
            }
            out[hole] = total / known
        }
        guard Graph.checkedCount(out) == total else { throw mismatch("cannot reshape \(s) (\(total) elements) to \(target)") }
        return out
    }
}
