// Reference elementwise, broadcasting, Gemm/MatMul and data-movement operators on tiny inputs
// with hand-written expected arrays (or an independent index formula for larger shapes).

import SpruceCore
import Testing

@Suite struct ElementwiseTests {
    @Test func unaryOperators() throws {
        let x = Tensor(shape: [5], data: [-2, -0.5, 0, 0.5, 7])
        expectClose(try runOp(.relu, [x]), [0, 0, 0, 0.5, 7], shape: [5])
        expectClose(try runOp(.clip(min: 0, max: 6), [x]), [0, 0, 0, 0.5, 6], shape: [5])
        expectClose(try runOp(.clip(min: -1, max: 0.25), [x]), [-1, -0.5, 0, 0.25, 0.25], shape: [5])
        expectClose(try runOp(.identity, [x]), x.data, shape: [5])
        expectClose(try runOp(.dropout, [x]), x.data, shape: [5])
        // sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4.
        let s = Tensor(shape: [3], data: [0, 1.0986123, -1.0986123])
        expectClose(try runOp(.sigmoid, [s]), [0.5, 0.75, 0.25], shape: [3])
        // erf(0.5) = 0.5204999, GELU(1) = Φ(1) = 0.8413447, its tanh form 0.8411920.
        let e = Tensor(shape: [3], data: [0, 0.5, -0.5])
        expectClose(try runOp(.erf, [e]), [0, 0.5204999, -0.5204999], shape: [3])
        let one = Tensor(shape: [2], data: [1, -1])
        expectClose(try runOp(.gelu(tanhApproximation: false), [one]), [0.8413447, -0.1586553], shape: [2])
        expectClose(try runOp(.gelu(tanhApproximation: true), [one]), [0.8411920, -0.1588080], shape: [2])
    }

    /// Rows [1, 2, 3, 4] (mean 2.5, variance 1.25) and [5, 5, 5, 5] (variance 0: only ε is left),
    /// scaled and shifted per position; and over the last two axes of a [1, 2, 2] tensor.
    @Test func layerNormalizationByHand() throws {
        let x = Tensor(shape: [2, 4], data: [1, 2, 3, 4, 5, 5, 5, 5])
        let scale = Tensor(shape: [4], data: [1, 2, 1, 1]), bias = Tensor(shape: [4], data: [0, 0, 0, 10])
        let k = Float(1 / (1.25 + 1e-5).squareRoot())
        expectClose(try runOp(.layerNormalization(axis: -1, epsilon: 1e-5), [x, scale, bias]),
                    [-1.5 * k, -1 * k, 0.5 * k, 10 + 1.5 * k, 0, 0, 0, 10], shape: [2, 4])
        let cube = Tensor(shape: [1, 2, 2], data: [1, 2, 3, 4])
        expectClose(try runOp(.layerNormalization(axis: 1, epsilon: 1e-5), [cube, Tensor(shape: [2, 2], repeating: 1)]),
                    [-1.5 * k, -0.5 * k, 0.5 * k, 1.5 * k], shape: [1, 2, 2])
    }

    @Test(arguments: [
        (Op.add, [2, 3], [3], [Float]([11, 22, 33, 14, 25, 36])),
        (Op.sub, [2, 3], [3], [-9, -18, -27, -6, -15, -24]),
        (Op.mul, [2, 3], [2, 1], [10, 20, 30, 80, 100, 120]),
        (Op.div, [2, 3], [], [0.5, 1, 1.5, 2, 2.5, 3]),
    ] as [(Op, [Int], [Int], [Float])])
    func broadcastingArithmetic(op: Op, a: [Int], b: [Int], expected: [Float]) throws {
        let lhs = iota(a)
        let rhs: Tensor = switch b {
        case [3]: Tensor(shape: [3], data: [10, 20, 30])
        case [2, 1]: Tensor(shape: [2, 1], data: [10, 20])
        default: Tensor(scalar: 2)
        }
        expectClose(try runOp(op, [lhs, rhs]), expected, shape: [2, 3])
    }

    @Test func broadcastingBothSides() throws {
        // [2, 1] + [1, 3] → [2, 3]: outer sum.
        let y = try runOp(.add, [Tensor(shape: [2, 1], data: [10, 20]), Tensor(shape: [1, 3], data: [1, 2, 3])])
        expectClose(y, [11, 12, 13, 21, 22, 23], shape: [2, 3])
    }

