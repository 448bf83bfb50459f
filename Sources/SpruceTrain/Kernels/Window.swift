// Resolved geometry of a 2-D sliding window (convolution or pooling) over an NCHW batch.
// Legend: N batch, C input channels, M output channels, H×W input, OH×OW output, kH×kW window.
// It only resolves auto_pad and sizes (the same rules as SpruceCore's shape inference); it
// computes nothing.

import SpruceCore

/// Sizes, strides, dilations and resolved begin/end pads of one windowed operation.
struct Window: Sendable, Equatable {
    var n: Int, c: Int, h: Int, w: Int
    var oh: Int, ow: Int
    var kh: Int, kw: Int
    var sh: Int, sw: Int
    var dh: Int, dw: Int
    var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int

    /// Geometry of a window over input `[N, C, H, W]` whose output spatial size is `[OH, OW]`
    /// (taken from shape inference, which already enforced every rule).
    init(input: [Int], output: [Int], kernel: [Int], strides: [Int], pads: [Int], dilations: [Int],
         autoPad: AutoPad) {
        n = input[0]; c = input[1]; h = input[2]; w = input[3]
        oh = output[2]; ow = output[3]
        kh = kernel[0]; kw = kernel[1]
        sh = strides[0]; sw = strides[1]
        dh = dilations[0]; dw = dilations[1]
        var resolved = [0, 0, 0, 0]
        let sizes = [h, w], outs = [oh, ow], ks = [kh, kw], ss = [sh, sw], ds = [dh, dw]
        for axis in 0..<2 {
            switch autoPad {
            case .sameUpper, .sameLower:
                let extent = (ks[axis] - 1) * ds[axis] + 1
                let total = max(0, (outs[axis] - 1) * ss[axis] + extent - sizes[axis])
                let small = total / 2, large = total - small
                resolved[axis] = autoPad == .sameUpper ? small : large
                resolved[axis + 2] = autoPad == .sameUpper ? large : small
            case .valid:
                break
            case .notSet:
                resolved[axis] = pads[axis]
                resolved[axis + 2] = pads[axis + 2]
            }
        }
        padTop = resolved[0]; padLeft = resolved[1]; padBottom = resolved[2]; padRight = resolved[3]
    }
}
