// Inference lowering: removes Identity/Dropout, cancels Transposes (Graph+Transposes.swift),
// fuses Keras's hard_swish/hard_sigmoid arithmetic into one node, folds BatchNormalization into
// the preceding Conv, fuses a following Relu/Clip into the Conv, and drops initializers nobody reads.
// Folding scales whole output rows of the weight, so pruned (exactly zero) weights stay zero.
// It does not quantize, prune or reorder nodes; outputs are unchanged up to float rounding.

extension Graph {
    /// The inference form of this graph (verified first), computing the same outputs.
    ///
    /// ```swift
    /// let inference = try graph.lowered()   // conv → bn → relu becomes one conv(activation: .relu)
    /// ```
    public func lowered() throws -> Graph {
        try verify()
        var g = self
        while g.removeOnePassThrough() {}
        g.cancelTransposes()
        while g.fuseOneHardActivation() {}
        while g.foldOneBatchNormalization() {}
        while g.fuseOneActivation() {}
        g.dropUnusedInitializers()
        return g
    }

    /// How many times each value is read by a node.
    private func readCounts() -> [String: Int] {
        var counts: [String: Int] = [:]
        for node in nodes {
            for name in node.inputs where !name.isEmpty { counts[name, default: 0] += 1 }
        }
        return counts
    }

    var outputNames: Set<String> { Set(outputs.map(\.name)) }

    /// Replaces every node input `old` with `new` in nodes after index `start`.
    mutating func rewire(_ old: String, to new: String, after start: Int) {
        for i in (start + 1)..<nodes.count {
            for j in 0..<nodes[i].inputs.count where nodes[i].inputs[j] == old {
                nodes[i].inputs[j] = new
            }
        }
    }

    /// Removes one Identity or Dropout; false when none can go.
    private mutating func removeOnePassThrough() -> Bool {
        let graphOutputs = outputNames
        for (i, node) in nodes.enumerated() {
            switch node.op {
            case .identity, .dropout: break
            default: continue
            }
            let x = node.inputs[0], y = node.outputs[0]
            if !graphOutputs.contains(y) {
                rewire(y, to: x, after: i)
                nodes.remove(at: i)
                return true
            }
            // y must keep its name: let x's producer write y instead, if x is free to rename.
            guard !graphOutputs.contains(x),
                  let p = nodes[..<i].lastIndex(where: { $0.outputs.contains(x) }) else { continue }
            let slot = nodes[p].outputs.firstIndex(of: x) ?? 0
            nodes[p].outputs[slot] = y
            nodes.remove(at: i)
            rewire(x, to: y, after: p)
            return true
        }
        return false
    }

    /// A name no initializer, input, node or value uses (nor any of `extra`), starting with `base`.
    func unusedName(_ base: String, also extra: [String] = []) -> String {
        var taken = Set(initializers.keys).union(inputs.map(\.name)).union(extra)
        for node in nodes { taken.insert(node.name); taken.formUnion(node.inputs); taken.formUnion(node.outputs) }
        if !taken.contains(base) { return base }
        var k = 1
        while taken.contains("\(base)_\(k)") { k += 1 }
        return "\(base)_\(k)"
    }

    /// Folds one BatchNormalization into the Conv that feeds only it; false when none qualifies.
    private mutating func foldOneBatchNormalization() -> Bool {
        let reads = readCounts()
        let graphOutputs = outputNames
        for (j, bn) in nodes.enumerated() {
            guard case .batchNormalization(let epsilon) = bn.op else { continue }
            let c = bn.inputs[0]
            guard reads[c] == 1, !graphOutputs.contains(c),
                  let i = nodes[..<j].lastIndex(where: { $0.outputs == [c] }),
                  case .conv = nodes[i].op else { continue }
            let conv = nodes[i]
            let weightName = conv.inputs[1]
            let biasName = conv.inputs.count > 2 ? conv.inputs[2] : ""
            guard let w = initializers[weightName], w.rank == 4 else { continue }
            let m = w.shape[0]
            // An omitted scale ("") is fixed at 1 (Keras `scale=False`).
            let params = bn.inputs[1...4].compactMap {
                $0.isEmpty ? [Float](repeating: 1, count: m) : initializers[$0]?.data
            }
            guard params.count == 4, params.allSatisfy({ $0.count == m }) else { continue }
            let scale = params[0], beta = params[1], mean = params[2], variance = params[3]
            var bias = [Float](repeating: 0, count: m)
            if !biasName.isEmpty {
                guard let b = initializers[biasName], b.data.count == m else { continue }
                bias = b.data
            }

            var weight = w
            let row = w.count / max(m, 1)
            for oc in 0..<m {
                let factor = scale[oc] / (variance[oc] + epsilon).squareRoot()
                for k in (oc * row)..<((oc + 1) * row) { weight.data[k] *= factor }
                bias[oc] = (bias[oc] - mean[oc]) * factor + beta[oc]
            }
            // Keep the weight's name when nothing else reads it, so per-tensor metadata still applies.
            let newWeight = reads[weightName] == 1 && !graphOutputs.contains(weightName)
                ? weightName : unusedName(weightName + "_bn_folded")
            let newBias = !biasName.isEmpty && reads[biasName] == 1 && !graphOutputs.contains(biasName)
                ? biasName : unusedName(conv.name + "_bias")
            initializers[newWeight] = weight
            initializers[newBias] = Tensor(shape: [m], data: bias)
            var fused = conv
            fused.inputs = [conv.inputs[0], newWeight, newBias]
            fused.outputs = bn.outputs
            nodes[i] = fused
            nodes.remove(at: j)
            return true
        }
        return false
    }

