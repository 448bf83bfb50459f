// Layer normalization for training: rows of `width` values (the normalized trailing axes), each
// brought to mean 0 and variance 1 and then scaled and shifted per position. The forward keeps
// each row's mean and 1/√(variance + ε) for the backward; statistics accumulate in Double.
// Rows are split over threads; the scale and bias gradients are summed over rows in one pass.
// Legend: R rows, D width, x̂ the normalized row, γ scale, β bias.

import SpruceCore

import _SpruceSupport

/// Forward and backward of LayerNormalization over [R × D].
enum LayerNormKernels {
    /// y = x̂·γ + β per row; writes each row's mean and inverse standard deviation.
    static func forward(x: UnsafePointer<Float>, scale: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>,
                        rows: Int, width: Int, epsilon: Float, threads: Int) {
        guard width > 0 else { return }
        parallelChunks(rows, threads: threads, minimumPerChunk: max(1, 4096 / width)) { range in
            for r in range {
                let row = x + r * width, out = y + r * width
                var sum = 0.0
                for j in 0..<width { sum += Double(row[j]) }
                let mu = sum / Double(width)
                var squares = 0.0
                for j in 0..<width {
                    let d = Double(row[j]) - mu
                    squares += d * d
                }
                let inv = Float(1 / (squares / Double(width) + Double(epsilon)).squareRoot())
                let m = Float(mu)
                mean[r] = m
                invStd[r] = inv
                if let bias {
                    for j in 0..<width { out[j] = (row[j] - m) * inv * scale[j] + bias[j] }
                } else {
                    for j in 0..<width { out[j] = (row[j] - m) * inv * scale[j] }
                }
            }
        }
    }

    /// dx = (1/σ)·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ, per row; dγ = Σ_rows dy·x̂ and
    /// dβ = Σ_rows dy. Any of the three outputs may be nil (not needed).
    static func backward(x: UnsafePointer<Float>, scale: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, dScale: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
                         rows: Int, width: Int, threads: Int) {
        guard width > 0 else { return }
        if let dx {
            parallelChunks(rows, threads: threads, minimumPerChunk: max(1, 4096 / width)) { range in
                for r in range {
                    let row = x + r * width, g = dy + r * width, out = dx + r * width
                    let m = mean[r], inv = invStd[r]
                    var sumG = 0.0, sumGX = 0.0
                    for j in 0..<width {
                        let gj = Double(g[j] * scale[j])
                        sumG += gj
                        sumGX += gj * Double((row[j] - m) * inv)
                    }
                    let a = Float(sumG / Double(width)), b = Float(sumGX / Double(width))
                    for j in 0..<width {
                        let xhat = (row[j] - m) * inv
                        out[j] = inv * (g[j] * scale[j] - a - xhat * b)
                    }
                }
            }
        }
        if dScale == nil && dBias == nil { return }
        dScale?.update(repeating: 0, count: width)
        dBias?.update(repeating: 0, count: width)
        for r in 0..<rows {
            let row = x + r * width, g = dy + r * width
            let m = mean[r], inv = invStd[r]
            if let dScale { for j in 0..<width { dScale[j] += g[j] * (row[j] - m) * inv } }
            if let dBias { for j in 0..<width { dBias[j] += g[j] } }
        }
    }
}
