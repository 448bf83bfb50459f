// ResNet v2 (pre-activation) as Keras `applications.ResNet50V2` / `ResNet152V2` build it:
// ZeroPadding(3) + 7×7/2 conv with bias, ZeroPadding(1) + 3×3/2 max pool, `stack2` stacks of
// `block2` bottlenecks (preact BN + ReLU, conv shortcut in the first block, stride on the last
// block of each stack but the final one), then post_bn + post_relu. BatchNorm epsilon 1.001e-5.
// Zero paddings before convs are folded into the conv's pads; the one before the max pool stays
// a Pad node because padding a max pool with zeros is not the same as ONNX's ignored pads.

extension ZooGraphBuilder {
    /// The ResNet v2 feature extractor with `blocks` bottlenecks per stack; returns `post_relu`.
    mutating func resNetV2(blocks: [Int]) throws -> String {
        var x = try conv(inputName, name: "conv1_conv", filters: 64, kernel: (7, 7), stride: 2,
                         padding: .explicit([3, 3, 3, 3]), bias: true)
        x = zeroPad(x, name: "pool1_pad", pads: [1, 1, 1, 1])
        x = try maxPool(x, name: "pool1_pool", kernel: 3, stride: 2)
        let filters = [64, 128, 256, 512]
        for (stack, count) in blocks.enumerated() {
            let name = "conv\(stack + 2)"
            let lastStride = stack == blocks.count - 1 ? 1 : 2
            x = try block2(x, filters: filters[stack], stride: 1, convShortcut: true, name: name + "_block1")
            for b in 2..<count {
                x = try block2(x, filters: filters[stack], stride: 1, convShortcut: false, name: name + "_block\(b)")
            }
            x = try block2(x, filters: filters[stack], stride: lastStride, convShortcut: false, name: name + "_block\(count)")
        }
        x = batchNorm(x, name: "post_bn", epsilon: 1.001e-5)
        return relu(x, name: "post_relu")
    }

    /// Keras `block2`: a pre-activation bottleneck.
    private mutating func block2(_ x: String, filters: Int, stride: Int, convShortcut: Bool, name: String) throws -> String {
        let epsilon: Float = 1.001e-5
        var preact = batchNorm(x, name: name + "_preact_bn", epsilon: epsilon)
        preact = relu(preact, name: name + "_preact_relu")
        let shortcut: String
        if convShortcut {
            shortcut = try conv(preact, name: name + "_0_conv", filters: 4 * filters, kernel: (1, 1), stride: stride,
                                padding: .valid, bias: true)
        } else if stride > 1 {
            // Keras subsamples the identity with a 1×1 max pool of the block's stride.
            shortcut = try maxPool(x, name: autoName("max_pooling2d"), kernel: 1, stride: stride)
        } else {
            shortcut = x
        }
        var y = try conv(preact, name: name + "_1_conv", filters: filters, kernel: (1, 1), padding: .valid, bias: false)
        y = batchNorm(y, name: name + "_1_bn", epsilon: epsilon)
        y = relu(y, name: name + "_1_relu")
        y = try conv(y, name: name + "_2_conv", filters: filters, kernel: (3, 3), stride: stride,
                     padding: .explicit([1, 1, 1, 1]), bias: false)
        y = batchNorm(y, name: name + "_2_bn", epsilon: epsilon)
        y = relu(y, name: name + "_2_relu")
        y = try conv(y, name: name + "_3_conv", filters: 4 * filters, kernel: (1, 1), padding: .valid, bias: true)
        return add(shortcut, y, name: name + "_out")
    }
}