    /// Fuses one Relu/Clip into the Conv whose sole reader it is; false when none qualifies.
    private mutating func fuseOneActivation() -> Bool {
        let reads = readCounts()
        let graphOutputs = outputNames
        for (j, act) in nodes.enumerated() {
            let activation: FusedActivation
            switch act.op {
            case .relu: activation = .relu
            case .clip(let lo, let hi): activation = .clip(min: lo, max: hi)
            default: continue
            }
            let c = act.inputs[0]
            guard reads[c] == 1, !graphOutputs.contains(c),
                  let i = nodes[..<j].lastIndex(where: { $0.outputs == [c] }),
                  case .conv(var attributes) = nodes[i].op, attributes.activation == .none else { continue }
            attributes.activation = activation
            nodes[i].op = .conv(attributes)
            nodes[i].outputs = act.outputs
            nodes.remove(at: j)
            return true
        }
        return false
    }

    /// Keras's hard_sigmoid and hard_swish as tf2onnx writes them, relu6(x + 3) · (1/6) and
    /// x · that (either Mul first), become one HardSigmoid(1/6, 1/2) or HardSwish node; false
    /// when none qualifies. Intermediate values must have no other reader.
    private mutating func fuseOneHardActivation() -> Bool {
        let reads = readCounts()
        let graphOutputs = outputNames
        func scalar(_ name: String) -> Float? {
            guard let t = initializers[name], t.count == 1 else { return nil }
            return t.data[0]
        }
        func isSixth(_ name: String) -> Bool { scalar(name).map { abs($0 - 1.0 / 6) < 1e-6 } ?? false }
        func reader(of value: String) -> Int? {
            guard reads[value] == 1, !graphOutputs.contains(value) else { return nil }
            return nodes.firstIndex { $0.inputs.contains(value) }
        }
        func other(_ node: Node, than value: String) -> String? {
            node.inputs.count == 2 && node.inputs.contains(value) ? (node.inputs[0] == value ? node.inputs[1] : node.inputs[0]) : nil
        }
        for (ci, clip) in nodes.enumerated() {
            guard case .clip(0, 6) = clip.op, let a = clip.inputs.first, reads[a] == 1, !graphOutputs.contains(a),
                  let ai = nodes[..<ci].lastIndex(where: { $0.outputs == [a] }), case .add = nodes[ai].op,
                  let x = nodes[ai].inputs.first(where: { scalar($0) != 3 }), let three = other(nodes[ai], than: x),
                  scalar(three) == 3, let mi = reader(of: clip.outputs[0]), case .mul = nodes[mi].op,
                  let factor = other(nodes[mi], than: clip.outputs[0]) else { continue }
            var remove = [ai, ci, mi]
            var op = Op.hardSigmoid(alpha: 1.0 / 6, beta: 0.5)
            var last = mi
            if isSixth(factor) {
                // relu6(x + 3) · (1/6): a hard sigmoid, times x when the next Mul reads x.
                if let ni = reader(of: nodes[mi].outputs[0]), case .mul = nodes[ni].op,
                   other(nodes[ni], than: nodes[mi].outputs[0]) == x {
                    op = .hardSwish
                    remove.append(ni)
                    last = ni
                }
            } else if factor == x, let ni = reader(of: nodes[mi].outputs[0]), case .mul = nodes[ni].op,
                      let k = other(nodes[ni], than: nodes[mi].outputs[0]), isSixth(k) {
                // x · relu6(x + 3), then · (1/6).
                op = .hardSwish
                remove.append(ni)
                last = ni
            } else {
                continue
            }
            let fused = Node(name: nodes[last].name, op: op, inputs: [x], outputs: nodes[last].outputs)
            nodes[last] = fused
            for i in remove.sorted(by: >) where i != last { nodes.remove(at: i) }
            return true
        }
        return false
    }

    /// Removes initializers that no node reads and no graph output names.
    private mutating func dropUnusedInitializers() {
        var used = outputNames
        for node in nodes { used.formUnion(node.inputs) }
        initializers = initializers.filter { used.contains($0.key) }
    }
}
