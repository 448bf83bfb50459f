// Synchronised BatchNormalization for data-parallel training (`--sync-bn`): the per-channel batch
// mean and variance, and the two per-channel sums of the backward, are summed over all ranks, so
// every rank normalises with the global batch's statistics as one process would. Per-channel
// loops run on one thread here; the local (non-synchronised) kernels stay in Kernels/.

import SpruceCore

/// Training-mode BatchNormalization over the global batch spread across ranks.
enum SyncBatchNorm {
    /// Forward with global statistics: writes mean, biased variance and invStd (all global) and
    /// returns the global element count per channel (N·S summed over ranks).
    static func forward(x: UnsafePointer<Float>, scale: UnsafePointer<Float>?, bias: UnsafePointer<Float>,
                        y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                        variance: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>,
                        n: Int, c: Int, s: Int, epsilon: Float, communicator: any Communicator) throws -> Int {
        var sums = [Float](repeating: 0, count: c + 1)
        try sums.withUnsafeMutableBufferPointer { b in
            for ch in 0..<c {
                var total: Float = 0
                for i in 0..<n { total += BatchNormKernels.sum(x + (i * c + ch) * s, s) }
                b[ch] = total
            }
            b[c] = Float(n * s)
            try communicator.allreduceSum(b)
        }
        let count = sums[c]
        for ch in 0..<c { mean[ch] = count > 0 ? sums[ch] / count : 0 }
        var squares = [Float](repeating: 0, count: c)
        try squares.withUnsafeMutableBufferPointer { b in
            for ch in 0..<c {
                // Same SIMD8 partial sums as BatchNormKernels, so one rank reproduces it exactly.
                let mu = mean[ch]
                let muv = SIMD8<Float>(repeating: mu)
                var sq = SIMD8<Float>(repeating: 0)
                var tail: Float = 0
                for i in 0..<n {
                    let p = x + (i * c + ch) * s
                    var j = 0
                    while j + 8 <= s {
                        let d = DepthwiseKernels.load(p + j) - muv
                        sq += d * d
                        j += 8
                    }
                    while j < s { let d = p[j] - mu; tail += d * d; j += 1 }
                }
                b[ch] = sq.sum() + tail
            }
            try communicator.allreduceSum(b)
            for ch in 0..<c {
                let v = count > 0 ? b[ch] / count : 0
                variance[ch] = v
                invStd[ch] = 1 / (v + epsilon).squareRoot()
                let a = invStd[ch] * (scale?[ch] ?? 1), shift = bias[ch] - mean[ch] * a
                for i in 0..<n {
                    let p = x + (i * c + ch) * s, q = y + (i * c + ch) * s
                    for j in 0..<s { q[j] = p[j] * a + shift }
                }
            }
        }
        return Int(count)
    }

    /// Backward of `forward`. dScale and dBias are this rank's partial sums (GradientSync adds
    /// them up with the other gradients); dx uses the global sums, as the global batch's would.
    static func backward(x: UnsafePointer<Float>, scale: UnsafePointer<Float>?, dy: UnsafePointer<Float>,
                         mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, dScale: UnsafeMutablePointer<Float>?,
                         dBias: UnsafeMutablePointer<Float>?, n: Int, c: Int, s: Int,
                         communicator: any Communicator) throws {
        var sums = [Float](repeating: 0, count: 2 * c + 1)
        try sums.withUnsafeMutableBufferPointer { b in
            for ch in 0..<c {
                let mu = mean[ch]
                let muv = SIMD8<Float>(repeating: mu)
                var sumDy: Float = 0
                var dotV = SIMD8<Float>(repeating: 0)
                var tail: Float = 0
                for i in 0..<n {
                    let p = x + (i * c + ch) * s, g = dy + (i * c + ch) * s
                    sumDy += BatchNormKernels.sum(g, s)
                    var j = 0
                    while j + 8 <= s {
                        dotV += DepthwiseKernels.load(g + j) * (DepthwiseKernels.load(p + j) - muv)
                        j += 8
                    }
                    while j < s { tail += g[j] * (p[j] - mu); j += 1 }
                }
                let dot = dotV.sum() + tail
                b[ch] = sumDy
                b[c + ch] = dot * invStd[ch]
                dBias?[ch] = sumDy
                dScale?[ch] = dot * invStd[ch]
            }
            b[2 * c] = Float(n * s)
            try communicator.allreduceSum(b)
            guard let dx else { return }
            let count = max(b[2 * c], 1)
            for ch in 0..<c {
                let mu = mean[ch], inv = invStd[ch]
                let a = (scale?[ch] ?? 1) * inv
                let meanDy = b[ch] / count, k = b[c + ch] / count * inv
                for i in 0..<n {
                    let p = x + (i * c + ch) * s, g = dy + (i * c + ch) * s, q = dx + (i * c + ch) * s
                    for j in 0..<s { q[j] = a * (g[j] - meanDy - (p[j] - mu) * k) }
                }
            }
        }
    }
}
