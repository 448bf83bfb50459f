// Import-time evaluation of shape computations (Shape, Gather, Cast, ConstantOfShape, Unsqueeze,
// Squeeze, Concat, Slice, Reshape, Identity and integer Add/Sub/Mul/Div). Results are `Folded`
// constants that later become attributes (Reshape targets, axes, pads), or float initializers
// when a run-time node reads them (see `Session.materialize`).
// Only small tensors pass through here, so plain loops are fine.
import CSpruceProto
import SpruceCore

extension ONNXImporter.Session {
    /// Operators that are evaluated at import when their data inputs are constants.
    static let foldableOperators: Set<String> = [
        "Shape", "Gather", "Cast", "ConstantOfShape", "Unsqueeze", "Squeeze", "Concat", "Slice",
        "Reshape", "Identity", "Add", "Sub", "Mul", "Div",
    ]

    /// Inputs whose constness decides folding; the rest are attribute-like (axes, shape, indices).
    private static func dataInputCount(_ opType: String) -> Int? {
        switch opType {
        case "Gather", "Cast", "Unsqueeze", "Squeeze", "Slice", "Reshape", "Identity": 1
        default: nil  // every input
        }
    }

    /// Whether `node` computes an import-time constant rather than a run-time value.
    func shouldFold(_ node: ONNXNode) -> Bool {
        guard Self.foldableOperators.contains(node.opType) else { return false }
        if node.opType == "Shape" || node.opType == "ConstantOfShape" { return true }
        var data = node.inputs.filter { !$0.isEmpty }
        if let n = Self.dataInputCount(node.opType) { data = Array(node.inputs.prefix(n)).filter { !$0.isEmpty } }
        guard !data.isEmpty else { return false }
        // Float weights may take part (e.g. Mul by a folded scale), but at least one input must be folded.
        return data.allSatisfy { folded[$0] != nil || initializers[$0] != nil } && data.contains { folded[$0] != nil }
    }

    // MARK: - Constant lookup

    /// The import-time value of `name` (a folded constant or a float initializer) for `node`.
    mutating func constant(_ name: String, for node: ONNXNode) throws -> Folded {
        if let value = folded[name] { return value }
        if let tensor = initializers[name] {
            consumedAsConstant.insert(name)
            return Folded(shape: tensor.shape, floats: tensor.data)
        }
        throw ONNXError.nonConstantInput(node: node.name, op: node.opType, input: name)
    }

    /// Static integer values of input `name` (axes, pads, indices); dynamic values are rejected.
    mutating func constantInts(_ name: String, for node: ONNXNode) throws -> [Int] {
        let value = try constant(name, for: node)
        guard let ints = value.staticInts else {
            if value.isFloat {
                throw ONNXError.unsupportedDataType(tensor: name, dataType: "FLOAT where integers are required")
            }
            throw ONNXError.nonConstantInput(node: node.name, op: node.opType, input: name)
        }
        return ints
    }

    /// A static scalar (or one-element) value of input `name`, as Float (Clip bounds, pad value).
    mutating func constantScalar(_ name: String, for node: ONNXNode) throws -> Float {
        let value = try constant(name, for: node)
        guard let floats = value.staticFloats else {
            throw ONNXError.nonConstantInput(node: node.name, op: node.opType, input: name)
        }
        guard floats.count == 1 else {
            throw ONNXError.unsupportedAttribute(node: node.name, op: node.opType, attribute: "input '\(name)'",
                                                 detail: "expected one value, got \(floats.count)")
        }
        return floats[0]
    }

    /// Axes from the `axes` attribute (older opsets) or from input `index` (newer ones); nil if neither.
    mutating func axes(_ node: ONNXNode, inputIndex index: Int) throws -> [Int]? {
        if let attribute = try node.attributes.ints("axes") { return attribute }
        let name = node.input(index)
        return name.isEmpty ? nil : try constantInts(name, for: node)
    }

    // MARK: - Folding

    /// Largest constant folding may create: shape computations are tiny, and sizes here come
    /// from the file, so they are bounded before anything is allocated.
    static let maximumFoldedCount = 1 << 24

    private func checkSize(_ node: ONNXNode, _ factors: [Int]) throws {
        var total = 1
        for f in factors {
            let (product, overflow) = total.multipliedReportingOverflow(by: max(f, 0))
            guard !overflow, product <= Self.maximumFoldedCount else { throw failure(node, "result too large to evaluate at import") }
            total = product
        }
    }

    private func failure(_ node: ONNXNode, _ detail: String) -> ONNXError {
        .constantFolding(node: node.name, op: node.opType, detail: detail)
    }

