// Zero-padded, stride-decomposed copy of a convolution input ("phase planes"): the padded input
// split into strideH·strideW sub-sampled planes of Hq×Wq. In it, every kernel tap (ky, kx) of a
// strided, dilated, padded convolution reads one contiguous run of OH·Wq floats, so the direct
// kernels (f32-dwconv, f32-spconv-*) need no bounds checks in their inner loops. Columns
// OW..<Wq of that "wide" output are garbage and dropped on compaction. Not a kernel itself.

import SpruceCore
import _SpruceSupport

/// Sizes and offsets of the phase planes of one convolution.
struct PhaseLayout {
    /// Rows of one phase plane: ceil((H + padTop + padBottom) / strideH).
    let height: Int
    /// Columns of one phase plane, which is also the row pitch of the wide output.
    let width: Int
    /// Floats per input channel: strideH · strideW phase planes.
    let channelStride: Int
    /// Floats past the last plane a wide read may touch (kept zero).
    let slack: Int
    /// The input can be read in place (1×1, stride 1, no padding).
    let inPlace: Bool
    private let strideH: Int, strideW: Int, dilationH: Int, dilationW: Int

    init(_ g: ConvGeometry) {
        strideH = g.strideHeight
        strideW = g.strideWidth
        dilationH = g.dilationHeight
        dilationW = g.dilationWidth
        height = (g.inHeight + g.padTop + g.padBottom + strideH - 1) / strideH
        width = (g.inWidth + g.padLeft + g.padRight + strideW - 1) / strideW
        let planes = strideH * strideW * height * width
        // Channels a multiple of 2 KiB apart (a 32×32 or 64×64 map read in place) put the runs of
        // successive channels in the same few L1 sets, and the sparse kernels read many channels at
        // once: such inputs are copied with one spare cache line per channel.
        channelStride = planes % 512 == 0 ? planes + 16 : planes
        slack = width + (g.kernelWidth * g.dilationWidth) / strideW + 16
        inPlace = g.isPointwise && channelStride == planes
    }

    /// Floats of the wide output: OH rows of `width`.
    func wideLength(_ g: ConvGeometry) -> Int { g.outHeight * width }

    /// Floats of the phase buffer for `channels` channels (0 when read in place).
    func bufferCount(channels: Int) -> Int { inPlace ? 0 : channels * channelStride + slack }

    /// Offset, within one channel's phase block, of the first float tap (ky, kx) reads.
    func tapOffset(ky: Int, kx: Int) -> Int {
        let a = ky * dilationH, b = kx * dilationW
        let phase = (a % strideH) * strideW + (b % strideW)
        return phase * height * width + (a / strideH) * width + b / strideW
    }
}

/// Writes the phase planes of `channels` input planes (starting at `input`) into `planes`, then
/// the zeroed slack unless `zeroSlack` is false (a thread building channels another thread continues).
func buildPhasePlanes(_ g: ConvGeometry, _ layout: PhaseLayout, channels: Int,
                      input: UnsafePointer<Float>, planes: UnsafeMutablePointer<Float>, zeroSlack: Bool = true) {
    let sh = g.strideHeight, sw = g.strideWidth
    let hq = layout.height, wq = layout.width
    var dst = planes
    for c in 0..<channels {
        let plane = input + c * g.inPlane
        for py in 0..<sh {
            let rows = validOutputRange(outSize: hq, inSize: g.inHeight, stride: sh, offset: py - g.padTop)
            for px in 0..<sw {
                let colOffset = px - g.padLeft
                let cols = validOutputRange(outSize: wq, inSize: g.inWidth, stride: sw, offset: colOffset)
                for i in 0..<hq {
                    let out = dst + i * wq
                    guard rows.contains(i) else {
                        for j in 0..<wq { out[j] = 0 }
                        continue
                    }
                    let src = plane + (i * sh + py - g.padTop) * g.inWidth
                    for j in 0..<cols.lowerBound { out[j] = 0 }
                    if sw == 1 {
                        let s = src + colOffset
                        for j in cols { out[j] = s[j] }
                    } else if sw == 2 {
                        // Every other float: eight at a time from a 16-float load that stays in the row.
                        var j = cols.lowerBound
                        while j + 8 <= cols.upperBound && 2 * j + colOffset + 16 <= g.inWidth {
                            let v = UnsafeRawPointer(src + 2 * j + colOffset).loadUnaligned(as: SIMD16<Float>.self)
                            store8(v.evenHalf, out + j)
                            j += 8
                        }
                        while j < cols.upperBound {
                            out[j] = src[2 * j + colOffset]
                            j += 1
                        }
                    } else {
                        for j in cols { out[j] = src[j * sw + colOffset] }
                    }
                    for j in cols.upperBound..<wq { out[j] = 0 }
                }
                dst += hq * wq
            }
        }
        let spare = layout.channelStride - sh * sw * hq * wq
        for i in 0..<spare { dst[i] = 0 }
        dst += spare
    }
    if zeroSlack { for i in 0..<layout.slack { dst[i] = 0 } }
}

/// Copies `rows` rows of `width` floats, row r from `source + r · sourcePitch` to
/// `destination + r · destinationPitch`: a wide output compacted into a dense plane, or dense rows
/// spread into the interior of a zero-bordered plane.
@inline(__always)
func copyRows(_ source: UnsafePointer<Float>, pitch sourcePitch: Int, rows: Int, width: Int,
              into destination: UnsafeMutablePointer<Float>, pitch destinationPitch: Int) {
    for r in 0..<rows {
        let s = source + r * sourcePitch, d = destination + r * destinationPitch
        for j in 0..<width { d[j] = s[j] }
    }
}

/// Rounds a byte count up to a 64-byte boundary, so workspace regions stay cache-line aligned.
@inline(__always)
func alignedBytes(_ bytes: Int) -> Int { roundUp(bytes, 64) }