    @Test func sumOfThreeBroadcastInputs() throws {
        let y = try runOp(.sum, [Tensor(shape: [2, 1], data: [10, 20]), Tensor(shape: [3], data: [1, 2, 3]),
                                 Tensor(scalar: 100)])
        expectClose(y, [111, 112, 113, 121, 122, 123], shape: [2, 3])
        expectClose(try runOp(.sum, [iota([2])]), [1, 2], shape: [2])
    }

    @Test(arguments: [
        // A·B = [[22, 28], [49, 64]].
        (GemmAttributes(), [Float]([122, 228, 149, 264])),
        (GemmAttributes(alpha: 2, beta: 0.5), [Float]([94, 156, 148, 228])),
    ] as [(GemmAttributes, [Float])])
    func gemm(attributes: GemmAttributes, expected: [Float]) throws {
        // A = [[1,2,3],[4,5,6]], B = [[1,2],[3,4],[5,6]], C = [100, 200] broadcast over rows.
        let a = iota([2, 3]), b = iota([3, 2]), c = Tensor(shape: [2], data: [100, 200])
        expectClose(try runOp(.gemm(attributes), [a, b, c]), expected, shape: [2, 2])
    }

    @Test func gemmTransposes() throws {
        // Passing Aᵀ and Bᵀ with both trans flags gives the same product as A·B.
        let at = Tensor(shape: [3, 2], data: [1, 4, 2, 5, 3, 6])
        let bt = Tensor(shape: [2, 3], data: [1, 3, 5, 2, 4, 6])
        let y = try runOp(.gemm(GemmAttributes(transA: true, transB: true)), [at, bt])
        expectClose(y, [22, 28, 49, 64], shape: [2, 2])
        let scalarC = try runOp(.gemm(GemmAttributes(beta: 2, transA: true, transB: true)), [at, bt, Tensor(scalar: 1)])
        expectClose(scalarC, [24, 30, 51, 66], shape: [2, 2])
    }

    @Test func matMulVariants() throws {
        expectClose(try runOp(.matMul, [iota([2, 3]), iota([3, 2])]), [22, 28, 49, 64], shape: [2, 2])
        // 1-D on the left: a row vector, its axis dropped; 1-D on the right: a column vector.
        expectClose(try runOp(.matMul, [Tensor(shape: [3], data: [1, 0, -1]), iota([3, 2])]), [-4, -4], shape: [2])
        expectClose(try runOp(.matMul, [iota([2, 3]), Tensor(shape: [3], data: [1, 0, -1])]), [-2, -2], shape: [2])
    }

    @Test(arguments: [([2, 1, 2, 3], [3, 3, 2], [2, 3, 2, 2]), ([4, 2, 3], [3, 1], [4, 2, 1]), ([1, 2, 3], [5, 3, 2], [5, 2, 2])])
    func batchedMatMulBroadcasts(a: [Int], b: [Int], shape: [Int]) throws {
        var rng = SplitMix64(seed: 77)
        let x = rng.tensor(a), w = rng.tensor(b)
        let y = try runOp(.matMul, [x, w])
        #expect(y.shape == shape)
        // Independent check: each output batch element via its broadcast source indices.
        let (m, k, n) = (a[a.count - 2], a[a.count - 1], b[b.count - 1])
        let batch = Array(shape.dropLast(2))
        let bA = Array(a.dropLast(2)), bB = Array(b.dropLast(2))
        for flat in 0..<batch.elementCount {
            var idx = [Int](repeating: 0, count: batch.count)
            var r = flat
            for d in stride(from: batch.count - 1, through: 0, by: -1) { idx[d] = r % batch[d]; r /= batch[d] }
            func source(_ dims: [Int]) -> Int {
                var o = 0
                let lead = batch.count - dims.count
                for (d, size) in dims.enumerated() { o = o * size + (size == 1 ? 0 : idx[d + lead]) }
                return o
            }
            let ia = source(bA), ib = source(bB)
            for i in 0..<m {
                for j in 0..<n {
                    var s: Float = 0
                    for p in 0..<k { s += x.data[ia * m * k + i * k + p] * w.data[ib * k * n + p * n + j] }
                    #expect(abs(y.data[flat * m * n + i * n + j] - s) < 1e-5)
                }
            }
        }
    }

