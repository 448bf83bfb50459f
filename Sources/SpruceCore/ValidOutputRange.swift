// Where a convolution or pooling window's tap lands inside the input: the one piece of window
// arithmetic the reference executor, the trainer's kernels and the runtime's kernels share, so
// their loops skip padding the same way. `package`: shared inside Spruce, not API.

/// Output positions `o` in `0..<outSize` whose input index `o * stride + offset` lies in
/// `0..<inSize` (`stride` > 0). Empty when none does; the bounds always lie in `0...outSize`, so
/// `0..<lowerBound`, the range and `upperBound..<outSize` split the output exactly.
@inlinable @inline(__always)
package func validOutputRange(outSize: Int, inSize: Int, stride: Int, offset: Int) -> Range<Int> {
    // lo = ceil(-offset / stride), hi = floor((inSize - 1 - offset) / stride) + 1, clamped.
    var lo = 0
    if offset < 0 { lo = (-offset + stride - 1) / stride }
    let top = inSize - 1 - offset
    var hi = top < 0 ? 0 : top / stride + 1
    if hi > outSize { hi = outSize }
    if lo > hi { lo = hi }
    return lo..<hi
}
