// Transpose cancellation for inference lowering. Converters from NHWC frameworks (tf2onnx) wrap
// convolutions in Transposes to NHWC and back around the elementwise arithmetic between them
// (HardSwish as Add/Clip/Mul/Mul, squeeze-and-excitation's ReduceMean and gate). A Transpose is
// moved below an elementwise operator, a keep-dims ReduceMean or a constant Pad whose other inputs
// are the same Transpose or constants (permuted to match); a Transpose whose input is the inverse
// Transpose is removed. Values computed are unchanged: only where the permutation happens moves.

extension Graph {
    /// Sinks Transposes through layout-free operators and cancels inverse pairs until none can
    /// move; Transposes nobody reads any more are removed.
    mutating func cancelTransposes() {
        var moved = 0
        while moved < 10 * nodes.count, sinkOneTranspose() || cancelOneTransposePair() { moved += 1 }
    }

    /// The permutation of a Transpose node over rank `rank` (nil perm: reversed axes).
    private static func permutation(_ node: Node, rank: Int? = nil) -> [Int]? {
        guard case .transpose(let perm) = node.op else { return nil }
        if let perm { return perm }
        guard let rank else { return nil }
        return Array((0..<rank).reversed())
    }

    /// Transpose(Q) of Transpose(P) with Q ∘ P the identity: the readers of the outer one read
    /// the inner one's input.
    private mutating func cancelOneTransposePair() -> Bool {
        let graphOutputs = outputNames
        for (i, outer) in nodes.enumerated() {
            guard case .transpose = outer.op, let inner = producer(of: outer.inputs[0]),
                  let p = Graph.permutation(nodes[inner]), let q = Graph.permutation(outer, rank: p.count),
                  p.count == q.count, q.indices.allSatisfy({ p[q[$0]] == $0 }) else { continue }
            let source = nodes[inner].inputs[0], y = outer.outputs[0]
            guard !graphOutputs.contains(y) else { continue }
            nodes.remove(at: i)
            rewire(y, to: source, after: i - 1)
            removeUnreadTransposes()
            return true
        }
        return false
    }

    /// Moves one Transpose below the operator reading it (see the file comment).
    private mutating func sinkOneTranspose() -> Bool {
        for (i, node) in nodes.enumerated() where node.outputs.count == 1 {
            let y = node.outputs[0]
            var found: [Int]?
            for input in node.inputs where found == nil {
                if let p = producer(of: input) { found = Graph.permutation(nodes[p]) }
            }
            guard let perm = found else { continue }
            let rank = perm.count
            var inverse = [Int](repeating: 0, count: rank)
            for (a, p) in perm.enumerated() { inverse[p] = a }
            // The operator in the untransposed layout, if it has one.
            let op: Op
            switch node.op {
            case .relu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .add, .sub, .mul, .div:
                op = node.op
            case .reduceMean(let axes, true):
                guard axes.allSatisfy({ $0 >= -rank && $0 < rank }) else { continue }
                op = .reduceMean(axes: axes.map { perm[$0 < 0 ? $0 + rank : $0] }.sorted(), keepDims: true)
            case .pad(let pads, let value, let mode):
                guard pads.count == 2 * rank, node.inputs.count == 1 else { continue }
                var moved = pads
                for a in 0..<rank {
                    moved[perm[a]] = pads[a]
                    moved[perm[a] + rank] = pads[a + rank]
                }
                op = .pad(pads: moved, value: value, mode: mode)
            default:
                continue
            }
            // Every input: the same Transpose's output, another Transpose with the same perm, or
            // a constant that broadcasts to at most `rank` dims.
            var newInputs: [String] = []
            var newConstants: [String: Tensor] = [:]
            var fits = true
            for input in node.inputs {
                if let p = producer(of: input), let q = Graph.permutation(nodes[p]), q == perm {
                    newInputs.append(nodes[p].inputs[0])
                } else if let c = initializers[input], c.rank <= rank {
                    if c.count == 1 {
                        newInputs.append(input)
                    } else {
                        let padded = Tensor(shape: [Int](repeating: 1, count: rank - c.rank) + c.shape, data: c.data)
                        let name = unusedName(input + "_untransposed", also: Array(newConstants.keys))
                        newConstants[name] = ReferenceExecutor.transpose(padded, perm: inverse)
                        newInputs.append(name)
                    }
                } else {
                    fits = false
                    break
                }
            }
            guard fits else { continue }
            let inner = unusedName(y + "_untransposed", also: Array(newConstants.keys))
            for (name, tensor) in newConstants { initializers[name] = tensor }
            nodes[i] = Node(name: node.name, op: op, inputs: newInputs, outputs: [inner])
            nodes.insert(Node(name: unusedName(node.name + "_transpose"), op: .transpose(perm: perm),
                              inputs: [inner], outputs: [y]), at: i + 1)
            removeUnreadTransposes()
            return true
        }
        return false
    }

    /// Index of the node writing `value`, if a node does.
    private func producer(of value: String) -> Int? {
        nodes.lastIndex { $0.outputs.contains(value) }
    }

    /// Removes Transposes (repeatedly) whose output no node and no graph output reads.
    private mutating func removeUnreadTransposes() {
        let graphOutputs = outputNames
        while true {
            var read = Set<String>()
            for node in nodes { read.formUnion(node.inputs) }
            guard let i = nodes.firstIndex(where: {
                if case .transpose = $0.op { !read.contains($0.outputs[0]) && !graphOutputs.contains($0.outputs[0]) } else { false }
            }) else { break }
            nodes.remove(at: i)
        }
    }
}
