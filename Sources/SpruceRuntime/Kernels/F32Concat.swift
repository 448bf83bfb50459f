// f32-concat: concatenation along the channel axis of NCHW tensors, batch 1. Each input is
// copied into its channel slot of the output; with batch 1 that slot is one contiguous run.
// Not for other axes (the plan lowers those to copies with strides, or rejects them).

import _SpruceSupport

/// Copies `channels` planes of `plane` floats from `input` into `output` starting at `channelOffset`.
public func f32Concat(channels: Int, plane: Int, input: UnsafePointer<Float>,
                      output: UnsafeMutablePointer<Float>, channelOffset: Int) {
    let count = channels * plane
    let dst = output + channelOffset * plane
    var i = 0
    while i + 8 <= count {
        store8(load8(input + i), dst + i)
        i += 8
    }
    while i < count {
        dst[i] = input[i]
        i += 1
    }
}

/// Reference twin of `f32Concat`: element by element, indexing [c, j].
public func f32ConcatReference(channels: Int, plane: Int, input: UnsafePointer<Float>,
                               output: UnsafeMutablePointer<Float>, channelOffset: Int) {
    for c in 0..<channels {
        for j in 0..<plane { output[(channelOffset + c) * plane + j] = input[c * plane + j] }
    }
}
