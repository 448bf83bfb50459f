// The conv and Gemm weights of a graph (input 1, rank ≥ 2) in graph order, and the constant 2-D
// weights of MatMul (a Linear layer exported as MatMul(x, W[K, N]), + Add for the bias), each with
// its roles (first conv, depthwise, classifier): what pruning may touch, what the artifact writer
// may store sparse or int8. It only lists and classifies; allocators and writers decide what to do.
// "Gemm" in the names and messages around it covers those MatMul layers too.

/// A role that makes a layer a candidate for exclusion from pruning.
public enum LayerRole: String, Sendable, Codable, CaseIterable, Hashable {
    /// The first convolution: it sees raw pixels and has few weights.
    case firstConv = "first_conv"
    /// A depthwise convolution: one small filter per channel, each zero removes a whole tap.
    case depthwise
    /// The last Gemm (or MatMul Linear layer): the classifier head.
    case classifier
}

/// One conv, Gemm or MatMul weight that pruning may zero.
public struct PrunableLayer: Sendable, Equatable, Codable {
    /// Weight initializer name.
    public var tensor: String
    /// The node reading it.
    public var node: String
    /// Weight shape.
    public var shape: [Int]
    /// Roles the layer plays (empty for an ordinary conv/Gemm).
    public var roles: Set<LayerRole>

    /// Elements in the weight.
    public var elements: Int { shape.reduce(1, *) }
    /// Rows of the stored matrix view (output channels for conv and Gemm with transB, input
    /// features for a MatMul weight [K, N]).
    public var rows: Int { shape.first ?? 1 }
    /// Columns of the stored matrix view.
    public var columns: Int { shape.count > 1 ? shape.dropFirst().reduce(1, *) : 1 }
}

extension Graph {
    /// Conv, Gemm and MatMul-Linear weights in graph order with their roles; a weight shared by
    /// two nodes appears once.
    public func prunableLayers() -> [PrunableLayer] {
        var seen = Set<String>()
        var list: [(node: Node, weight: String, shape: [Int])] = []
        for node in nodes where node.inputs.count > 1 {
            let w = node.inputs[1]
            guard let t = initializers[w] else { continue }
            switch node.op {
            case .conv, .gemm:
                if t.rank >= 2, seen.insert(w).inserted { list.append((node, w, t.shape)) }
            case .matMul:
                if isLinearMatMul(node), seen.insert(w).inserted { list.append((node, w, t.shape)) }
            default: break
            }
        }
        let firstConv = list.first { if case .conv = $0.node.op { true } else { false } }?.node.name
        let lastGemm = list.last {
            switch $0.node.op {
            case .gemm, .matMul: true
            default: false
            }
        }?.node.name
        return list.map { node, w, shape in
            var roles = Set<LayerRole>()
            if node.name == firstConv { roles.insert(.firstConv) }
            if case .conv(let a) = node.op, a.groups > 1, shape.count > 1, shape[1] == 1 { roles.insert(.depthwise) }
            if node.name == lastGemm { roles.insert(.classifier) }
            return PrunableLayer(tensor: w, node: node.name, shape: shape, roles: roles)
        }
    }
}

extension Graph {
    /// Whether `node` is a Linear layer exported as MatMul: a run-time input times a constant 2-D
    /// weight [K, N] (input 1), whatever the input's leading dimensions. Its weight is stored,
    /// pruned and quantized as a [K, N] matrix: rows are input features.
    public func isLinearMatMul(_ node: Node) -> Bool {
        guard case .matMul = node.op, node.inputs.count == 2, initializers[node.inputs[0]] == nil,
              let w = initializers[node.inputs[1]] else { return false }
        return w.rank == 2
    }
}

extension Graph {
    /// `masks` of `before`'s weights renamed to the weights the same conv/Gemm node reads in this
    /// graph (its lowered form: folding renames weights but keeps node names and shapes).
    public func carrying(_ masks: [String: [Bool]], from before: Graph) -> [String: [Bool]] {
        guard !masks.isEmpty else { return [:] }
        var weightOfNode: [String: String] = [:]
        for layer in prunableLayers() { weightOfNode[layer.node] = layer.tensor }
        var out: [String: [Bool]] = [:]
        for layer in before.prunableLayers() {
            if let m = masks[layer.tensor], let w = weightOfNode[layer.node], initializers[w]?.count == m.count {
                out[w] = m
            }
        }
        return out
    }
}
