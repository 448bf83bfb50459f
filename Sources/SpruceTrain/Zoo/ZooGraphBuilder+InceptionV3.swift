// Inception v3 as Keras `applications.InceptionV3` builds it: `conv2d_bn` (conv without bias,
// BatchNorm with scale=False and epsilon 1e-3, ReLU), the stem, mixed0–mixed10 with Keras's
// 'valid'/'same' paddings resolved to explicit pads for the input size. Layers carry Keras's
// automatic names (conv2d_17, batch_normalization_17, activation_17, average_pooling2d_3), created
// in Keras's order so the names line up. The head is added by ModelZoo; this stops at mixed10.

extension ZooGraphBuilder {
    /// Keras's `conv2d_bn`: Conv2D(no bias) → BatchNormalization(scale=False) → ReLU.
    private mutating func conv2dBN(_ x: String, _ filters: Int, _ rows: Int, _ cols: Int, stride: Int = 1,
                                   padding: KerasPadding = .same) throws -> String {
        var y = try conv(x, name: autoName("conv2d"), filters: filters, kernel: (rows, cols), stride: stride,
                         padding: padding, bias: false)
        y = batchNorm(y, name: autoName("batch_normalization"), epsilon: 1e-3, scale: false)
        return relu(y, name: autoName("activation"))
    }

    private mutating func averagePoolBranch(_ x: String, _ filters: Int) throws -> String {
        let pooled = try averagePoolSame(x, name: autoName("average_pooling2d"), kernel: 3, stride: 1)
        return try conv2dBN(pooled, filters, 1, 1)
    }

    /// The Inception v3 feature extractor; returns the `mixed10` value.
    mutating func inceptionV3() throws -> String {
        var x = try conv2dBN(inputName, 32, 3, 3, stride: 2, padding: .valid)
        x = try conv2dBN(x, 32, 3, 3, padding: .valid)
        x = try conv2dBN(x, 64, 3, 3)
        x = try maxPool(x, name: autoName("max_pooling2d"), kernel: 3, stride: 2)
        x = try conv2dBN(x, 80, 1, 1, padding: .valid)
        x = try conv2dBN(x, 192, 3, 3, padding: .valid)
        x = try maxPool(x, name: autoName("max_pooling2d"), kernel: 3, stride: 2)

        // mixed0–mixed2: 35×35 (at 299) blocks.
        for (i, poolFilters) in [32, 64, 64].enumerated() {
            let b1 = try conv2dBN(x, 64, 1, 1)
            var b5 = try conv2dBN(x, 48, 1, 1)
            b5 = try conv2dBN(b5, 64, 5, 5)
            var b3 = try conv2dBN(x, 64, 1, 1)
            b3 = try conv2dBN(b3, 96, 3, 3)
            b3 = try conv2dBN(b3, 96, 3, 3)
            let bp = try averagePoolBranch(x, poolFilters)
            x = concat([b1, b5, b3, bp], name: "mixed\(i)")
        }

        // mixed3: reduction to 17×17.
        do {
            let b3 = try conv2dBN(x, 384, 3, 3, stride: 2, padding: .valid)
            var bd = try conv2dBN(x, 64, 1, 1)
            bd = try conv2dBN(bd, 96, 3, 3)
            bd = try conv2dBN(bd, 96, 3, 3, stride: 2, padding: .valid)
            let bp = try maxPool(x, name: autoName("max_pooling2d"), kernel: 3, stride: 2)
            x = concat([b3, bd, bp], name: "mixed3")
        }

        // mixed4–mixed7: factorised 7×7 blocks.
        for (i, width) in [128, 160, 160, 192].enumerated() {
            let b1 = try conv2dBN(x, 192, 1, 1)
            var b7 = try conv2dBN(x, width, 1, 1)
            b7 = try conv2dBN(b7, width, 1, 7)
            b7 = try conv2dBN(b7, 192, 7, 1)
            var bd = try conv2dBN(x, width, 1, 1)
            bd = try conv2dBN(bd, width, 7, 1)
            bd = try conv2dBN(bd, width, 1, 7)
            bd = try conv2dBN(bd, width, 7, 1)
            bd = try conv2dBN(bd, 192, 1, 7)
            let bp = try averagePoolBranch(x, 192)
            x = concat([b1, b7, bd, bp], name: "mixed\(4 + i)")
        }

        // mixed8: reduction to 8×8.
        do {
            var b3 = try conv2dBN(x, 192, 1, 1)
            b3 = try conv2dBN(b3, 320, 3, 3, stride: 2, padding: .valid)
            var b7 = try conv2dBN(x, 192, 1, 1)
            b7 = try conv2dBN(b7, 192, 1, 7)
            b7 = try conv2dBN(b7, 192, 7, 1)
            b7 = try conv2dBN(b7, 192, 3, 3, stride: 2, padding: .valid)
            let bp = try maxPool(x, name: autoName("max_pooling2d"), kernel: 3, stride: 2)
            x = concat([b3, b7, bp], name: "mixed8")
        }

        // mixed9, mixed10: expanded-filter-bank blocks.
        for i in 0..<2 {
            let b1 = try conv2dBN(x, 320, 1, 1)
            let b3 = try conv2dBN(x, 384, 1, 1)
            let b3a = try conv2dBN(b3, 384, 1, 3)
            let b3b = try conv2dBN(b3, 384, 3, 1)
            let b3cat = concat([b3a, b3b], name: "mixed9_\(i)")
            var bd = try conv2dBN(x, 448, 1, 1)
            bd = try conv2dBN(bd, 384, 3, 3)
            let bda = try conv2dBN(bd, 384, 1, 3)
            let bdb = try conv2dBN(bd, 384, 3, 1)
            let bdcat = concat([bda, bdb], name: autoName("concatenate"))
            let bp = try averagePoolBranch(x, 192)
            x = concat([b1, b3cat, bdcat, bp], name: "mixed\(9 + i)")
        }
        return x
    }
}
