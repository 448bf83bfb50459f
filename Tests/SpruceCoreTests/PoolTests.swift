// Reference pooling and reductions on tiny inputs with hand-computed outputs: max pooling with
// -inf padding, dilation and ceil mode; average pooling with and without count_include_pad,
// auto_pad, and ceil-mode windows reaching past the padded input (divided by the whole kernel,
// as onnxruntime does); global pooling, ReduceMean.

import SpruceCore
import Testing

@Suite struct PoolTests {
    @Test(arguments: [
        // x = 1...16 on 4×4; each row: attributes, expected output shape, expected values.
        (PoolAttributes(kernelShape: [2, 2], strides: [2, 2]), [1, 1, 2, 2], [6, 8, 14, 16]),
        (PoolAttributes(kernelShape: [2, 2], dilations: [2, 2]), [1, 1, 2, 2], [11, 12, 15, 16]),
        (PoolAttributes(kernelShape: [2, 2], autoPad: .sameLower), [1, 1, 4, 4],
         [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]),
        (PoolAttributes(kernelShape: [3, 3], strides: [2, 2], ceilMode: true), [1, 1, 2, 2], [11, 12, 15, 16]),
    ] as [(PoolAttributes, [Int], [Float])])
    func maxPool(attributes: PoolAttributes, shape: [Int], expected: [Float]) throws {
        let y = try runOp(.maxPool(attributes), [iota([1, 1, 4, 4])])
        expectClose(y, expected, shape: shape)
    }

