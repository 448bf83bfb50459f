// Seeded data and small models for the format tests: a SplitMix64 generator, sparsified
// random weights and a little conv/BN/Gemm classifier. No test here depends on timing.

import SpruceCore
@testable import SpruceFormat

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

    /// Uniform in [-1, 1), never exactly 0.
    mutating func weight() -> Float {
        let u = Float(next() >> 40) / Float(1 << 24) * 2 - 1
        return u == 0 ? 0.5 : u
    }

    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// `count` non-zero random values with exactly `round(sparsity * count)` of them set to zero.
func sparseValues(count: Int, sparsity: Double, rng: inout SplitMix64) -> [Float] {
    var values = (0..<count).map { _ in rng.weight() }
    var order = Array(0..<count)
    for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
    for i in order.prefix(Int((sparsity * Double(count)).rounded())) { values[i] = 0 }
    return values
}

func randomTensor(_ shape: [Int], sparsity: Double = 0, rng: inout SplitMix64) -> Tensor {
    Tensor(shape: shape, data: sparseValues(count: shape.reduce(1, *), sparsity: sparsity, rng: &rng))
}

/// A small classifier: conv → BN → relu → conv(1×1, fused clip) → GAP → flatten → gemm → softmax.
/// conv1's weight rows (32·3·3 = 288 columns) are wide enough for the encodings to differ:
/// dense at sparsity 0, bitmask at 0.5, CSR at 0.9.
func smallModel(sparsity: Double, seed: UInt64 = 1) -> Model {
    var rng = SplitMix64(seed: seed)
    let nodes = [
        Node(name: "conv1", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1])),
             inputs: ["image", "w1", "b1"], outputs: ["c1"]),
        Node(name: "bn1", op: .batchNormalization(epsilon: 1e-5),
             inputs: ["c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"], outputs: ["n1"]),
        Node(name: "relu1", op: .relu, inputs: ["n1"], outputs: ["r1"]),
        Node(name: "conv2", op: .conv(ConvAttributes(kernelShape: [1, 1], activation: .clip(min: 0, max: 6))),
             inputs: ["r1", "w2", "b2"], outputs: ["c2"]),
        Node(name: "gap", op: .globalAveragePool, inputs: ["c2"], outputs: ["g"]),
        Node(name: "flat", op: .flatten(axis: 1), inputs: ["g"], outputs: ["f"]),
        Node(name: "fc", op: .gemm(GemmAttributes(transB: true)), inputs: ["f", "w3", "b3"], outputs: ["logits"]),
        Node(name: "softmax", op: .softmax(axis: 1), inputs: ["logits"], outputs: ["probs"]),
    ]
    let initializers: [String: Tensor] = [
        "w1": randomTensor([8, 32, 3, 3], sparsity: sparsity, rng: &rng),
        "b1": randomTensor([8], rng: &rng),
        "bn_scale": randomTensor([8], rng: &rng),
        "bn_bias": Tensor(shape: [8], repeating: 0),
        "bn_mean": randomTensor([8], rng: &rng),
        "bn_var": Tensor(shape: [8], repeating: 1),
        "w2": randomTensor([64, 8, 1, 1], sparsity: sparsity, rng: &rng),
        "b2": Tensor(shape: [64], repeating: 0.25),
        "w3": randomTensor([10, 64], sparsity: sparsity, rng: &rng),
        "b3": randomTensor([10], rng: &rng),
    ]
    let graph = Graph(nodes: nodes, initializers: initializers,
                      inputs: [ValueInfo(name: "image", shape: [nil, 32, 8, 8])],
                      outputs: [ValueInfo(name: "probs", shape: [nil, 10])])
    return Model(graph: graph, metadata: ["source": "test", "sparsity": "\(sparsity)"], producer: "spruce-tests")
}

/// Byte ranges no checksum covers: the alignment padding before each section.
func paddingRanges(of bytes: [UInt8]) throws -> [Range<Int>] {
    let manifestLength = bytes.withUnsafeBytes { Int(readLE($0, 24, as: UInt64.self)) }
    let manifest = try bytes.withUnsafeBytes { raw in
        try ManifestCoding.decode(UnsafeRawBufferPointer(rebasing: raw[64..<64 + manifestLength]), major: 2)
    }
    var ranges: [Range<Int>] = []
    var end = 64 + manifestLength
    for s in manifest.sections {
        if Int(s.offset) > end { ranges.append(end..<Int(s.offset)) }
        end = Int(s.offset + s.storedSize)
    }
    return ranges
}

/// Recomputes the header checksum after a test edits header fields.
func resealHeader(_ bytes: inout [UInt8]) {
    let sum = CRC32C.checksum(Array(bytes[0..<60]))
    withUnsafeBytes(of: sum.littleEndian) { for i in 0..<4 { bytes[60 + i] = $0[i] } }
}

func setLE<T: FixedWidthInteger>(_ bytes: inout [UInt8], at offset: Int, _ value: T) {
    withUnsafeBytes(of: value.littleEndian) { for i in 0..<$0.count { bytes[offset + i] = $0[i] } }
}
