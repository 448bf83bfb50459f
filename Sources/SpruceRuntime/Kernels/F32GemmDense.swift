// f32-gemm-dense: the classifier's matrix-vector product for batch 1, y = clamp(W · x + bias)
// with W [N × K] row-major (ONNX Gemm with transB = 1; the plan transposes other layouts once),
// and its qc8w twin (int8 rows, one scale per row after accumulation). Tiny; SIMD dot products.
// Not for convolutions (see f32-gemm, which tiles and packs).

import _SpruceSupport

/// y[n] = clamp(Σ_k W[n, k] · x[k] + bias[n]) for n in `outputs`.
public func f32GemmDense(k: Int, weights: UnsafePointer<Float>, x: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                         y: UnsafeMutablePointer<Float>, outputs: Range<Int>) {
    for n in outputs {
        let w = weights + n * k
        var a0 = SIMD8<Float>.zero, a1 = SIMD8<Float>.zero
        var j = 0
        while j + 16 <= k {
            a0 = multiplyAdd(a0, load8(w + j), load8(x + j))
            a1 = multiplyAdd(a1, load8(w + j + 8), load8(x + j + 8))
            j += 16
        }
        var sum = (a0 + a1).sum()
        while j < k {
            sum += w[j] * x[j]
            j += 1
        }
        y[n] = bounds.apply(sum + (bias?[n] ?? 0))
    }
}

/// y[n] = clamp(scale[n] · Σ_k Q[n, k] · x[k] + bias[n]) with int8 rows Q.
public func f32QC8WGemmDense(k: Int, weights: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
                             x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                             y: UnsafeMutablePointer<Float>, outputs: Range<Int>) {
    for n in outputs {
        let w = weights + n * k
        var a0 = SIMD8<Float>.zero
        var j = 0
        while j + 8 <= k {
            let q = UnsafeRawPointer(w + j).loadUnaligned(as: SIMD8<Int8>.self)
            a0 = multiplyAdd(a0, SIMD8<Float>(q), load8(x + j))
            j += 8
        }
        var sum = a0.sum()
        while j < k {
            sum += Float(w[j]) * x[j]
            j += 1
        }
        y[n] = bounds.apply(sum * scales[n] + (bias?[n] ?? 0))
    }
}

/// Reference twin of `f32GemmDense`.
public func f32GemmDenseReference(k: Int, weights: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                  bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                                  y: UnsafeMutablePointer<Float>, outputs: Range<Int>) {
    for n in outputs {
        var sum: Float = 0
        for j in 0..<k { sum += weights[n * k + j] * x[j] }
        y[n] = bounds.apply(sum + (bias?[n] ?? 0))
    }
}

/// Reference twin of `f32QC8WGemmDense`.
public func f32QC8WGemmDenseReference(k: Int, weights: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
                                      x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                                      y: UnsafeMutablePointer<Float>, outputs: Range<Int>) {
    for n in outputs {
        var sum: Float = 0
        for j in 0..<k { sum += Float(weights[n * k + j]) * x[j] }
        y[n] = bounds.apply(sum * scales[n] + (bias?[n] ?? 0))
    }
}
