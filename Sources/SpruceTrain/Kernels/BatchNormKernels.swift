// Batch normalization over axis 1 of an [N, C, spatial…] tensor, float32: training forward
// (batch statistics), its backward, and inference forward (given mean and variance).
// Per-channel sums use SIMD8 partial sums (steadier than one running Float) and channels are
// spread over cores. Running-average updates are the caller's (GradientRules), not here.

import SpruceCore

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
                                n: Int, c: Int, s: Int, epsilon: Float, threads: Int) {
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
                    let p = x + (b * c + ch) * s, q = y + (b * c + ch) * s
                    for i in 0..<s { q[i] = p[i] * a + shift }
                }
            }
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
    static func backwardTraining(x: UnsafePointer<Float>, scale: UnsafePointer<Float>?, dy: UnsafePointer<Float>,
                                 mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                                 dx: UnsafeMutablePointer<Float>?, dScale: UnsafeMutablePointer<Float>?,
                                 dBias: UnsafeMutablePointer<Float>?, n: Int, c: Int, s: Int, threads: Int) {
        let count = Float(n * s)
        parallelChunks(c, threads: threads) { channels in
            for ch in channels {
                let mu = mean[ch], inv = invStd[ch]
                var sumDy: Float = 0
                var dotV = SIMD8<Float>(repeating: 0)
                var dotTail: Float = 0
                let muv = SIMD8<Float>(repeating: mu)
                for b in 0..<n {
                    let p = x + (b * c + ch) * s, g = dy + (b * c + ch) * s
                    sumDy += sum(g, s)
                    var i = 0
                    while i + 8 <= s {
                        dotV += DepthwiseKernels.load(g + i) * (DepthwiseKernels.load(p + i) - muv)
                        i += 8
                    }
                    while i < s { dotTail += g[i] * (p[i] - mu); i += 1 }
                }
                let dotXhat = (dotV.sum() + dotTail) * inv
                dBias?[ch] = sumDy
                dScale?[ch] = dotXhat
                guard let dx else { continue }
                let gamma = scale?[ch] ?? 1
                let a = gamma * inv
                let meanDy = sumDy / count, k = dotXhat / count * inv
                for b in 0..<n {
                    let p = x + (b * c + ch) * s, g = dy + (b * c + ch) * s, q = dx + (b * c + ch) * s
                    for i in 0..<s { q[i] = a * (g[i] - meanDy - (p[i] - mu) * k) }
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
