// SplitMix64 generator for the data pipeline: splits, balancing, shuffles and augmentation.
// Streams are derived from explicit (seed, purpose, epoch, sample) keys, so no state is shared
// between threads and results never depend on the order work happens in. Not cryptographic.

/// A SplitMix64 pseudo-random generator with platform-stable helpers (own shuffle, own bounded ints).
struct DataRNG: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator seeded directly with `seed`.
    init(seed: UInt64) { state = seed }

    /// A generator for one purpose derived from a seed and further keys, mixed so nearby keys diverge.
    init(seed: UInt64, keys: UInt64...) {
        var s = DataRNG.mix(seed ^ 0x5350_5255_4345_4441)  // "SPRUCEDA"
        for k in keys { s = DataRNG.mix(s ^ DataRNG.mix(k &+ 0x9E37_79B9_7F4A_7C15)) }
        state = s
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return DataRNG.mix(state)
    }

    /// Uniform integer in `0..<bound` (bound > 0), without modulo bias.
    mutating func below(_ bound: Int) -> Int {
        let b = UInt64(bound)
        let limit = UInt64.max - UInt64.max % b
        while true {
            let v = next()
            if v < limit { return Int(v % b) }
        }
    }

    /// Uniform float in [0, 1) with 24 random bits.
    mutating func unitFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }

    /// Fisher–Yates shuffle with our own index draws: Swift's `shuffle(using:)` algorithm is not
    /// promised to stay the same across releases, and splits must be reproducible forever.
    mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            let j = below(i + 1)
            if i != j { array.swapAt(i, j) }
        }
    }

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
