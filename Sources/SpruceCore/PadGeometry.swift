// Where Pad reads: each output index of each axis resolved to the input index it copies (or to
// the constant), for the three modes, so shape inference, the reference executor, the trainer and
// the runtime follow one rule. Negative pads crop first, then reflect and edge mirror or repeat
// the cropped axis (onnxruntime's and onnx.reference's order). Nothing here copies data.

/// Pad resolved against one input shape: output element (i₀, i₁, …) is input element
/// (sources[0][i₀], sources[1][i₁], …), or the pad value where any of them is -1.
public struct PadGeometry: Sendable, Equatable, Hashable {
    /// Input shape.
    public var input: [Int]
    /// Output shape.
    public var output: [Int]
    /// For every axis, the input index each output index copies; -1 (constant mode only) where
    /// the pad value fills.
    public var sources: [[Int]]
}

extension PadMode {
    /// The input index that output index `index` copies on an axis of `length` input elements
    /// with `begin` elements added in front (negative: cropped) and `end` behind; nil where the
    /// constant fills. Assumes pads that `Graph.padGeometry` accepted.
    public func source(of index: Int, length: Int, begin: Int, end: Int) -> Int? {
        if self == .constant {
            let i = index - begin
            return i >= 0 && i < length ? i : nil
        }
        let cropped = max(0, -begin)
        let kept = length - cropped - max(0, -end)
        var j = index - max(0, begin)
        if j < 0 {
            j = self == .reflect ? -j : 0
        } else if j >= kept {
            j = self == .reflect ? 2 * (kept - 1) - j : kept - 1
        }
        return cropped + j
    }
}

extension Graph {
    /// Output shape of Pad over `input`, after checking that the pads fit it: one begin and one end
    /// per axis, no axis cropped below zero, and for `reflect` every pad shorter than the (cropped)
    /// axis, for `edge` no pad on an empty axis. Throws the `GraphError` naming `node`.
    public static func padOutputShape(_ node: Node, pads: [Int], mode: PadMode, input: [Int]) throws -> [Int] {
        let rank = input.count
        func bad(_ detail: String) -> GraphError {
            .invalidAttribute(node: node.name, op: node.op.onnxName, detail: detail)
        }
        guard pads.count == 2 * rank else { throw bad("pads \(pads) need \(2 * rank) entries for rank \(rank)") }
        guard pads.allSatisfy({ abs($0) <= attributeLimit }) else { throw bad("pads \(pads) exceed \(attributeLimit)") }
        func mismatch(_ detail: String) -> GraphError {
            .shapeMismatch(node: node.name, op: node.op.onnxName, detail: detail)
        }
        var out = input
        for axis in 0..<rank {
            let begin = pads[axis], end = pads[axis + rank]
            out[axis] = input[axis] + begin + end
            guard out[axis] >= 0 else { throw mismatch("pads \(pads) crop axis \(axis) of \(input) below zero") }
            guard mode != .constant else { continue }
            let kept = input[axis] - max(0, -begin) - max(0, -end)
            guard kept >= 0 else { throw mismatch("pads \(pads) crop axis \(axis) of \(input) below zero") }
            let longest = max(begin, end)
            if mode == .reflect && longest >= kept && longest > 0 {
                throw mismatch("reflect pads \(pads) must each be smaller than the axis they mirror: axis \(axis) "
                               + "of \(input) has \(kept) element\(kept == 1 ? "" : "s")"
                               + "\(kept < input[axis] ? " after cropping" : ""), its pad is \(longest)")
            }
            if mode == .edge && kept == 0 && longest > 0 {
                throw mismatch("edge pads \(pads) pad axis \(axis) of \(input), which has no element to repeat")
            }
        }
        return out
    }

    /// Pad resolved against `input` (see `padOutputShape` for what is checked).
    public static func padGeometry(_ node: Node, pads: [Int], mode: PadMode, input: [Int]) throws -> PadGeometry {
        let output = try padOutputShape(node, pads: pads, mode: mode, input: input)
        let rank = input.count
        let sources = (0..<rank).map { axis in
            (0..<output[axis]).map { o in
                mode.source(of: o, length: input[axis], begin: pads[axis], end: pads[axis + rank]) ?? -1
            }
        }
        return PadGeometry(input: input, output: output, sources: sources)
    }
}
