// Shape inference on representative single-node cases (auto_pad, ceil mode, broadcasting,
// matmul, reshape, squeeze/unsqueeze, negative axes, pads, gemm) and on a small whole graph.

import SpruceCore
import Testing

struct ShapeCase: Sendable, CustomTestStringConvertible {
    var op: Op
    var inputs: [[Int]]
    var expected: [Int]
    var testDescription: String { "\(op.onnxName) \(inputs) → \(expected)" }
}

@Suite struct ShapeInferenceTests {
    static let cases: [ShapeCase] = [
        // Conv: [N, C, H, W] × [M, C/g, kH, kW].
        ShapeCase(op: .conv(ConvAttributes(kernelShape: [3, 3])), inputs: [[2, 3, 8, 8], [4, 3, 3, 3]], expected: [2, 4, 6, 6]),
        ShapeCase(op: .conv(ConvAttributes(kernelShape: [3, 3], strides: [2, 2], autoPad: .sameUpper)),
                  inputs: [[1, 3, 7, 7], [4, 3, 3, 3]], expected: [1, 4, 4, 4]),
        ShapeCase(op: .conv(ConvAttributes(kernelShape: [3, 3], strides: [2, 2], autoPad: .sameLower)),
                  inputs: [[1, 3, 8, 5], [4, 3, 3, 3]], expected: [1, 4, 4, 3]),
        ShapeCase(op: .conv(ConvAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [5, 5, 5, 5], autoPad: .valid)),
                  inputs: [[1, 3, 7, 7], [4, 3, 3, 3]], expected: [1, 4, 3, 3]),
        ShapeCase(op: .conv(ConvAttributes(kernelShape: [3, 3], strides: [1, 2], pads: [0, 1, 2, 0], dilations: [2, 1], groups: 4)),
                  inputs: [[1, 8, 9, 9], [4, 2, 3, 3]], expected: [1, 4, 7, 4]),
        ShapeCase(op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: [[3, 2, 5, 4], [6, 2, 1, 1], [6]], expected: [3, 6, 5, 4]),
        // Pools: floor vs ceil, and ceil's last window starting in trailing padding is dropped.
        ShapeCase(op: .maxPool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2])), inputs: [[1, 2, 8, 8]], expected: [1, 2, 3, 3]),
        ShapeCase(op: .maxPool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], ceilMode: true)), inputs: [[1, 2, 8, 8]], expected: [1, 2, 4, 4]),
        ShapeCase(op: .averagePool(PoolAttributes(kernelShape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true)),
                  inputs: [[1, 1, 5, 6]], expected: [1, 1, 3, 4]),
        ShapeCase(op: .averagePool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], autoPad: .sameLower, ceilMode: true)),
                  inputs: [[1, 1, 5, 5]], expected: [1, 1, 3, 3]),
        ShapeCase(op: .maxPool(PoolAttributes(kernelShape: [2, 2], dilations: [3, 3], autoPad: .valid)), inputs: [[1, 1, 6, 5]], expected: [1, 1, 3, 2]),
        ShapeCase(op: .globalAveragePool, inputs: [[2, 7, 5, 3]], expected: [2, 7, 1, 1]),
        // Broadcasting.
        ShapeCase(op: .add, inputs: [[2, 3, 4], [4]], expected: [2, 3, 4]),
        ShapeCase(op: .mul, inputs: [[2, 1, 4], [3, 1]], expected: [2, 3, 4]),
        ShapeCase(op: .div, inputs: [[], [5]], expected: [5]),
        ShapeCase(op: .sum, inputs: [[1, 3], [2, 1], [3]], expected: [2, 3]),
        // Matmul / Gemm.
        ShapeCase(op: .matMul, inputs: [[2, 3], [3, 4]], expected: [2, 4]),
        ShapeCase(op: .matMul, inputs: [[3], [2, 3, 4]], expected: [2, 4]),
        ShapeCase(op: .matMul, inputs: [[5, 1, 2, 3], [4, 3, 6]], expected: [5, 4, 2, 6]),
        ShapeCase(op: .matMul, inputs: [[2, 3], [3]], expected: [2]),
        ShapeCase(op: .gemm(GemmAttributes(transA: true, transB: true)), inputs: [[3, 2], [4, 3], [4]], expected: [2, 4]),
        ShapeCase(op: .gemm(GemmAttributes()), inputs: [[2, 3], [3, 4], [2, 1]], expected: [2, 4]),
        // Shape-only ops.
        ShapeCase(op: .reshape(shape: [0, -1], allowZero: false), inputs: [[2, 3, 4]], expected: [2, 12]),
        ShapeCase(op: .reshape(shape: [-1, 0, 2], allowZero: false), inputs: [[2, 3, 4]], expected: [4, 3, 2]),
        ShapeCase(op: .reshape(shape: [0, 4], allowZero: true), inputs: [[0, 2, 2]], expected: [0, 4]),
        ShapeCase(op: .flatten(axis: 0), inputs: [[2, 3, 4]], expected: [1, 24]),
        ShapeCase(op: .flatten(axis: -1), inputs: [[2, 3, 4]], expected: [6, 4]),
        ShapeCase(op: .flatten(axis: 3), inputs: [[2, 3, 4]], expected: [24, 1]),
        ShapeCase(op: .squeeze(axes: nil), inputs: [[1, 3, 1, 2]], expected: [3, 2]),
        ShapeCase(op: .squeeze(axes: [-2]), inputs: [[1, 3, 1, 2]], expected: [1, 3, 2]),
        ShapeCase(op: .unsqueeze(axes: [-1, 1]), inputs: [[3, 4]], expected: [3, 1, 4, 1]),
        ShapeCase(op: .transpose(perm: nil), inputs: [[2, 3, 4]], expected: [4, 3, 2]),
        ShapeCase(op: .transpose(perm: [0, 2, 3, 1]), inputs: [[1, 3, 5, 7]], expected: [1, 5, 7, 3]),
        ShapeCase(op: .concat(axis: -3), inputs: [[1, 2, 4, 4], [1, 5, 4, 4]], expected: [1, 7, 4, 4]),
        ShapeCase(op: .pad(pads: [0, 0, 1, -1, 0, 0, 2, -1], value: 0), inputs: [[1, 2, 4, 4]], expected: [1, 2, 7, 2]),
        ShapeCase(op: .pad(pads: [0, 0, 3, 1, 0, 0, 3, 2], value: 0, mode: .reflect), inputs: [[1, 2, 4, 3]], expected: [1, 2, 10, 6]),
        ShapeCase(op: .pad(pads: [0, 0, 5, -2, 0, 0, 0, 4], value: 0, mode: .edge), inputs: [[1, 2, 1, 3]], expected: [1, 2, 6, 5]),
        ShapeCase(op: .reduceMean(axes: [-1, 2], keepDims: false), inputs: [[2, 3, 4, 5]], expected: [2, 3]),
        ShapeCase(op: .reduceMean(axes: [2, 3], keepDims: true), inputs: [[2, 3, 4, 5]], expected: [2, 3, 1, 1]),
        ShapeCase(op: .softmax(axis: -1), inputs: [[2, 10]], expected: [2, 10]),
        ShapeCase(op: .batchNormalization(epsilon: 1e-5), inputs: [[2, 3, 4, 4], [3], [3], [3], [3]], expected: [2, 3, 4, 4]),
        // LayerNormalization: scale and bias shaped like the normalized axes, leading 1s allowed.
        ShapeCase(op: .layerNormalization(axis: -1, epsilon: 1e-6), inputs: [[1, 7, 7, 96], [96], [96]], expected: [1, 7, 7, 96]),
        ShapeCase(op: .layerNormalization(axis: 1, epsilon: 1e-5), inputs: [[2, 3, 4], [1, 3, 4]], expected: [2, 3, 4]),
        ShapeCase(op: .erf, inputs: [[2, 5]], expected: [2, 5]),
        ShapeCase(op: .gelu(tanhApproximation: true), inputs: [[3]], expected: [3]),
    ]

    @Test(arguments: cases)
    func singleNode(_ c: ShapeCase) throws {
        let graph = singleNodeGraph(c.op, inputs: c.inputs)
        var given: [String: [Int]] = [:]
        for (i, s) in c.inputs.enumerated() { given["x\(i)"] = s }
        let shapes = try graph.inferShapes(inputShapes: given)
        #expect(shapes["y"] == c.expected)
    }

    /// A scale or bias that is not one value per normalized element, an axis past the rank, a
    /// bad epsilon or a missing scale: an error naming the node.
    @Test(arguments: [
        ([[2, 3, 4], [3]], Op.layerNormalization(axis: -1, epsilon: 1e-5)),
        ([[2, 3, 4], [4], [3, 4]], .layerNormalization(axis: -1, epsilon: 1e-5)),
        ([[2, 3, 4], [4, 3]], .layerNormalization(axis: 1, epsilon: 1e-5)),
        ([[2, 3, 4], [4]], .layerNormalization(axis: 3, epsilon: 1e-5)),
        ([[2, 3, 4], [4]], .layerNormalization(axis: -1, epsilon: -1)),
        ([[2, 3, 4]], .layerNormalization(axis: -1, epsilon: 1e-5)),
    ] as [([[Int]], Op)])
    func layerNormalizationRulesNameTheNode(inputs: [[Int]], op: Op) {
        let graph = singleNodeGraph(op, inputs: inputs)
        var given: [String: [Int]] = [:]
        for (i, s) in inputs.enumerated() { given["x\(i)"] = s }
        #expect {
            try graph.inferShapes(inputShapes: given)
        } throws: { error in
            switch error as? GraphError {
            case .shapeMismatch(let node, _, _), .invalidAttribute(let node, _, _), .arity(let node, _, _): node == "n"
            default: false
            }
        }
    }

    @Test(arguments: [1, 4])
    func wholeGraphIncludesInitializersAndEveryValue(batch: Int) throws {
        let graph = Graph(
            nodes: [
                Node(name: "conv", op: .conv(ConvAttributes(kernelShape: [3, 3], strides: [2, 2], autoPad: .sameUpper)),
                     inputs: ["image", "w", "b"], outputs: ["c"]),
                Node(name: "relu", op: .relu, inputs: ["c"], outputs: ["r"]),
                Node(name: "gap", op: .globalAveragePool, inputs: ["r"], outputs: ["g"]),
                Node(name: "flat", op: .flatten(axis: 1), inputs: ["g"], outputs: ["f"]),
                Node(name: "fc", op: .gemm(GemmAttributes(transB: true)), inputs: ["f", "fw", "fb"], outputs: ["logits"]),
            ],
            initializers: [
                "w": Tensor(shape: [8, 3, 3, 3], repeating: 0), "b": Tensor(shape: [8], repeating: 0),
                "fw": Tensor(shape: [2, 8], repeating: 0), "fb": Tensor(shape: [2], repeating: 0),
            ],
            inputs: [ValueInfo(name: "image", shape: [nil, 3, 9, 9])],
            outputs: [ValueInfo(name: "logits", shape: [nil, 2])])
        let shapes = try graph.inferShapes(inputShapes: ["image": [batch, 3, 9, 9]])
        #expect(shapes == [
            "image": [batch, 3, 9, 9], "w": [8, 3, 3, 3], "b": [8], "fw": [2, 8], "fb": [2],
            "c": [batch, 8, 5, 5], "r": [batch, 8, 5, 5], "g": [batch, 8, 1, 1], "f": [batch, 8], "logits": [batch, 2],
        ])
        // A static dim that disagrees, a wrong rank, or a missing shape is a bad input.
        for given in [["image": [batch, 3, 9, 8]], ["image": [3, 9, 9]], [:]] as [[String: [Int]]] {
            #expect {
                try graph.inferShapes(inputShapes: given)
            } throws: { error in
                guard case .badInput(let name, _) = error as? GraphError else { return false }
                return name == "image"
            }
        }
    }
}
