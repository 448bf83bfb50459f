// f32-slice: the strided crop of ONNX Slice, and of each Split output, over one sample.
// At plan time the crop becomes runs: axes of extent 1 drop out and axes that are contiguous in
// the input merge, so a channel slice of NCHW with step 1 (ShuffleNet's halves) is one memcpy.
// Leading axes are walked with an odometer. Not a gather and not a pad: every read is in bounds.
import SpruceCore

/// A crop as the kernel walks it: for every index of the outer axes (odometer, outermost first),
/// one run of `run` elements read `step` apart starting at `start + Σ index[a]·strides[a]`,
/// written densely one after the other.
public struct F32SliceLayout: Sendable, Equatable {
    /// Extents of the outer axes.
    public var counts: [Int]
    /// Input strides of the outer axes (in elements; negative when the crop walks backwards).
    public var strides: [Int]
    /// Elements per run (0: nothing to copy).
    public var run: Int
    /// Input distance between neighbours in a run.
    public var step: Int
    /// Input offset of the first element.
    public var start: Int

    /// The layout of `geometry`, with trivial axes dropped and contiguous ones merged.
    public init(_ geometry: SliceGeometry) {
        start = geometry.inputOffset
        guard !geometry.output.contains(0) else {
            (counts, strides, run, step) = ([], [], 0, 1)
            return
        }
        var axes: [(count: Int, stride: Int)] = []
        for (count, stride) in zip(geometry.output, geometry.inputStrides) where count != 1 {
            if let outer = axes.last, outer.stride == stride * count {
                axes[axes.count - 1] = (outer.count * count, stride)
            } else {
                axes.append((count, stride))
            }
        }
        run = axes.last?.count ?? 1
        step = axes.last?.stride ?? 1
        counts = axes.dropLast().map(\.count)
        strides = axes.dropLast().map(\.stride)
    }

    /// Elements written.
    public var count: Int { run * counts.reduce(1, *) }
}

/// Copies the crop `layout` describes from `x` into `y` (dense, row-major). `y` must not overlap `x`.
public func f32Slice(_ layout: F32SliceLayout, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    let run = layout.run, step = layout.step
    guard run > 0 else { return }
    let rows = layout.counts.reduce(1, *)
    layout.counts.withUnsafeBufferPointer { counts in
        layout.strides.withUnsafeBufferPointer { strides in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: max(counts.count, 1)) { index in
                for a in 0..<counts.count { index[a] = 0 }
                var src = layout.start
                var dst = y
                for _ in 0..<rows {
                    if step == 1 {
                        dst.update(from: x + src, count: run)
                    } else {
                        let s = x + src
                        for j in 0..<run { dst[j] = s[j * step] }
                    }
                    dst += run
                    var a = counts.count - 1
                    while a >= 0 {
                        index[a] += 1
                        src += strides[a]
                        if index[a] < counts[a] { break }
                        src -= strides[a] * counts[a]
                        index[a] = 0
                        a -= 1
                    }
                }
            }
        }
    }
}

/// Reference twin of `f32Slice`: every output element by its multi-index, read at
/// first + index · step on each axis of the input.
public func f32SliceReference(_ geometry: SliceGeometry, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
    let output = geometry.output, inStrides = geometry.input.rowMajorStrides
    let total = output.reduce(1, *)
    for i in 0..<total {
        var rest = i, src = 0
        for axis in stride(from: output.count - 1, through: 0, by: -1) {
            let index = rest % output[axis]
            rest /= output[axis]
            src += (geometry.first[axis] + index * geometry.steps[axis]) * inStrides[axis]
        }
        y[i] = x[src]
    }
}
