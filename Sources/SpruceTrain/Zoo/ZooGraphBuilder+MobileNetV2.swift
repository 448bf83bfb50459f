// MobileNet v2 as Keras `applications.MobileNetV2` builds it: width multiplier α with channel
// counts rounded by `makeDivisible`, inverted residual blocks (expansion 6, none for block 0),
// Keras's asymmetric `correct_pad` before stride-2 depthwise convs (folded into the conv's pads),
// ReLU6 as Clip(0, 6), BatchNorm epsilon 1e-3 (momentum 0.999 is recorded by ModelZoo).
// The head is added by ModelZoo; this stops at `out_relu`.

extension ZooGraphBuilder {
    /// Keras's `_make_divisible`: nearest multiple of `divisor` (at least `divisor`), never below 90 % of `v`.
    static func makeDivisible(_ v: Double, divisor: Int = 8) -> Int {
        let d = Double(divisor)
        var rounded = max(divisor, Int(v + d / 2) / divisor * divisor)
        if Double(rounded) < 0.9 * v { rounded += divisor }
        return rounded
    }

    /// (filters, stride, expansion) of MobileNet v2's 17 inverted residual blocks.
    static let mobileNetV2Blocks: [(filters: Int, stride: Int, expansion: Int)] = [
        (16, 1, 1),
        (24, 2, 6), (24, 1, 6),
        (32, 2, 6), (32, 1, 6), (32, 1, 6),
        (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6),
        (96, 1, 6), (96, 1, 6), (96, 1, 6),
        (160, 2, 6), (160, 1, 6), (160, 1, 6),
        (320, 1, 6),
    ]

    /// The MobileNet v2 feature extractor for width `alpha`; returns the `out_relu` value.
    mutating func mobileNetV2(alpha: Double) throws -> String {
        let epsilon: Float = 1e-3
        var x = try conv(inputName, name: "Conv1", filters: Self.makeDivisible(32 * alpha), kernel: (3, 3), stride: 2,
                         padding: .same, bias: false)
        x = batchNorm(x, name: "bn_Conv1", epsilon: epsilon)
        x = relu6(x, name: "Conv1_relu")
        for (id, block) in Self.mobileNetV2Blocks.enumerated() {
            x = try invertedResidual(x, id: id, filters: block.filters, stride: block.stride,
                                     expansion: block.expansion, alpha: alpha)
        }
        let last = alpha > 1 ? Self.makeDivisible(1280 * alpha) : 1280
        x = try conv(x, name: "Conv_1", filters: last, kernel: (1, 1), padding: .valid, bias: false)
        x = batchNorm(x, name: "Conv_1_bn", epsilon: epsilon)
        return relu6(x, name: "out_relu")
    }

    private mutating func invertedResidual(_ input: String, id: Int, filters: Int, stride: Int, expansion: Int,
                                           alpha: Double) throws -> String {
        let epsilon: Float = 1e-3
        let inChannels = channels(input)
        // Keras truncates filters·α to an int before rounding.
        let pointwise = Self.makeDivisible(Double(Int(Double(filters) * alpha)))
        let prefix = id == 0 ? "expanded_conv_" : "block_\(id)_"
        var x = input
        if id != 0 {
            x = try conv(x, name: prefix + "expand", filters: expansion * inChannels, kernel: (1, 1),
                         padding: .valid, bias: false)
            x = batchNorm(x, name: prefix + "expand_BN", epsilon: epsilon)
            x = relu6(x, name: prefix + "expand_relu")
        }
        let padding: KerasPadding
        if stride == 2 {
            // Keras `correct_pad` for a 3×3 kernel: one pixel at the end, and one at the start
            // only when the side is odd.
            let s = shape(x)
            padding = .explicit([s[1] % 2, s[2] % 2, 1, 1])
        } else {
            padding = .same
        }
        x = try conv(x, name: prefix + "depthwise", filters: 0, kernel: (3, 3), stride: stride, padding: padding,
                     bias: false, depthwise: true)
        x = batchNorm(x, name: prefix + "depthwise_BN", epsilon: epsilon)
        x = relu6(x, name: prefix + "depthwise_relu")
        x = try conv(x, name: prefix + "project", filters: pointwise, kernel: (1, 1), padding: .valid, bias: false)
        x = batchNorm(x, name: prefix + "project_BN", epsilon: epsilon)
        if inChannels == pointwise && stride == 1 {
            return add(input, x, name: prefix + "add")
        }
        return x
    }
}