    @Test func shapeOnlyOperatorsKeepData() throws {
        let x = iota([2, 3, 1, 2])
        let cases: [(Op, [Int])] = [
            (.flatten(axis: 1), [2, 6]), (.flatten(axis: 0), [1, 12]), (.flatten(axis: -1), [6, 2]),
            (.reshape(shape: [0, -1], allowZero: false), [2, 6]), (.reshape(shape: [-1, 4], allowZero: false), [3, 4]),
            (.squeeze(axes: nil), [2, 3, 2]), (.squeeze(axes: [-2]), [2, 3, 2]),
            (.unsqueeze(axes: [0, -1]), [1, 2, 3, 1, 2, 1]),
        ]
        for (op, shape) in cases {
            expectClose(try runOp(op, [x]), x.data, shape: shape)
        }
    }

    @Test func transposeMovesElements() throws {
        // [2, 3] reversed: y[j, i] = x[i, j].
        expectClose(try runOp(.transpose(perm: nil), [iota([2, 3])]), [1, 4, 2, 5, 3, 6], shape: [3, 2])
        // [2, 3, 4] with perm [1, 2, 0]: y[j, k, i] = x[i, j, k] = 12i + 4j + k + 1.
        let y = try runOp(.transpose(perm: [1, 2, 0]), [iota([2, 3, 4])])
        var expected: [Float] = []
        for j in 0..<3 { for k in 0..<4 { for i in 0..<2 { expected.append(Float(12 * i + 4 * j + k + 1)) } } }
        expectClose(y, expected, shape: [3, 4, 2])
    }

    @Test func concatAlongAxes() throws {
        let a = iota([2, 2]), b = Tensor(shape: [2, 1], data: [9, 8])
        expectClose(try runOp(.concat(axis: 1), [a, b]), [1, 2, 9, 3, 4, 8], shape: [2, 3])
        expectClose(try runOp(.concat(axis: -1), [a, b]), [1, 2, 9, 3, 4, 8], shape: [2, 3])
        expectClose(try runOp(.concat(axis: 0), [a, Tensor(shape: [1, 2], data: [7, 7])]), [1, 2, 3, 4, 7, 7], shape: [3, 2])
    }

    @Test func padWithValueAndCrop() throws {
        // [2, 3]: one row of -1 on top, crop the first column, one column of -1 at the right.
        let y = try runOp(.pad(pads: [1, -1, 0, 1], value: -1), [iota([2, 3])])
        expectClose(y, [-1, -1, -1, 2, 3, -1, 5, 6, -1], shape: [3, 3])
        let z = try runOp(.pad(pads: [0, 0, 1, 1, 0, 0, 0, 1], value: 0), [iota([1, 1, 1, 2])])
        // Begins [0, 0, 1, 1], ends [0, 0, 0, 1]: a row on top, a column each side.
        expectClose(z, [0, 0, 0, 0, 0, 1, 2, 0], shape: [1, 1, 2, 4])
    }

    @Test func padReflectAndEdge() throws {
        // [1 2 3] by 2 each side: the mirror without the edge, and the edge repeated; the value is unused.
        expectClose(try runOp(.pad(pads: [2, 2], value: 9, mode: .reflect), [iota([3])]), [3, 2, 1, 2, 3, 2, 1], shape: [7])
        expectClose(try runOp(.pad(pads: [2, 2], value: 9, mode: .edge), [iota([3])]), [1, 1, 1, 2, 3, 3, 3], shape: [7])
        // [[1 2 3] [4 5 6]]: one row on top, one column each side; rows mirror first, then columns.
        expectClose(try runOp(.pad(pads: [1, 1, 0, 1], value: 0, mode: .reflect), [iota([2, 3])]),
                    [5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5], shape: [3, 5])
        expectClose(try runOp(.pad(pads: [1, 1, 0, 1], value: 0, mode: .edge), [iota([2, 3])]),
                    [1, 1, 2, 3, 3, 1, 1, 2, 3, 3, 4, 4, 5, 6, 6], shape: [3, 5])
        // Negative pads crop first: [1 2 3 4] loses 1, and [2 3 4] is padded by 2 at the end.
        expectClose(try runOp(.pad(pads: [-1, 2], value: 0, mode: .reflect), [iota([4])]), [2, 3, 4, 3, 2], shape: [5])
        expectClose(try runOp(.pad(pads: [-1, 2], value: 0, mode: .edge), [iota([4])]), [2, 3, 4, 4, 4], shape: [5])
    }
}
