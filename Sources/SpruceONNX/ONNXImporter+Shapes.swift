// Shapes of values during import, for folding `Shape` nodes and resolving axes and Reshape
// targets. Runtime shapes come from SpruceCore's shape inference run on the partial graph twice,
// with every dynamic input dimension set to 1 and then to 2; dimensions that differ are dynamic.
import SpruceCore

/// Shapes inferred over the first `nodeCount` nodes under the two dynamic-dimension assignments.
struct InferredShapes {
    var nodeCount: Int
    var low: [String: [Int]]
    var high: [String: [Int]]
}

extension ONNXImporter.Session {
    /// The graph built so far, with no outputs.
    var partialGraph: Graph {
        Graph(nodes: nodes, initializers: initializers, inputs: inputs, outputs: [])
    }

    /// Input shapes with every dynamic dimension set to `value`.
    func inputShapes(dynamic value: Int) -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for input in inputs { shapes[input.name] = input.shape.map { $0 ?? value } }
        return shapes
    }

    /// Shapes of `value` with dynamic dimensions set to 1 (`low`) and 2 (`high`).
    mutating func shapePair(of value: String, node: String) throws -> (low: [Int], high: [Int]) {
        if let tensor = initializers[value] { return (tensor.shape, tensor.shape) }
        if let constant = folded[value] { return (constant.shape, constant.shape) }
        if let input = inputs.first(where: { $0.name == value }) {
            return (input.shape.map { $0 ?? 1 }, input.shape.map { $0 ?? 2 })
        }
        if shapeCache?.nodeCount != nodes.count {
            let graph = partialGraph
            do {
                shapeCache = InferredShapes(nodeCount: nodes.count,
                                            low: try graph.inferShapes(inputShapes: inputShapes(dynamic: 1)),
                                            high: try graph.inferShapes(inputShapes: inputShapes(dynamic: 2)))
            } catch let error as GraphError {
                throw ONNXError.invalidGraph(error)
            }
        }
        guard let low = shapeCache?.low[value], let high = shapeCache?.high[value], low.count == high.count else {
            throw ONNXError.invalidGraph(.undefinedValue(node: node, value: value))
        }
        return (low, high)
    }

    /// Rank of `value`, or nil when it cannot be determined.
    mutating func rank(of value: String, node: String) -> Int? {
        (try? shapePair(of: value, node: node))?.low.count
    }

    /// Checks the finished graph with SpruceCore's rules, naming the node that breaks one.
    func check(_ graph: Graph) throws {
        do {
            try graph.verify()
        } catch let error as GraphError {
            throw ONNXError.invalidGraph(error)
        }
    }
}
