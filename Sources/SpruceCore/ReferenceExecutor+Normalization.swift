// Reference layer normalization and GELU: the ONNX formulas evaluated in double precision, one
// normalized slice at a time (two passes: the mean, then the squared deviations). The oracle for
// the trainer's and the runtime's kernels, so nothing here is fused or vectorized.
import _SpruceSupport

extension ReferenceExecutor {
    /// y = (x − mean) / √(variance + ε) · scale + bias over the trailing axes from `axis` on
    /// (`axis` already normalized); the population variance, as ONNX defines it.
    static func layerNormalization(_ x: Tensor, scale: Tensor, bias: Tensor?, axis: Int, epsilon: Float) -> Tensor {
        let width = Array(x.shape[axis...]).elementCount
        var out = x.data
        guard width > 0 else { return x }
        out.withUnsafeMutableBufferPointer { o in
            for start in stride(from: 0, to: o.count, by: width) {
                var sum = 0.0
                for i in 0..<width { sum += Double(o[start + i]) }
                let mean = sum / Double(width)
                var squares = 0.0
                for i in 0..<width {
                    let d = Double(o[start + i]) - mean
                    squares += d * d
                }
                let invStd = 1 / (squares / Double(width) + Double(epsilon)).squareRoot()
                for i in 0..<width {
                    let normalized = (Double(o[start + i]) - mean) * invStd
                    o[start + i] = Float(normalized * Double(scale.data[i]) + Double(bias?.data[i] ?? 0))
                }
            }
        }
        return Tensor(shape: x.shape, data: out)
    }

    /// x·Φ(x) = x/2·(1 + erf(x/√2)), or PyTorch's and ONNX's tanh form of it.
    package static func gelu(_ x: Double, tanhApproximation: Bool) -> Double {
        if tanhApproximation {
            let c = (2 / Double.pi).squareRoot()
            return 0.5 * x * (1 + tanh(c * (x + 0.044715 * x * x * x)))
        }
        return 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
    }
}
