// Batch normalization over axis 1 of an [N, C, spatial…] tensor, float32: training forward
// (batch statistics), its backward, and inference forward (given mean and variance). The
// training passes can fold in a following ReLU / Clip (`BatchNormActivation`): the forward
// writes the activation's output, the backward masks dy by it on the fly, saving a full-size
// tensor pass each way. Per-channel sums use SIMD8 partial sums (steadier than one running
// Float) and channels are spread over cores. Running-average updates are the caller's.

import SpruceCore
import _SpruceSupport

/// A ReLU (no upper bound) or Clip(lo, hi) applied to a batch norm's output.
struct BatchNormActivation: Sendable, Equatable {
    var lo: Float
    var hi: Float
    var hasUpper: Bool

    static let relu = BatchNormActivation(lo: 0, hi: .infinity, hasUpper: false)
    static func clip(_ lo: Float, _ hi: Float) -> BatchNormActivation { BatchNormActivation(lo: lo, hi: hi, hasUpper: true) }

    /// The upper bound the masks compare with: NaN for ReLU, so `y >= upper` is always false.
    var upper: Float { hasUpper ? hi : .nan }

    /// dy where the activation's output y is strictly inside its range (its backward), else 0;
    /// `l`, `u` are `lo` and `upper` broadcast.
    @inline(__always)
    static func mask(_ g: SIMD8<Float>, _ y: SIMD8<Float>, _ l: SIMD8<Float>, _ u: SIMD8<Float>) -> SIMD8<Float> {
        g.replacing(with: 0, where: (y .<= l) .| (y .>= u))
    }

    @inline(__always)
    func mask(_ g: Float, _ y: Float) -> Float { (y <= lo || y >= upper) ? 0 : g }
}