    /// Evaluates `node` at import time and records its output as a constant.
    mutating func fold(_ node: ONNXNode) throws {
        guard let output = node.outputs.first, !output.isEmpty else { throw failure(node, "no output") }
        let result: Folded
        switch node.opType {
        case "Shape": result = try foldShape(node)
        case "Gather": result = try foldGather(node)
        case "Cast": result = try foldCast(node)
        case "ConstantOfShape": result = try foldConstantOfShape(node)
        case "Unsqueeze": result = try foldUnsqueeze(node)
        case "Squeeze": result = try foldSqueeze(node)
        case "Concat": result = try foldConcat(node)
        case "Slice": result = try foldSlice(node)
        case "Reshape": result = try foldReshape(node)
        case "Identity": result = try constant(node.input(0), for: node)
        case "Add", "Sub", "Mul", "Div": result = try foldArithmetic(node)
        default: throw ONNXError.unsupportedOperator(op: node.opType, node: node.name)
        }
        folded[output] = result
    }

    private mutating func foldShape(_ node: ONNXNode) throws -> Folded {
        let (low, high) = try shapePair(of: node.input(0), node: node.name)
        let rank = low.count
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
        let start = clamp(try node.attributes.int("start") ?? 0)
        let end = max(start, clamp(try node.attributes.int("end") ?? rank))
        return Folded(shape: [end - start], values: .ints(low: Array(low[start..<end]), high: Array(high[start..<end])))
    }

    private mutating func foldGather(_ node: ONNXNode) throws -> Folded {
        let data = try constant(node.input(0), for: node)
        let indicesValue = try constant(node.input(1), for: node)
        guard let indices = indicesValue.staticInts else {
            throw ONNXError.nonConstantInput(node: node.name, op: node.opType, input: node.input(1))
        }
        guard let axis = IndexMath.normalize(try node.attributes.int("axis") ?? 0, rank: data.shape.count) else {
            throw failure(node, "axis out of range for rank \(data.shape.count)")
        }
        let dim = data.shape[axis]
        let outer = Array(data.shape[..<axis]).elementCount
        let inner = Array(data.shape[(axis + 1)...]).elementCount
        try checkSize(node, [outer, indices.count, inner])
        var sources: [Int] = []
        sources.reserveCapacity(outer * indices.count * inner)
        for o in 0..<outer {
            for raw in indices {
                let i = raw < 0 ? raw + dim : raw
                guard i >= 0 && i < dim else { throw failure(node, "index \(raw) out of range for dimension \(dim)") }
                for k in 0..<inner { sources.append((o * dim + i) * inner + k) }
            }
        }
        let shape = Array(data.shape[..<axis]) + indicesValue.shape + Array(data.shape[(axis + 1)...])
        return data.picking(sources, shape: shape)
    }

    private mutating func foldCast(_ node: ONNXNode) throws -> Folded {
        let value = try constant(node.input(0), for: node)
        guard let to = try node.attributes.int("to") else {
            throw ONNXError.missingAttribute(node: node.name, op: node.opType, attribute: "to")
        }
        switch to {
        case 1, 10, 11, 16:  // FLOAT, FLOAT16, DOUBLE, BFLOAT16: kept as Float at import
            let (low, high) = value.floatPair
            return Folded(shape: value.shape, values: .floats(low: low, high: high))
        case 2, 3, 4, 5, 6, 7, 12, 13:  // integer types
            switch value.values {
            case .ints: return value
            case .floats(let low, let high):
                func toInts(_ values: [Float]) throws -> [Int] {
                    try values.map { v in
                        guard v.isFinite, abs(v) < 9.0e18 else { throw failure(node, "value \(v) does not fit an integer") }
                        return Int(v)
                    }
                }
                return Folded(shape: value.shape, values: .ints(low: try toInts(low), high: try toInts(high)))
            }
        case 9:  // BOOL
            switch value.values {
            case .ints(let low, let high):
                return Folded(shape: value.shape, values: .ints(low: low.map { $0 != 0 ? 1 : 0 }, high: high.map { $0 != 0 ? 1 : 0 }))
            case .floats(let low, let high):
                return Folded(shape: value.shape, values: .ints(low: low.map { $0 != 0 ? 1 : 0 }, high: high.map { $0 != 0 ? 1 : 0 }))
            }
        default:
            throw ONNXError.unsupportedDataType(tensor: node.outputs.first ?? node.name, dataType: ONNXDataType.name(of: Int32(clamping: to)))
        }
    }

