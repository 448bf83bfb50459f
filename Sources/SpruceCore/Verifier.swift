// The graph verifier: structure (topological order, unique definitions, produced outputs),
// per-operator arity and attributes, and shape consistency with dynamic dims set to 1.
// It reports the first broken rule as a GraphError naming the node or value; it never repairs.
// Operator rules are shared with shape inference (ShapeInference.swift), not duplicated here.

extension Graph {
    /// Checks every structural, attribute and shape rule; throws the first `GraphError` found.
    ///
    /// ```swift
    /// try model.graph.verify()   // e.g. "node 'conv3' (Conv): invalid attribute: strides [0, 1] must be positive"
    /// ```
    public func verify() throws {
        var defined = Set<String>()
        for (name, tensor) in initializers.sorted(by: { $0.key < $1.key }) {
            try Graph.checkInitializer(name: name, tensor)
            defined.insert(name)
        }
        for info in inputs {
            guard !info.name.isEmpty else { throw GraphError.badInput(name: info.name, detail: "empty input name") }
            guard defined.insert(info.name).inserted else { throw GraphError.duplicateValue(info.name) }
            for (axis, d) in info.shape.enumerated() {
                if let d, d < 0 {
                    throw GraphError.badInput(name: info.name, detail: "negative dimension \(d) at axis \(axis)")
                }
            }
        }
        var nodeNames = Set<String>()
        var producer: [String: Node] = [:]
        for node in nodes {
            guard nodeNames.insert(node.name).inserted else { throw GraphError.duplicateNode(node.name) }
            try Graph.checkArity(node)
            try Graph.checkAttributes(node)
            for value in node.inputs where !value.isEmpty && !defined.contains(value) {
                throw GraphError.undefinedValue(node: node.name, value: value)
            }
            for value in node.outputs {
                guard defined.insert(value).inserted else { throw GraphError.duplicateValue(value) }
                producer[value] = node
            }
        }
        for output in outputs where !defined.contains(output.name) {
            throw GraphError.missingOutput(output.name)
        }

        var concrete: [String: [Int]] = [:]
        for info in inputs { concrete[info.name] = info.shape.map { $0 ?? 1 } }
        let shapes = try inferShapes(inputShapes: concrete)
        for output in outputs where !output.shape.isEmpty {
            guard let inferred = shapes[output.name] else { throw GraphError.missingOutput(output.name) }
            let agrees = inferred.count == output.shape.count
                && zip(inferred, output.shape).allSatisfy { $1 == nil || $1 == $0 }
            if !agrees {
                let detail = "output '\(output.name)' is \(inferred), graph declares \(Graph.shapeText(output.shape))"
                if let node = producer[output.name] {
                    throw GraphError.shapeMismatch(node: node.name, op: node.op.onnxName, detail: detail)
                }
                throw GraphError.badInput(name: output.name, detail: detail)
            }
        }
    }
}
