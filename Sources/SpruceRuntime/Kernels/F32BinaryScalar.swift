// f32-binary-scalar: Add, Sub, Mul or Div of a whole tensor and one value, on either side (the
// constants of a decomposed activation: x/√2, erf + 1, c − x). Eight lanes at a time, the same
// IEEE operation per element as the scalar loop, so results are bit-identical to it. Batch 1.
import _SpruceSupport

/// The four elementwise arithmetic operations.
public enum F32Arithmetic: Sendable, Equatable {
    case add, sub, mul, div
}

/// y[i] = x[i] ∘ scalar, or scalar ∘ x[i] with `scalarFirst`; in place is allowed.
public func f32BinaryScalar(count: Int, operation: F32Arithmetic, x: UnsafePointer<Float>, scalar: Float,
                            scalarFirst: Bool, y: UnsafeMutablePointer<Float>) {
    let s = SIMD8<Float>(repeating: scalar)
    @inline(__always)
    func each(_ vector: (SIMD8<Float>) -> SIMD8<Float>, _ single: (Float) -> Float) {
        var i = 0
        while i + 8 <= count {
            store8(vector(load8(x + i)), y + i)
            i += 8
        }
        while i < count {
            y[i] = single(x[i])
            i += 1
        }
    }
    switch (operation, scalarFirst) {
    case (.add, _): each({ $0 + s }, { $0 + scalar })
    case (.mul, _): each({ $0 * s }, { $0 * scalar })
    case (.sub, false): each({ $0 - s }, { $0 - scalar })
    case (.sub, true): each({ s - $0 }, { scalar - $0 })
    case (.div, false): each({ $0 / s }, { $0 / scalar })
    case (.div, true): each({ s / $0 }, { scalar / $0 })
    }
}

/// Reference twin of `f32BinaryScalar`.
public func f32BinaryScalarReference(count: Int, operation: F32Arithmetic, x: UnsafePointer<Float>, scalar: Float,
                                     scalarFirst: Bool, y: UnsafeMutablePointer<Float>) {
    for i in 0..<count {
        let (a, b) = scalarFirst ? (scalar, x[i]) : (x[i], scalar)
        switch operation {
        case .add: y[i] = a + b
        case .sub: y[i] = a - b
        case .mul: y[i] = a * b
        case .div: y[i] = a / b
        }
    }
}