    private mutating func foldConstantOfShape(_ node: ONNXNode) throws -> Folded {
        let shapeValue = try constant(node.input(0), for: node)
        guard let shape = shapeValue.staticInts else {
            throw ONNXError.nonConstantInput(node: node.name, op: node.opType, input: node.input(0))
        }
        try checkSize(node, shape)
        let count = try TensorDecoder.elementCount(shape.map { Int64($0) }, tensor: node.outputs.first ?? node.name)
        guard let proto = try node.attributes.tensor("value") else {
            return Folded(shape: shape, floats: [Float](repeating: 0, count: count))
        }
        switch try decoder.decode(proto).1 {
        case .float(let t):
            guard t.count == 1 else { throw failure(node, "value must hold one element") }
            return Folded(shape: shape, floats: [Float](repeating: t.data[0], count: count))
        case .integer(_, let values):
            guard values.count == 1 else { throw failure(node, "value must hold one element") }
            return Folded(shape: shape, ints: [Int](repeating: values[0], count: count))
        }
    }

    private mutating func foldUnsqueeze(_ node: ONNXNode) throws -> Folded {
        let value = try constant(node.input(0), for: node)
        guard let axes = try axes(node, inputIndex: 1) else {
            throw ONNXError.missingAttribute(node: node.name, op: node.opType, attribute: "axes")
        }
        let rank = value.shape.count + axes.count
        var shape = value.shape
        var normalized: [Int] = []
        for a in axes {
            guard let n = IndexMath.normalize(a, rank: rank), !normalized.contains(n) else {
                throw failure(node, "bad axes \(axes) for output rank \(rank)")
            }
            normalized.append(n)
        }
        for a in normalized.sorted() { shape.insert(1, at: a) }
        return value.reshaped(shape)
    }

    private mutating func foldSqueeze(_ node: ONNXNode) throws -> Folded {
        let value = try constant(node.input(0), for: node)
        let rank = value.shape.count
        let axes = try axes(node, inputIndex: 1)
        var remove = Set<Int>()
        if let axes {
            for a in axes {
                guard let n = IndexMath.normalize(a, rank: rank), value.shape[n] == 1 else {
                    throw failure(node, "cannot squeeze axes \(axes) of shape \(value.shape)")
                }
                remove.insert(n)
            }
        } else {
            remove = Set(value.shape.indices.filter { value.shape[$0] == 1 })
        }
        return value.reshaped(value.shape.indices.filter { !remove.contains($0) }.map { value.shape[$0] })
    }

    private mutating func foldConcat(_ node: ONNXNode) throws -> Folded {
        let parts = try node.inputs.filter { !$0.isEmpty }.map { try constant($0, for: node) }
        guard let first = parts.first else { throw failure(node, "no inputs") }
        guard let axisAttribute = try node.attributes.int("axis") else {
            throw ONNXError.missingAttribute(node: node.name, op: node.opType, attribute: "axis")
        }
        let rank = first.shape.count
        guard let axis = IndexMath.normalize(axisAttribute, rank: rank) else { throw failure(node, "axis out of range") }
        for p in parts {
            guard p.shape.count == rank, (0..<rank).allSatisfy({ $0 == axis || p.shape[$0] == first.shape[$0] }) else {
                throw failure(node, "input shapes do not agree outside axis \(axis)")
            }
        }
        let outer = Array(first.shape[..<axis]).elementCount
        let inner = Array(first.shape[(axis + 1)...]).elementCount
        var shape = first.shape
        shape[axis] = parts.reduce(0) { $0 + $1.shape[axis] }
        let anyFloat = parts.contains { $0.isFloat }
        var lowInts: [Int] = [], highInts: [Int] = [], lowFloats: [Float] = [], highFloats: [Float] = []
        for o in 0..<outer {
            for p in parts {
                let block = p.shape[axis] * inner
                let range = (o * block)..<((o + 1) * block)
                if anyFloat {
                    let (l, h) = p.floatPair
                    lowFloats += l[range]
                    highFloats += h[range]
                } else if case .ints(let l, let h) = p.values {
                    lowInts += l[range]
                    highInts += h[range]
                }
            }
        }
        return anyFloat
            ? Folded(shape: shape, values: .floats(low: lowFloats, high: highFloats))
            : Folded(shape: shape, values: .ints(low: lowInts, high: highInts))
    }

    /// Slice's starts, ends, axes and steps: attributes before opset 10, constant inputs 1-4 from
    /// then on; omitted axes are the leading ones, omitted steps are 1.
    mutating func sliceLists(_ node: ONNXNode) throws -> (starts: [Int], ends: [Int], axes: [Int], steps: [Int]) {
        let starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if let s = try node.attributes.ints("starts") {
            guard let e = try node.attributes.ints("ends") else {
                throw ONNXError.missingAttribute(node: node.name, op: node.opType, attribute: "ends")
            }
            (starts, ends, axes, steps) = (s, e, try node.attributes.ints("axes"), nil)
        } else if opset < 10 {
            throw ONNXError.missingAttribute(node: node.name, op: node.opType, attribute: "starts")
        } else {
            for (i, what) in [(1, "starts"), (2, "ends")] where node.input(i).isEmpty {
                throw ONNXError.missingAttribute(node: node.name, op: node.opType, attribute: what)
            }
            starts = try constantInts(node.input(1), for: node)
            ends = try constantInts(node.input(2), for: node)
            axes = node.input(3).isEmpty ? nil : try constantInts(node.input(3), for: node)
            steps = node.input(4).isEmpty ? nil : try constantInts(node.input(4), for: node)
        }
        return (starts, ends, axes ?? Array(0..<starts.count), steps ?? [Int](repeating: 1, count: starts.count))
    }

