// Pooling for training, NCHW float32: MaxPool (forward records the arg-max, backward scatters
// to it), AveragePool (onnxruntime's divisors, as the reference executor: real cells only, or
// the full kernel area with count_include_pad), global average
// pooling. Pooling is a small share of training time in the zoo models, so these are plain
// loops over precomputed per-axis tap lists, not vectorized.

import SpruceCore

/// Window taps per output position along one spatial axis.
struct PoolTaps {
    /// Input indices inside the image, per output position.
    var inside: [[Int]]

    init(size: Int, out: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int) {
        inside = []
        for o in 0..<out {
            var taps: [Int] = []
            for k in 0..<kernel {
                let i = o * stride - padBegin + k * dilation
                if i >= 0 && i < size { taps.append(i) }
            }
            inside.append(taps)
        }
    }
}

/// Pooling kernels over whole batches.
enum PoolKernels {
    static func taps(_ g: Window) -> (PoolTaps, PoolTaps) {
        (PoolTaps(size: g.h, out: g.oh, kernel: g.kh, stride: g.sh, dilation: g.dh, padBegin: g.padTop),
         PoolTaps(size: g.w, out: g.ow, kernel: g.kw, stride: g.sw, dilation: g.dw, padBegin: g.padLeft))
    }

    /// Max over each window; `argmax` receives the in-plane index of the winner (−1 for an empty
    /// window). Planes are spread over `threads` cores.
    static func maxForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>,
                           _ g: Window, threads: Int = 1) {
        let (rows, cols) = taps(g)
        // Flatten the tap lists once so the hot loop touches no nested arrays.
        let rowStart = prefixStarts(rows.inside), colStart = prefixStarts(cols.inside)
        let rowTaps = rows.inside.flatMap { $0 }, colTaps = cols.inside.flatMap { $0 }
        rowTaps.withUnsafeBufferPointer { rt in
            colTaps.withUnsafeBufferPointer { ct in
                rowStart.withUnsafeBufferPointer { rs in
                    colStart.withUnsafeBufferPointer { cs in
                        parallelChunks(g.n * g.c, threads: threads, minimumPerChunk: 4) { planes in
                            for plane in planes {
                                let xp = x + plane * g.h * g.w
                                for oy in 0..<g.oh {
                                    let o = (plane * g.oh + oy) * g.ow
                                    for ox in 0..<g.ow {
                                        guard rs[oy] < rs[oy + 1], cs[ox] < cs[ox + 1] else {
                                            y[o + ox] = -Float.infinity
                                            argmax[o + ox] = -1
                                            continue
                                        }
                                        // The first tap seeds the winner; later ones replace it when
                                        // larger or NaN. Selects, not branches: comparisons of
                                        // activations are coin flips for the branch predictor.
                                        var at = rt[rs[oy]] * g.w + ct[cs[ox]]
                                        var best = xp[at]
                                        for r in rs[oy]..<rs[oy + 1] {
                                            let rowBase = rt[r] * g.w
                                            for q in cs[ox]..<cs[ox + 1] {
                                                let i = rowBase &+ ct[q]
                                                let v = xp[i]
                                                let better = v > best || v != v
                                                best = better ? v : best
                                                at = better ? i : at
                                            }
                                        }
                                        y[o + ox] = best
                                        argmax[o + ox] = Int32(truncatingIfNeeded: at)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Start offsets of each list in the concatenation of `lists` (count + 1 entries).
    static func prefixStarts(_ lists: [[Int]]) -> [Int] {
        var starts = [0]
        for l in lists { starts.append(starts[starts.count - 1] + l.count) }
        return starts
    }

    /// dx (overwritten) receives each output gradient at its window's arg-max.
    static func maxBackward(dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, dx: UnsafeMutablePointer<Float>,
                            _ g: Window, threads: Int = 1) {
        let p = g.oh * g.ow
        parallelChunks(g.n * g.c, threads: threads, minimumPerChunk: 4) { planes in
            for plane in planes {
                let d = dx + plane * g.h * g.w
                d.update(repeating: 0, count: g.h * g.w)
                for i in 0..<p where argmax[plane * p + i] >= 0 {
                    d[Int(argmax[plane * p + i])] += dy[plane * p + i]
                }
            }
        }
    }

    /// Reciprocal divisor of each output cell of an average pool.
    static func divisors(_ g: Window, countIncludePad: Bool) -> [Float] {
        let (rows, cols) = taps(g)
        var out: [Float] = []
        for oy in 0..<g.oh {
            for ox in 0..<g.ow {
                let n = countIncludePad ? g.kh * g.kw : rows.inside[oy].count * cols.inside[ox].count
                out.append(n > 0 ? 1 / Float(n) : 0)
            }
        }
        return out
    }

    static func averageForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, _ g: Window, countIncludePad: Bool) {
        let (rows, cols) = taps(g)
        let scale = divisors(g, countIncludePad: countIncludePad)
        for plane in 0..<(g.n * g.c) {
            let xp = x + plane * g.h * g.w
            for oy in 0..<g.oh {
                for ox in 0..<g.ow {
                    var sum: Float = 0
                    for iy in rows.inside[oy] {
                        for ix in cols.inside[ox] { sum += xp[iy * g.w + ix] }
                    }
                    y[(plane * g.oh + oy) * g.ow + ox] = sum * scale[oy * g.ow + ox]
                }
            }
        }
    }

    static func averageBackward(dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, _ g: Window, countIncludePad: Bool) {
        let (rows, cols) = taps(g)
        let scale = divisors(g, countIncludePad: countIncludePad)
        dx.update(repeating: 0, count: g.n * g.c * g.h * g.w)
        for plane in 0..<(g.n * g.c) {
            let d = dx + plane * g.h * g.w
            for oy in 0..<g.oh {
                for ox in 0..<g.ow {
                    let v = dy[(plane * g.oh + oy) * g.ow + ox] * scale[oy * g.ow + ox]
                    for iy in rows.inside[oy] {
                        for ix in cols.inside[ox] { d[iy * g.w + ix] += v }
                    }
                }
            }
        }
    }

    /// Mean of each of `planes` contiguous runs of `s` elements.
    static func globalAverageForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, planes: Int, s: Int) {
        for p in 0..<planes { y[p] = s > 0 ? BatchNormKernels.sum(x + p * s, s) / Float(s) : 0 }
    }

    static func globalAverageBackward(dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, planes: Int, s: Int) {
        for p in 0..<planes {
            let v = s > 0 ? dy[p] / Float(s) : 0
            (dx + p * s).update(repeating: v, count: s)
        }
    }
}
