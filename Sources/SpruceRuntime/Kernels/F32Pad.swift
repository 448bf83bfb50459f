// f32-pad-reflect / f32-pad-edge over one sample: every output element copies one input element
// (the mirror image, or the repeated edge, beyond the borders). At plan time each axis becomes a
// table of input offsets, one per output index, so the kernel does no mode arithmetic; the middle
// of every innermost row is one contiguous copy, and only its two borders are read through the
// table. Constant padding is PadStep's (fill, then copy rows), not this.
import SpruceCore

/// A reflect or edge pad as the kernel walks it (built from a `PadGeometry` at plan time).
public struct F32PadLayout: Sendable, Equatable {
    /// Output extents of the outer axes (all but the last).
    public var counts: [Int]
    /// The outer axes' tables one after the other: for each output index, the flat input offset of
    /// its slice along that axis.
    public var offsets: [Int]
    /// Where each outer axis' table starts in `offsets`.
    public var bases: [Int]
    /// Innermost axis: for each output index, the input index it copies.
    public var inner: [Int]
    /// Innermost axis: the output indices `copied` that read consecutive input elements from
    /// `inner[copied.lowerBound]` on (the part between the two borders).
    public var copied: Range<Int>

    /// The layout of `geometry`, whose sources must all be ≥ 0 (reflect or edge).
    public init(_ geometry: PadGeometry) {
        let rank = geometry.output.count
        let strides = geometry.input.rowMajorStrides
        counts = Array(geometry.output.dropLast())
        offsets = []
        bases = []
        for axis in 0..<max(rank - 1, 0) {
            bases.append(offsets.count)
            offsets += geometry.sources[axis].map { $0 * strides[axis] }
        }
        inner = rank > 0 ? geometry.sources[rank - 1] : [0]
        // The longest run of consecutive input indices; for a valid pad it is the whole unpadded middle.
        var best = 0..<0, start = 0
        for j in 0..<inner.count {
            if j > 0 && inner[j] != inner[j - 1] + 1 { start = j }
            if j + 1 - start > best.count { best = start..<(j + 1) }
        }
        copied = best
    }

    /// Elements written.
    public var count: Int { inner.count * counts.reduce(1, *) }
}

/// Writes the pad `layout` describes from `x` into `y` (dense, row-major). `y` must not overlap `x`.
public func f32Pad(_ layout: F32PadLayout, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    let width = layout.inner.count
    guard width > 0, !layout.counts.contains(0) else { return }
    let rows = layout.counts.reduce(1, *)
    let copied = layout.copied
    layout.counts.withUnsafeBufferPointer { counts in
        layout.offsets.withUnsafeBufferPointer { offsets in
            layout.bases.withUnsafeBufferPointer { bases in
                layout.inner.withUnsafeBufferPointer { inner in
                    withUnsafeTemporaryAllocation(of: Int.self, capacity: max(counts.count, 1)) { index in
                        for a in 0..<counts.count { index[a] = 0 }
                        var dst = y
                        for _ in 0..<rows {
                            var src = 0
                            for a in 0..<counts.count { src += offsets[bases[a] + index[a]] }
                            let row = x + src
                            for j in 0..<copied.lowerBound { dst[j] = row[inner[j]] }
                            if !copied.isEmpty {
                                (dst + copied.lowerBound).update(from: row + inner[copied.lowerBound], count: copied.count)
                            }
                            for j in copied.upperBound..<width { dst[j] = row[inner[j]] }
                            dst += width
                            var a = counts.count - 1
                            while a >= 0 {
                                index[a] += 1
                                if index[a] < counts[a] { break }
                                index[a] = 0
                                a -= 1
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Reference twin of `f32Pad`: every output element by its multi-index, each axis mapped back to
/// the input by the mode's rule (negative pads crop first). `pads` lists all begins, then all ends.
/// Reflect and edge only: for `constant` it writes nothing.
public func f32PadReference(mode: PadMode, input: [Int], pads: [Int], x: UnsafePointer<Float>,
                            y: UnsafeMutablePointer<Float>) {
    guard mode != .constant else { return }
    let rank = input.count
    let output = (0..<rank).map { input[$0] + pads[$0] + pads[$0 + rank] }
    let inStrides = input.rowMajorStrides
    let total = output.reduce(1, *)
    for i in 0..<total {
        var rest = i, src = 0
        for axis in stride(from: rank - 1, through: 0, by: -1) {
            let o = rest % output[axis]
            rest /= output[axis]
            let cropBegin = max(0, -pads[axis]), cropEnd = max(0, -pads[axis + rank])
            let length = input[axis] - cropBegin - cropEnd
            var j = o - max(0, pads[axis])
            switch mode {
            case .reflect:
                if j < 0 { j = -j }
                if j >= length { j = 2 * (length - 1) - j }
            case .edge, .constant:
                j = max(0, min(j, length - 1))
            }
            src += (cropBegin + j) * inStrides[axis]
        }
        y[i] = x[src]
    }
}
