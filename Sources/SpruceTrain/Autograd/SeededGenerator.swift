// The trainer's deterministic random source (SplitMix64): dropout masks and any other
// training-time randomness draw from it, seeded explicitly, so a run repeats exactly.
// Not cryptographic; not shared between sessions (each owns its own value).

import SpruceCore

/// SplitMix64: a tiny, fast, seedable generator with a 64-bit state.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    /// The whole state; saving and restoring it resumes the same sequence.
    public var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform float in [0, 1) with 24 random bits.
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / Float(1 << 24))
    }
}
