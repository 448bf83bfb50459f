// Calibrated int8 rounding (GPTQ): the rounded weights lie on the writer's per-row int8 grid
// (so the artifact stores exactly them), pruned zeros stay zero, and on the calibration inputs
// each layer's output moves less than with round-to-nearest, the quantity GPTQ minimizes.
import SpruceCore
import SprucePipeline
import Testing

/// Inputs whose neighbouring pixels and channels correlate, as images and activations do:
/// a random walk along each row, shared in part by all channels, plus a positive offset.
private func correlatedInputs(_ shape: [Int], rng: inout SplitMix64) -> Tensor {
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    var data = [Float](repeating: 0, count: shape.elementCount)
    for s in 0..<n {
        for y in 0..<h {
            var shared: Float = 0
            var own = [Float](repeating: 0, count: c)
            for x in 0..<w {
                shared += 0.3 * rng.float()
                for ch in 0..<c {
                    own[ch] += 0.2 * rng.float()
                    data[((s * c + ch) * h + y) * w + x] = 0.5 + shared + own[ch]
                }
            }
        }
    }
    return Tensor(shape: shape, data: data)
}

private func randomWeights(_ shape: [Int], zeroEvery: Int, rng: inout SplitMix64) -> Tensor {
    Tensor(shape: shape, data: (0..<shape.elementCount).map { i in i % zeroEvery == 1 ? 0 : 0.5 * rng.float() })
}

/// conv 3×3 (6 → 10, pad 1) → depthwise 3×3 s2 → GAP → flatten → gemm (10 → 4).
private func calibrationModel(rng: inout SplitMix64) -> Graph {
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [nil, 6, 12, 12])]
    g.initializers["wc"] = randomWeights([10, 6, 3, 3], zeroEvery: 5, rng: &rng)
    g.initializers["wd"] = randomWeights([10, 1, 3, 3], zeroEvery: 7, rng: &rng)
    g.initializers["wf"] = randomWeights([4, 10], zeroEvery: 3, rng: &rng)
    g.nodes = [
        Node(name: "conv", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1])), inputs: ["x", "wc"],
             outputs: ["c"]),
        Node(name: "dw", op: .conv(ConvAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], groups: 10)),
             inputs: ["c", "wd"], outputs: ["d"]),
        Node(name: "gap", op: .globalAveragePool, inputs: ["d"], outputs: ["p"]),
        Node(name: "flat", op: .flatten(axis: 1), inputs: ["p"], outputs: ["f"]),
        Node(name: "fc", op: .gemm(GemmAttributes(transB: true)), inputs: ["f", "wf"], outputs: ["y"]),
    ]
    g.outputs = [ValueInfo(name: "y", shape: [nil, 4])]
    return g
}

/// Each weight rounded to its row's nearest int8 step (what the writer does without calibration).
private func nearest(_ t: Tensor) -> Tensor {
    let rows = t.shape[0], cols = t.count / rows
    return Tensor(shape: t.shape, data: Int8Rows(quantizingDense: t.data, rows: rows, cols: cols).dequantized())
}

/// Σ (y − y_float)² of one node's output on `x`, its weight swapped for `w`.
private func squaredError(_ graph: Graph, node: String, weight: String, _ w: Tensor, input x: [String: Tensor]) throws -> Double {
    var probe = graph
    let n = try #require(graph.nodes.first { $0.name == node })
    probe.outputs = [ValueInfo(name: n.outputs[0], shape: [])]
    let exact = try ReferenceExecutor(graph: probe).run(x)[n.outputs[0]]!
    probe.initializers[weight] = w
    let moved = try ReferenceExecutor(graph: probe).run(x)[n.outputs[0]]!
    return zip(moved.data, exact.data).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
}

@Test func calibratedRoundingStaysOnTheGridAndBeatsNearest() throws {
    var rng = SplitMix64(state: 17)
    let graph = calibrationModel(rng: &rng)
    let calibration = ["x": correlatedInputs([8, 6, 12, 12], rng: &rng)]
    let names: Set<String> = ["wc", "wd", "wf"]
    var reported: [String] = []
    let rounded = try CalibratedRounding().round(graph, weights: names, inputs: calibration) { done, total, node in
        #expect(total == 3 && done == reported.count + 1)
        reported.append(node)
    }
    #expect(reported == ["conv", "dw", "fc"])
    for name in names.sorted() {
        let original = graph.initializers[name]!, r = rounded.initializers[name]!
        #expect(r.shape == original.shape)
        // On the grid: quantizing again (as the writer will) returns exactly these values.
        let again = nearest(r)
        #expect(zip(again.data, r.data).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }, "\(name)")
        // Pruned weights stay zero (a kept one may round to zero); each moved by a few int8 steps at most.
        let rows = original.shape[0], cols = original.count / rows
        for row in 0..<rows {
            let slice = original.data[(row * cols)..<((row + 1) * cols)]
            let step = slice.map(abs).max()! / 127
            for j in 0..<cols {
                let (o, v) = (original.data[row * cols + j], r.data[row * cols + j])
                #expect(o != 0 || v == 0, "\(name)[\(row), \(j)]")
                #expect(abs(o - v) <= 8 * step, "\(name)[\(row), \(j)]: \(o) → \(v)")
            }
        }
    }
    // The first conv sees the calibration inputs themselves: its output error is GPTQ's objective.
    let gptq = try squaredError(graph, node: "conv", weight: "wc", rounded.initializers["wc"]!, input: calibration)
    let rtn = try squaredError(graph, node: "conv", weight: "wc", nearest(graph.initializers["wc"]!), input: calibration)
    #expect(gptq < 0.5 * rtn, "GPTQ \(gptq), nearest \(rtn)")
    // Weights left out are left alone.
    let partial = try CalibratedRounding().round(graph, weights: ["wd"], inputs: calibration)
    #expect(partial.initializers["wc"] == graph.initializers["wc"] && partial.initializers["wf"] == graph.initializers["wf"])
    #expect(partial.initializers["wd"] != graph.initializers["wd"])
}

@Test func calibrationRunFailureIsReported() throws {
    var rng = SplitMix64(state: 18)
    let graph = calibrationModel(rng: &rng)
    let wrong = ["x": Tensor(shape: [2, 5, 12, 12], data: [Float](repeating: 1, count: 2 * 5 * 144))]
    #expect(throws: CalibrationError.self) {
        try CalibratedRounding().round(graph, weights: ["wc"], inputs: wrong)
    }
}
