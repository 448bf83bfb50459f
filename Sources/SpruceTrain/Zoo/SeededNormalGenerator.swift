// The zoo's weight initialiser: SplitMix64 uniforms turned into normals by Box–Muller, and
// He (Kaiming) normal tensors drawn from it. One stream per tensor, derived from the seed and
// the tensor's name, so adding a layer never changes the weights of the others.
// Not a general-purpose RNG for training (shuffling and augmentation own their generators).
import _SpruceSupport
import SpruceCore

/// A seeded generator of standard normal samples (SplitMix64 + Box–Muller), deterministic everywhere.
struct SeededNormalGenerator: Sendable {
    private var state: UInt64
    /// Box–Muller yields pairs; the second of each pair waits here.
    private var spare: Double?

    /// A generator whose whole sequence is fixed by `seed`.
    init(seed: UInt64) { state = seed }

    /// A generator for the tensor `name` of a model built from `seed`.
    init(seed: UInt64, stream name: String) {
        // FNV-1a of the name, mixed with the seed, so each tensor gets its own stream.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        self.init(seed: seed ^ hash)
        _ = nextUInt64()
    }

    mutating func nextUInt64() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never 0, so the logarithm below stays finite.
    mutating func nextUnitInterval() -> Double {
        (Double(nextUInt64() >> 11) + 1) * 0x1p-53
    }

    /// A standard normal sample.
    mutating func nextNormal() -> Double {
        if let s = spare {
            spare = nil
            return s
        }
        let radius = (-2 * log(nextUnitInterval())).squareRoot()
        let angle = 2 * Double.pi * nextUnitInterval()
        spare = radius * sin(angle)
        return radius * cos(angle)
    }

    /// `count` normal samples with standard deviation `std`.
    mutating func normals(count: Int, std: Double) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { buffer[i] = Float(nextNormal() * std) }
            initialized = count
        }
    }
}

extension Tensor {
    /// He (Kaiming) normal weights, std `sqrt(2 / fanIn)`, drawn from the stream of `name` under `seed`.
    static func heNormal(shape: [Int], fanIn: Int, seed: UInt64, name: String) -> Tensor {
        var generator = SeededNormalGenerator(seed: seed, stream: name)
        let std = (2 / Double(max(fanIn, 1))).squareRoot()
        return Tensor(shape: shape, data: generator.normals(count: shape.elementCount, std: std))
    }
}
