// Shared helpers of the pipeline tests: a seeded generator, the repository's fixture paths and a
// tiny zoo model.
import Foundation
import SpruceCore
import SpruceTrain

/// SplitMix64, for test data.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    mutating func float() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
}

/// The repository root (three levels above this file).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// `fixtures/images`: 25 labelled lesion images.
let fixtureImages = repositoryRoot + "/fixtures/images"

/// MobileNet v2, width 0.35, 32×32: the smallest zoo model.
func tinyMobileNet(seed: UInt64 = 1) throws -> Model {
    try ModelZoo.build(.mobileNetV2, inputSize: 32, width: 0.35, seed: seed)
}
