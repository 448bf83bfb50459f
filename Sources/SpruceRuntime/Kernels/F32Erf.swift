// f32-erf and f32-gelu, elementwise, eight lanes at a time. erf(x) is x·P(x²)/Q(x²) with P of
// degree 6 and Q of degree 4 in x², fitted for this kernel on [0, 3.9] (beyond 3.9, erf is ±1
// in float32, so the input is clamped there): at most 3.3e-7 from the true value in float32
// arithmetic, about 5 ulps near 1. GELU's exact form uses it; the tanh form calls libm per element.
import _SpruceSupport

/// erf on eight lanes (see the file comment).
@inline(__always)
func erf8(_ v: SIMD8<Float>) -> SIMD8<Float> {
    let limit = SIMD8<Float>(repeating: 3.9)
    let x = clamp8(v, -limit, limit)
    let t = x * x
    var p = SIMD8<Float>(repeating: 2.011882039e-08)
    p = multiplyAdd(SIMD8(repeating: -1.996916126e-06), p, t)
    p = multiplyAdd(SIMD8(repeating: 1.474716264e-04), p, t)
    p = multiplyAdd(SIMD8(repeating: 3.896140493e-03), p, t)
    p = multiplyAdd(SIMD8(repeating: 5.114846677e-02), p, t)
    p = multiplyAdd(SIMD8(repeating: 2.042215914e-01), p, t)
    p = multiplyAdd(SIMD8(repeating: 1.128378749e+00), p, t)
    var q = SIMD8<Float>(repeating: 1.006569597e-03)
    q = multiplyAdd(SIMD8(repeating: 1.473021042e-02), q, t)
    q = multiplyAdd(SIMD8(repeating: 1.167841479e-01), q, t)
    q = multiplyAdd(SIMD8(repeating: 5.143156648e-01), q, t)
    q = multiplyAdd(SIMD8(repeating: 1), q, t)
    let one = SIMD8<Float>(repeating: 1)
    return clamp8(x * p / q, -one, one)
}

/// erf on one value, the same approximation as `erf8`, for the tails of a loop.
@inline(__always)
func erf1(_ v: Float) -> Float {
    var lanes = SIMD8<Float>.zero
    lanes[0] = v
    return erf8(lanes)[0]
}

/// y[i] = erf(x[i]); in place is allowed.
public func f32Erf(count: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    var i = 0
    while i + 8 <= count {
        store8(erf8(load8(x + i)), y + i)
        i += 8
    }
    while i < count {
        y[i] = erf1(x[i])
        i += 1
    }
}

/// y[i] = GELU(x[i]): x/2·(1 + erf(x/√2)), or with `tanhApproximation` x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)));
/// in place is allowed.
public func f32Gelu(count: Int, tanhApproximation: Bool, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    if tanhApproximation {
        let c = Float((2 / Double.pi).squareRoot())
        for i in 0..<count {
            let v = x[i]
            y[i] = 0.5 * v * (1 + tanhf(c * (v + 0.044715 * v * v * v)))
        }
        return
    }
    let invRoot2 = Float(1 / 2.0.squareRoot())
    let half = SIMD8<Float>(repeating: 0.5), one = SIMD8<Float>(repeating: 1), scale = SIMD8<Float>(repeating: invRoot2)
    var i = 0
    while i + 8 <= count {
        let v = load8(x + i)
        store8(half * v * (one + erf8(v * scale)), y + i)
        i += 8
    }
    while i < count {
        y[i] = 0.5 * x[i] * (1 + erf1(x[i] * invRoot2))
        i += 1
    }
}

/// Reference twin of `f32Erf`: libm's erf in double precision.
public func f32ErfReference(count: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for i in 0..<count { y[i] = Float(erf(Double(x[i]))) }
}

/// Reference twin of `f32Gelu`: the definitions in double precision.
public func f32GeluReference(count: Int, tanhApproximation: Bool, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for i in 0..<count {
        let v = Double(x[i])
        let gate = tanhApproximation ? tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)) : erf(v / 2.0.squareRoot())
        y[i] = Float(0.5 * v * (1 + gate))
    }
}
