// Shared helpers for the SpruceCore tests: a seeded PRNG, random tensors, one-node graphs and
// float comparison. Not a test oracle itself: expected values are written in each test.

import SpruceCore
import Testing

/// SplitMix64: a tiny deterministic generator so every test sees the same numbers.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    mutating func float(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }

    mutating func tensor(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.elementCount).map { _ in float(lo, hi) })
    }
}

/// A graph holding one node "n" reading inputs x0, x1, ... (runtime inputs) and initializers.
func singleNodeGraph(_ op: Op, inputs: [[Int]], initializers: [String: Tensor] = [:],
                     inputNames: [String]? = nil) -> Graph {
    let names = inputNames ?? inputs.indices.map { "x\($0)" }
    let runtime = zip(names, inputs).filter { initializers[$0.0] == nil }
        .map { ValueInfo(name: $0.0, shape: $0.1.map { Optional($0) }) }
    return Graph(nodes: [Node(name: "n", op: op, inputs: names, outputs: ["y"])],
                 initializers: initializers, inputs: runtime, outputs: [ValueInfo(name: "y", shape: [])])
}

/// Runs one op on runtime inputs x0, x1, ... and returns its output.
func runOp(_ op: Op, _ inputs: [Tensor]) throws -> Tensor {
    let graph = singleNodeGraph(op, inputs: inputs.map(\.shape))
    var feed: [String: Tensor] = [:]
    for (i, t) in inputs.enumerated() { feed["x\(i)"] = t }
    let out = try ReferenceExecutor(graph: graph).run(feed)
    return try #require(out["y"])
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    var worst: Float = 0
    for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) }
    return worst
}

/// Expects `actual` to have `shape` and elements within `tolerance` of `expected`.
func expectClose(_ actual: Tensor, _ expected: [Float], shape: [Int], tolerance: Float = 1e-5,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == shape, sourceLocation: sourceLocation)
    let diff = maxAbsDiff(actual.data, expected)
    #expect(diff <= tolerance, "max abs diff \(diff): got \(actual.data), expected \(expected)",
            sourceLocation: sourceLocation)
}

/// 1, 2, 3, ... as a tensor of `shape`.
func iota(_ shape: [Int], from start: Float = 1) -> Tensor {
    Tensor(shape: shape, data: (0..<shape.elementCount).map { start + Float($0) })
}