    private mutating func foldSlice(_ node: ONNXNode) throws -> Folded {
        let value = try constant(node.input(0), for: node)
        let (starts, ends, axes, steps) = try sliceLists(node)
        let op = Op.slice(starts: starts, ends: ends, axes: axes, steps: steps)
        let g: SliceGeometry
        do {
            g = try Graph.sliceGeometry(Node(name: node.name, op: op, inputs: [], outputs: []), starts: starts, ends: ends,
                                        axes: axes, steps: steps, input: value.shape)
        } catch {
            throw failure(node, "\(error)")
        }
        let strides = g.inputStrides
        let count = g.output.elementCount
        var sources: [Int] = []
        sources.reserveCapacity(count)
        var index = [Int](repeating: 0, count: g.output.count)
        for _ in 0..<count {
            var source = g.inputOffset
            for axis in index.indices { source += index[axis] * strides[axis] }
            sources.append(source)
            var axis = index.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < g.output[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return value.picking(sources, shape: g.output)
    }

    private mutating func foldReshape(_ node: ONNXNode) throws -> Folded {
        let value = try constant(node.input(0), for: node)
        let target = try node.attributes.ints("shape") ?? constantInts(node.input(1), for: node)
        let allowZero = try node.attributes.int("allowzero") ?? 0 != 0
        var shape = target
        var inferred: Int?
        for (i, d) in target.enumerated() {
            if d == 0 && !allowZero {
                guard i < value.shape.count else { throw failure(node, "0 in target \(target) beyond input rank") }
                shape[i] = value.shape[i]
            } else if d == -1 {
                guard inferred == nil else { throw failure(node, "more than one -1 in target \(target)") }
                inferred = i
            } else if d < 0 {
                throw failure(node, "negative dimension in target \(target)")
            }
        }
        if let i = inferred {
            shape[i] = 1
            let known = shape.elementCount
            guard known > 0, value.count % known == 0 else { throw failure(node, "cannot infer -1 in \(target)") }
            shape[i] = value.count / known
        }
        guard shape.elementCount == value.count else {
            throw failure(node, "target \(target) does not match \(value.count) elements")
        }
        return value.reshaped(shape)
    }

    private mutating func foldArithmetic(_ node: ONNXNode) throws -> Folded {
        let a = try constant(node.input(0), for: node)
        let b = try constant(node.input(1), for: node)
        guard let shape = Graph.broadcast(a.shape, b.shape) else {
            throw failure(node, "shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        try checkSize(node, shape)
        let sa = IndexMath.broadcastSources(from: a.shape, to: shape)
        let sb = IndexMath.broadcastSources(from: b.shape, to: shape)
        let op = node.opType
        if case .ints(let al, let ah) = a.values, case .ints(let bl, let bh) = b.values {
            func apply(_ x: [Int], _ y: [Int]) throws -> [Int] {
                try zip(sa, sb).map { i, j in
                    let l = x[i], r = y[j]
                    let (v, overflow): (Int, Bool)
                    switch op {
                    case "Add": (v, overflow) = l.addingReportingOverflow(r)
                    case "Sub": (v, overflow) = l.subtractingReportingOverflow(r)
                    case "Mul": (v, overflow) = l.multipliedReportingOverflow(by: r)
                    default:
                        guard r != 0 else { throw failure(node, "integer division by zero") }
                        (v, overflow) = l.dividedReportingOverflow(by: r)
                    }
                    guard !overflow else { throw failure(node, "integer overflow") }
                    return v
                }
            }
            return Folded(shape: shape, values: .ints(low: try apply(al, bl), high: try apply(ah, bh)))
        }
        func apply(_ x: [Float], _ y: [Float]) -> [Float] {
            zip(sa, sb).map { i, j in
                switch op {
                case "Add": x[i] + y[j]
                case "Sub": x[i] - y[j]
                case "Mul": x[i] * y[j]
                default: x[i] / y[j]
                }
            }
        }
        let (al, ah) = a.floatPair
        let (bl, bh) = b.floatPair
        return Folded(shape: shape, values: .floats(low: apply(al, bl), high: apply(ah, bh)))
    }
}