/// Batch normalization kernels; `s` is the number of elements per (n, c) plane.
enum BatchNormKernels {
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= count {
            acc += DepthwiseKernels.load(p + i)
            i += 8
        }
        var total = acc.sum()
        while i < count { total += p[i]; i += 1 }
        return total
    }

    /// Training forward: y = (x − mean)·invStd·scale + bias with the biased batch variance;
    /// writes the per-channel batch mean, biased variance and invStd = 1/sqrt(var + eps).
    static func forwardTraining(x: UnsafePointer<Float>, scale: UnsafePointer<Float>?, bias: UnsafePointer<Float>,
                                y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                                variance: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>,
                                n: Int, c: Int, s: Int, epsilon: Float, threads: Int,
                                activation: BatchNormActivation? = nil) {
        let count = Float(n * s)
        parallelChunks(c, threads: threads) { channels in
            for ch in channels {
                var total: Float = 0
                for b in 0..<n { total += sum(x + (b * c + ch) * s, s) }
                let mu = total / count
                var sq = SIMD8<Float>(repeating: 0)
                var sqTail: Float = 0
                let muv = SIMD8<Float>(repeating: mu)
                for b in 0..<n {
                    let p = x + (b * c + ch) * s
                    var i = 0
                    while i + 8 <= s {
                        let d = DepthwiseKernels.load(p + i) - muv
                        sq += d * d
                        i += 8
                    }
                    while i < s { let d = p[i] - mu; sqTail += d * d; i += 1 }
                }
                let v = (sq.sum() + sqTail) / count
                let inv = 1 / (v + epsilon).squareRoot()
                mean[ch] = mu
                variance[ch] = v
                invStd[ch] = inv
                let a = inv * (scale?[ch] ?? 1), shift = bias[ch] - mu * a
                for b in 0..<n {
                    normalize(x + (b * c + ch) * s, y + (b * c + ch) * s, s, a, shift, activation)
                }
            }
        }
    }

    /// q = p·a + shift (then the activation). Plain loops: the release build vectorizes them
    /// (no reduction, so the same IEEE operations per element), and debug builds stay fast.
    @inline(__always)
    static func normalize(_ p: UnsafePointer<Float>, _ q: UnsafeMutablePointer<Float>, _ s: Int, _ a: Float, _ shift: Float,
                          _ activation: BatchNormActivation?) {
        if let activation, activation.hasUpper {
            let lo = activation.lo, hi = activation.hi
            for i in 0..<s { q[i] = min(max(p[i] * a + shift, lo), hi) }
        } else if activation != nil {
            for i in 0..<s {
                let v = p[i] * a + shift
                q[i] = v > 0 ? v : 0
            }
        } else {
            for i in 0..<s { q[i] = p[i] * a + shift }
        }
    }

    /// Inference forward with given statistics.
    static func forwardInference(x: UnsafePointer<Float>, scale: UnsafePointer<Float>?, bias: UnsafePointer<Float>,
                                 mean: UnsafePointer<Float>, variance: UnsafePointer<Float>,
                                 y: UnsafeMutablePointer<Float>, n: Int, c: Int, s: Int, epsilon: Float, threads: Int) {
        parallelChunks(c, threads: threads) { channels in
            for ch in channels {
                let a = (scale?[ch] ?? 1) / (variance[ch] + epsilon).squareRoot()
                let shift = bias[ch] - mean[ch] * a
                for b in 0..<n {
                    let p = x + (b * c + ch) * s, q = y + (b * c + ch) * s
                    for i in 0..<s { q[i] = p[i] * a + shift }
                }
            }
        }
    }

    /// Backward of the training forward. With x̂ = (x − mean)·invStd:
    /// dBias = Σdy, dScale = Σdy·x̂, dx = scale·invStd·(dy − dBias/m − x̂·dScale/m), m = N·S.
    /// With `activation`, `dy` is the gradient of the activation's output `activated` and is
    /// masked by it element by element (the fused activation backward) before the above.
    static func backwardTraining(x: UnsafePointer<Float>, scale: UnsafePointer<Float>?, dy: UnsafePointer<Float>,
                                 mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                                 dx: UnsafeMutablePointer<Float>?, dScale: UnsafeMutablePointer<Float>?,
                                 dBias: UnsafeMutablePointer<Float>?, n: Int, c: Int, s: Int, threads: Int,
                                 activation: BatchNormActivation? = nil, activated: UnsafePointer<Float>? = nil) {
        let count = Float(n * s)
        let act = activated == nil ? nil : activation
        let lv = SIMD8<Float>(repeating: act?.lo ?? 0), uv = SIMD8<Float>(repeating: act?.upper ?? .nan)
        parallelChunks(c, threads: threads) { channels in
            for ch in channels {
                let mu = mean[ch], inv = invStd[ch]
                var sumDy: Float = 0
                var dotV = SIMD8<Float>(repeating: 0)
                var dotTail: Float = 0
                let muv = SIMD8<Float>(repeating: mu)
                // One pass for both sums, in the same order as separate passes would add them
                // (per plane: SIMD8 partial sums, then the tail), so the values are unchanged.
                for b in 0..<n {
                    let o = (b * c + ch) * s
                    let p = x + o, g = dy + o
                    var sumV = SIMD8<Float>(repeating: 0)
                    var i = 0
                    if let act, let yp = activated.map({ $0 + o }) {
                        while i + 8 <= s {
                            let gv = BatchNormActivation.mask(load8(g + i), load8(yp + i), lv, uv)
                            sumV += gv
                            dotV += gv * (load8(p + i) - muv)
                            i += 8
                        }
                        var total = sumV.sum()
                        while i < s {
                            let gi = act.mask(g[i], yp[i])
                            total += gi
                            dotTail += gi * (p[i] - mu)
                            i += 1
                        }
                        sumDy += total
                    } else {
                        while i + 8 <= s {
                            let gv = load8(g + i)
                            sumV += gv
                            dotV += gv * (load8(p + i) - muv)
                            i += 8
                        }
                        var total = sumV.sum()
                        while i < s {
                            total += g[i]
                            dotTail += g[i] * (p[i] - mu)
                            i += 1
                        }
                        sumDy += total
                    }
                }
                let dotXhat = (dotV.sum() + dotTail) * inv
                dBias?[ch] = sumDy
                dScale?[ch] = dotXhat
                guard let dx else { continue }
                let gamma = scale?[ch] ?? 1
                let a = gamma * inv
                let meanDy = sumDy / count, k = dotXhat / count * inv
                for b in 0..<n {
                    let o = (b * c + ch) * s
                    let p = x + o, g = dy + o, q = dx + o
                    // Plain loops (vectorized by the release build, fast in debug).
                    if let act, let yp = activated.map({ $0 + o }) {
                        let lo = act.lo, upper = act.upper
                        for i in 0..<s {
                            let gi = (yp[i] <= lo || yp[i] >= upper) ? 0 : g[i]
                            q[i] = a * (gi - meanDy - (p[i] - mu) * k)
                        }
                    } else {
                        for i in 0..<s { q[i] = a * (g[i] - meanDy - (p[i] - mu) * k) }
                    }
                }
            }
        }
    }

    /// Backward of the inference forward (statistics constant): dx = dy·scale/sqrt(var+eps).
    static func backwardInference(x: UnsafePointer<Float>, scale: UnsafePointer<Float>?, dy: UnsafePointer<Float>,
                                  mean: UnsafePointer<Float>, variance: UnsafePointer<Float>,
                                  dx: UnsafeMutablePointer<Float>?, dScale: UnsafeMutablePointer<Float>?,
                                  dBias: UnsafeMutablePointer<Float>?, n: Int, c: Int, s: Int, epsilon: Float) {
        for ch in 0..<c {
            let inv = 1 / (variance[ch] + epsilon).squareRoot()
            let a = (scale?[ch] ?? 1) * inv
            var sumDy: Float = 0, dot: Float = 0
            for b in 0..<n {
                let p = x + (b * c + ch) * s, g = dy + (b * c + ch) * s
                for i in 0..<s {
                    sumDy += g[i]
                    dot += g[i] * (p[i] - mean[ch]) * inv
                }
                if let dx {
                    let q = dx + (b * c + ch) * s
                    for i in 0..<s { q[i] = g[i] * a }
                }
            }
            dBias?[ch] = sumDy
            dScale?[ch] = dot
        }
    }
}
