// Where Slice and Split read: each resolved against a concrete input shape into a first index,
// a step and an extent per axis, so shape inference, the reference executor, the trainer and the
// runtime all follow one rule (ONNX's clamping included). A Split is one step-1 slice per output.
// Nothing here copies data; the kernels walk the geometry.

/// A strided crop of one input shape: output element (i₀, i₁, …) is input element
/// (first[0] + i₀·steps[0], first[1] + i₁·steps[1], …).
public struct SliceGeometry: Sendable, Equatable, Hashable {
    /// Input shape.
    public var input: [Int]
    /// First input index on every axis (0 where the axis is kept whole).
    public var first: [Int]
    /// Input step on every axis (1 where the axis is kept whole; negative walks backwards).
    public var steps: [Int]
    /// Output shape.
    public var output: [Int]

    /// A geometry from its parts (one entry per input axis in each list).
    public init(input: [Int], first: [Int], steps: [Int], output: [Int]) {
        self.input = input
        self.first = first
        self.steps = steps
        self.output = output
    }

    /// Flat input offset of output element 0 (0 when the output is empty).
    public var inputOffset: Int {
        if output.contains(0) { return 0 }
        return zip(first, input.rowMajorStrides).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// Flat input distance between neighbours along each output axis.
    public var inputStrides: [Int] {
        zip(input.rowMajorStrides, steps).map { $0 * $1 }
    }

    /// Step-1 slice of `[offset, offset + size)` along `axis` (one Split piece).
    public static func piece(of input: [Int], axis: Int, offset: Int, size: Int) -> SliceGeometry {
        var first = [Int](repeating: 0, count: input.count), output = input
        first[axis] = offset
        output[axis] = size
        return SliceGeometry(input: input, first: first, steps: [Int](repeating: 1, count: input.count), output: output)
    }
}

extension Graph {
    /// Resolves Slice attributes against `input`: negative starts and ends count from the end,
    /// then both are clamped to the axis (ONNX Slice-13). Throws the `GraphError` naming `node`
    /// for lists of different lengths, a zero step, or an axis out of range or repeated.
    public static func sliceGeometry(_ node: Node, starts: [Int], ends: [Int], axes: [Int], steps: [Int],
                                     input: [Int]) throws -> SliceGeometry {
        func bad(_ detail: String) -> GraphError {
            .invalidAttribute(node: node.name, op: node.op.onnxName, detail: detail)
        }
        try checkSliceLists(starts: starts, ends: ends, axes: axes, steps: steps, bad)
        let rank = input.count
        var first = [Int](repeating: 0, count: rank)
        var step = [Int](repeating: 1, count: rank)
        var output = input
        var seen = Set<Int>()
        for k in axes.indices {
            guard let axis = normalizedAxis(axes[k], rank: rank) else {
                throw bad("axis \(axes[k]) out of range for rank \(rank)")
            }
            guard seen.insert(axis).inserted else { throw bad("axes \(axes) repeat axis \(axis)") }
            let dim = input[axis], s = steps[k]
            // Below -dim (PyTorch writes INT64_MIN) means "before the first element".
            func fromEnd(_ v: Int) -> Int { v < 0 ? (v < -dim ? -1 : v + dim) : v }
            var b = fromEnd(starts[k]), e = fromEnd(ends[k])
            if s > 0 {
                b = min(max(b, 0), dim)
                e = min(max(e, 0), dim)
                output[axis] = e > b ? (e - b - 1) / s + 1 : 0
            } else {
                b = min(max(b, 0), dim - 1)
                e = min(max(e, -1), dim - 1)
                output[axis] = b > e ? (b - e - 1) / -s + 1 : 0
            }
            first[axis] = output[axis] > 0 ? b : 0
            step[axis] = s
        }
        return SliceGeometry(input: input, first: first, steps: step, output: output)
    }

    /// The rules on Slice attributes that need no shape.
    static func checkSliceLists(starts: [Int], ends: [Int], axes: [Int], steps: [Int],
                                _ bad: (String) -> GraphError) throws {
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw bad("starts (\(starts.count)), ends (\(ends.count)), axes (\(axes.count)) and steps (\(steps.count)) differ in length")
        }
        // Int.min has no negation; any step that large already reaches past every axis.
        if let s = steps.first(where: { $0 == 0 || $0 == Int.min }) { throw bad("step \(s) is not allowed") }
    }

    /// The size of every Split piece along `axis` of `input` for a node with `outputs` outputs.
    /// Throws the `GraphError` naming `node` when the axis is out of range, the sizes do not match
    /// the outputs or do not add up to the axis, or an equal split leaves the last piece negative.
    public static func splitSizes(_ node: Node, axis: Int, sizes: [Int], outputs: Int,
                                  input: [Int]) throws -> (axis: Int, sizes: [Int]) {
        let name = node.op.onnxName
        guard let a = normalizedAxis(axis, rank: input.count) else {
            throw GraphError.invalidAttribute(node: node.name, op: name, detail: "axis \(axis) out of range for rank \(input.count)")
        }
        let dim = input[a]
        if !sizes.isEmpty {
            guard sizes.count == outputs else {
                throw GraphError.arity(node: node.name, op: name, detail: "\(sizes.count) split sizes for \(outputs) outputs")
            }
            guard sizes.allSatisfy({ $0 >= 0 && $0 <= dim }), sizes.reduce(0, +) == dim else {
                throw GraphError.shapeMismatch(node: node.name, op: name,
                                               detail: "split sizes \(sizes) do not add up to \(dim) on axis \(a) of \(input)")
            }
            return (a, sizes)
        }
        guard outputs > 0 else { throw GraphError.arity(node: node.name, op: name, detail: "expects at least 1 output, has 0") }
        let piece = (dim + outputs - 1) / outputs
        let last = dim - piece * (outputs - 1)
        guard last >= 0 else {
            throw GraphError.shapeMismatch(node: node.name, op: name,
                                           detail: "axis \(a) of \(input) (size \(dim)) cannot be split into \(outputs) pieces of \(piece)")
        }
        return (a, [Int](repeating: piece, count: outputs - 1) + [last])
    }

    /// One geometry per output of Split `node` over `input`.
    public static func splitGeometries(_ node: Node, axis: Int, sizes: [Int], input: [Int]) throws -> [SliceGeometry] {
        let (a, resolved) = try splitSizes(node, axis: axis, sizes: sizes, outputs: node.outputs.count, input: input)
        var offset = 0
        return resolved.map { size in
            defer { offset += size }
            return SliceGeometry.piece(of: input, axis: a, offset: offset, size: size)
        }
    }
}