    @Test func maxPoolPaddingActsAsNegativeInfinity() throws {
        // x = -(1...16): a zero pad would win every window; -inf padding never does.
        let x = Tensor(shape: [1, 1, 4, 4], data: (1...16).map { -Float($0) })
        let y = try runOp(.maxPool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])), [x])
        expectClose(y, [-1, -2, -5, -6], shape: [1, 1, 2, 2])
    }

    @Test(arguments: [true, false])
    func maxPoolCeilMode(ceil: Bool) throws {
        let y = try runOp(.maxPool(PoolAttributes(kernelShape: [2, 2], strides: [2, 2], ceilMode: ceil)), [iota([1, 1, 5, 5])])
        if ceil {
            expectClose(y, [7, 9, 10, 17, 19, 20, 22, 24, 25], shape: [1, 1, 3, 3])
        } else {
            expectClose(y, [7, 9, 17, 19], shape: [1, 1, 2, 2])
        }
    }

    @Test func ceilModeDropsAWindowStartingInTrailingPadding() throws {
        // Width 5, pads 1/1, k 2, s 2: ceil gives 4 windows, but the 4th would start at 6 ≥ 5 + 1.
        let a = PoolAttributes(kernelShape: [1, 2], strides: [1, 2], pads: [0, 1, 0, 1], ceilMode: true)
        let y = try runOp(.maxPool(a), [iota([1, 1, 1, 5])])
        expectClose(y, [1, 3, 5], shape: [1, 1, 1, 3])
    }

    @Test(arguments: [
        // x = 1...25 on 5×5, k 3, s 2, pads 1: corner windows see 4 real cells of 9.
        // Window sums over 9 cells: 16, 33, 28, 69, 117, 87, 76, 123, 88.
        (true, [16, 33, 28, 69, 117, 87, 76, 123, 88].map { $0 / 9 }),
        (false, [4, 5.5, 7, 11.5, 13, 14.5, 19, 20.5, 22]),
    ] as [(Bool, [Float])])
    func averagePoolCountIncludePad(include: Bool, expected: [Float]) throws {
        let a = PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad: include)
        let y = try runOp(.averagePool(a), [iota([1, 1, 5, 5])])
        expectClose(y, expected, shape: [1, 1, 3, 3])
    }

    @Test(arguments: [true, false])
    func averagePoolCeilModeDivisorRules(include: Bool) throws {
        // 6×6, k 3, s 2, no pads, ceil: the last row/column of windows covers 2 real cells of 3.
        // count_include_pad divides every window by 9 (onnxruntime), otherwise by the real cells.
        let a = PoolAttributes(kernelShape: [3, 3], strides: [2, 2], countIncludePad: include, ceilMode: true)
        let y = try runOp(.averagePool(a), [iota([1, 1, 6, 6])])
        let sums: [Float] = [72, 90, 69, 180, 198, 141, 174, 186, 130]
        let realCells: [Float] = [9, 9, 6, 9, 9, 6, 6, 6, 4]
        let expected = zip(sums, realCells).map { sum, cells in sum / (include ? 9 : cells) }
        expectClose(y, expected, shape: [1, 1, 3, 3])
    }

    @Test func averagePoolCeilModeOneDimension() throws {
        // The third window holds only x = 5; count_include_pad still divides by the kernel's 2.
        let a = PoolAttributes(kernelShape: [1, 2], strides: [1, 2], countIncludePad: true, ceilMode: true)
        let y = try runOp(.averagePool(a), [iota([1, 1, 1, 5])])
        expectClose(y, [1.5, 3.5, 2.5], shape: [1, 1, 1, 3])
    }

    @Test func averagePoolCountIncludePadWindowPastTrailingPad() throws {
        // 4×4, k 3, s 2, pads 1, ceil → 3×3. Taps per axis: {0,1} (+1 leading pad), {1,2,3},
        // {3} (+ the trailing pad + one cell beyond it). Sums of x = 1...16 over those taps:
        // 14, 30, 12 / 57, 99, 36 / 27, 45, 16, each divided by the full 9 as onnxruntime does
        // (PyTorch would give the last window 16 / 4).
        let a = PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad: true, ceilMode: true)
        let y = try runOp(.averagePool(a), [iota([1, 1, 4, 4])])
        let sums: [Float] = [14, 30, 12, 57, 99, 36, 27, 45, 16]
        expectClose(y, sums.map { $0 / 9 }, shape: [1, 1, 3, 3])
    }

    @Test(arguments: [
        // 5×5, k 2, s 2 → 3×3, total pad 1: SAME_LOWER puts it at the top/left, SAME_UPPER bottom/right.
        (AutoPad.sameLower, [Float]([0.25, 1.25, 2.25, 4.25, 10, 12, 9.25, 20, 22])),
        (AutoPad.sameUpper, [4, 6, 3.75, 14, 16, 8.75, 10.75, 11.75, 6.25]),
    ] as [(AutoPad, [Float])])
    func averagePoolAutoPad(autoPad: AutoPad, expected: [Float]) throws {
        let a = PoolAttributes(kernelShape: [2, 2], strides: [2, 2], autoPad: autoPad, countIncludePad: true)
        let y = try runOp(.averagePool(a), [iota([1, 1, 5, 5])])
        expectClose(y, expected, shape: [1, 1, 3, 3])
    }

    @Test(arguments: [[1, 1, 2, 2], [2, 3, 4, 5], [3, 2, 1, 7]])
    func globalAveragePoolIsPlaneMean(shape: [Int]) throws {
        var rng = SplitMix64(seed: 21)
        let x = rng.tensor(shape)
        let y = try runOp(.globalAveragePool, [x])
        let plane = shape[2] * shape[3]
        let expected = (0..<(shape[0] * shape[1])).map { p in
            x.data[(p * plane)..<((p + 1) * plane)].reduce(0, +) / Float(plane)
        }
        expectClose(y, expected, shape: [shape[0], shape[1], 1, 1])
    }

    @Test(arguments: [
        ([2, 3], true, [1, 4, 1, 1], [Float]([2.5, 6.5, 10.5, 14.5])),
        ([-1, -2], false, [1, 4], [Float]([2.5, 6.5, 10.5, 14.5])),
        ([1], true, [1, 1, 2, 2], [Float]([3, 4, 5, 6])),
        ([], false, [], [Float]([8.5])),
    ] as [([Int], Bool, [Int], [Float])])
    func reduceMean(axes: [Int], keepDims: Bool, shape: [Int], expected: [Float]) throws {
        // x = 1...16 as [1, 4, 2, 2] for axes that mean spatial; [1, 2, 2, 2] for the axis-1 case.
        let x = axes == [1] ? iota([1, 2, 2, 2]) : Tensor(shape: [1, 4, 2, 2], data: (1...16).map(Float.init))
        let y = try runOp(.reduceMean(axes: axes, keepDims: keepDims), [x])
        expectClose(y, expected, shape: shape)
    }

    @Test func softmaxAlongAnAxis() throws {
        // Axis 1 of [2, 2, 1]: pairs (x[i,0], x[i,1]); ln 3 gives probabilities 1/4 and 3/4.
        let ln3: Float = 1.0986123
        let x = Tensor(shape: [2, 2, 1], data: [0, ln3, 5, 5])
        expectClose(try runOp(.softmax(axis: 1), [x]), [0.25, 0.75, 0.5, 0.5], shape: [2, 2, 1])
        expectClose(try runOp(.softmax(axis: -2), [x]), [0.25, 0.75, 0.5, 0.5], shape: [2, 2, 1])
        // Axis 0 pairs (x[0,j], x[1,j]); large values must not overflow.
        let big = Tensor(shape: [2, 2], data: [1000, 0, 1000 + ln3, 0])
        expectClose(try runOp(.softmax(axis: 0), [big]), [0.25, 0.5, 0.75, 0.5], shape: [2, 2])
    }
}
