// f32-sigmoid and f32-swish: y = 1 / (1 + exp(-x)) and y = x · σ(x), elementwise, eight lanes at a
// time. exp on eight lanes: n = round(x / ln 2) (by adding 1.5·2^23), r = x − n·ln 2 in two parts (|r| ≤ ln 2 / 2),
// e^r from its Taylor polynomial of degree 6 (remainder below 1.2e-7 relative), times 2^n built in
// the exponent bits. The input is clamped to [−87, 88], where e^x and 1 + e^x stay finite normal
// floats, so σ is never NaN and saturates to 0 and 1 as float32 does.
import _SpruceSupport

/// e^x on eight lanes for x in [−87, 88] (see the file comment).
@inline(__always)
func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Adding 1.5·2^23 rounds to an integer, left in the low mantissa bits of t.
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let t = multiplyAdd(magic, x, SIMD8(repeating: 1.442695041))
    let n = t - magic
    var r = x - n * 0.693359375  // ln 2's leading bits, exact in n · them
    r = r - n * -2.12194440e-4   // the rest of ln 2
    var p = SIMD8<Float>(repeating: 1.0 / 720)
    p = multiplyAdd(SIMD8(repeating: 1.0 / 120), p, r)
    p = multiplyAdd(SIMD8(repeating: 1.0 / 24), p, r)
    p = multiplyAdd(SIMD8(repeating: 1.0 / 6), p, r)
    p = multiplyAdd(SIMD8(repeating: 0.5), p, r)
    p = multiplyAdd(SIMD8(repeating: 1), p, r)
    p = multiplyAdd(SIMD8(repeating: 1), p, r)
    // n + 127 into the exponent field; t's own exponent bits shift out.
    let exponent = (unsafeBitCast(t, to: SIMD8<UInt32>.self) &+ 127) &<< 23
    return p * unsafeBitCast(exponent, to: SIMD8<Float>.self)
}

/// σ(x) on eight lanes.
@inline(__always)
func sigmoid8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let one = SIMD8<Float>(repeating: 1)
    return one / (one + exp8(clamp8(-x, SIMD8(repeating: -87), SIMD8(repeating: 88))))
}

/// The same on the last count % 8 values, through one padded vector.
@inline(__always)
private func tail(count: Int, from i: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                  _ f: (SIMD8<Float>) -> SIMD8<Float>) {
    guard i < count else { return }
    var lanes = SIMD8<Float>.zero
    for j in i..<count { lanes[j - i] = x[j] }
    let out = f(lanes)
    for j in i..<count { y[j] = out[j - i] }
}

/// y[i] = σ(x[i]); in place is allowed.
public func f32Sigmoid(count: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    var i = 0
    while i + 8 <= count {
        store8(sigmoid8(load8(x + i)), y + i)
        i += 8
    }
    tail(count: count, from: i, x: x, y: y, sigmoid8)
}

/// y[i] = x[i] · σ(x[i]) (Swish, SiLU: torch writes it as Sigmoid then Mul); in place is allowed.
public func f32Swish(count: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    var i = 0
    while i + 8 <= count {
        let v = load8(x + i)
        store8(v * sigmoid8(v), y + i)
        i += 8
    }
    tail(count: count, from: i, x: x, y: y) { $0 * sigmoid8($0) }
}

/// Reference twin of `f32Sigmoid`: the textbook formula in double precision.
public func f32SigmoidReference(count: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for i in 0..<count { y[i] = Float(1 / (1 + exp(-Double(x[i])))) }
}

/// Reference twin of `f32Swish`, in double precision.
public func f32SwishReference(count: Int, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    for i in 0..<count { y[i] = Float(Double(x[i]) / (1 + exp(-Double(x[i])))) }
}
