// f32-conv-dense: general 2-D convolution (groups, strides, pads, dilations) from dense weights,
// as im2col + f32-gemm per group (1×1 stride-1 unpadded convolutions skip im2col; most others
// skip the matrix too, the GEMM packing B straight from phase planes), with bias and activation
// fused into the GEMM epilogue. Weights are packed once by the plan.
// Not for depthwise convolutions (see f32-dwconv) nor for sparse weights (f32-spconv-*).

import SpruceCore
import _SpruceSupport

/// Floats of packed weights `f32ConvDensePackWeights` writes for `g`.
public func f32ConvDensePackedWeightsCount(_ g: ConvGeometry) -> Int {
    g.groups * f32GemmPackedACount(m: g.outChannelsPerGroup, k: g.reduction)
}

/// Packs weights [M, C/groups, kH, kW] into one GEMM A panel set per group.
public func f32ConvDensePackWeights(_ g: ConvGeometry, weights: UnsafePointer<Float>,
                                    packed: UnsafeMutablePointer<Float>) {
    let mg = g.outChannelsPerGroup, k = g.reduction
    let perGroup = f32GemmPackedACount(m: mg, k: k)
    for grp in 0..<g.groups {
        f32GemmPackA(m: mg, k: k, a: weights + grp * mg * k, lda: k, packed: packed + grp * perGroup)
    }
}

/// Workspace bytes `f32ConvDense` needs: the im2col matrix of one group plus the GEMM's B packing,
/// or the implicit im2col's regions.
public func f32ConvDenseWorkspaceBytes(_ g: ConvGeometry) -> Int {
    if denseImplicit(g) {
        let r = implicitRegions(g)
        return r.planes + r.offsets + r.wide + r.gemm
    }
    let planes = denseGathers(g) ? alignedBytes(PhaseLayout(g).bufferCount(channels: g.inChannelsPerGroup) * 4) : 0
    return im2ColBytes(g) + alignedBytes(f32GemmWorkspaceBytes(k: g.reduction)) + planes
}

/// Whether `f32ConvDense` builds its im2col matrix from phase planes with whole-vector row copies
/// (output rows of 4, 8 or 16: ResNet's 4×4 and 8×8 maps), where `f32Im2Col`'s per-row range
/// checks and edge loops cost more than the copy.
func denseGathers(_ g: ConvGeometry) -> Bool {
    !g.isPointwise && (g.outWidth == 4 || g.outWidth == 8 || g.outWidth == 16)
}

/// Bytes of the im2col region, padded off a 4 KiB multiple so the GEMM's packing buffer does not
/// sit at the same 4 KiB offset as the matrix rows it copies (a precaution against 4K aliasing;
/// its effect was not confirmed by measurement).
func im2ColBytes(_ g: ConvGeometry) -> Int {
    g.isPointwise ? 0 : roundUp(g.reduction * g.outPlane * MemoryLayout<Float>.stride, 4096) + 320
}

/// Writes the im2col matrix [C·kH·kW × OH·OW] of `channels` input planes starting at `input`.
public func f32Im2Col(_ g: ConvGeometry, channels: Int, input: UnsafePointer<Float>,
                      columns: UnsafeMutablePointer<Float>) {
    f32Im2Col(g, channels: channels, input: input, columns: columns, outputRows: 0..<g.outHeight)
}

/// Writes the im2col matrix [C·kH·kW × rows·OW] of output rows `outputRows` only.
public func f32Im2Col(_ g: ConvGeometry, channels: Int, input: UnsafePointer<Float>,
                      columns: UnsafeMutablePointer<Float>, outputRows: Range<Int>) {
    let ow = g.outWidth, first = outputRows.lowerBound
    let oh = outputRows.count
    var dst = columns
    for c in 0..<channels {
        let plane = input + c * g.inPlane
        for ky in 0..<g.kernelHeight {
            let rowOffset = ky * g.dilationHeight - g.padTop
            let rowsValid = validOutputRange(outSize: g.outHeight, inSize: g.inHeight, stride: g.strideHeight, offset: rowOffset)
            for kx in 0..<g.kernelWidth {
                let colOffset = kx * g.dilationWidth - g.padLeft
                let cols = validOutputRange(outSize: ow, inSize: g.inWidth, stride: g.strideWidth, offset: colOffset)
                for r in 0..<oh {
                    let oy = first + r
                    let out = dst + r * ow
                    guard rowsValid.contains(oy) else {
                        for ox in 0..<ow { out[ox] = 0 }
                        continue
                    }
                    let src = plane + (oy * g.strideHeight + rowOffset) * g.inWidth
                    for ox in 0..<cols.lowerBound { out[ox] = 0 }
                    if g.strideWidth == 1 {
                        let s = src + colOffset
                        for ox in cols { out[ox] = s[ox] }
                    } else if g.strideWidth == 2 {
                        // Every other float, eight at a time from a 16-float load that stays in the row
                        // (ResNet's 7×7 stride-2 stem spends most of its im2col here).
                        var ox = cols.lowerBound
                        while ox + 8 <= cols.upperBound && 2 * ox + colOffset + 16 <= g.inWidth {
                            store8(UnsafeRawPointer(src + 2 * ox + colOffset).loadUnaligned(as: SIMD16<Float>.self).evenHalf,
                                   out + ox)
                            ox += 8
                        }
                        while ox < cols.upperBound {
                            out[ox] = src[2 * ox + colOffset]
                            ox += 1
                        }
                    } else {
                        for ox in cols { out[ox] = src[ox * g.strideWidth + colOffset] }
                    }
                    for ox in cols.upperBound..<ow { out[ox] = 0 }
                }
                dst += oh * ow
            }
        }
    }
}

/// Output channels in `outputChannels` of a dense convolution: clamp(conv(input, W) + bias).
/// `packedWeights` comes from `f32ConvDensePackWeights`; `bias` has M entries or is nil.
public func f32ConvDense(_ g: ConvGeometry, input: UnsafePointer<Float>, packedWeights: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                         output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>,
                         workspace: UnsafeMutableRawPointer) {
    let mg = g.outChannelsPerGroup, cg = g.inChannelsPerGroup, k = g.reduction, n = g.outPlane
    let perGroup = f32GemmPackedACount(m: mg, k: k)
    let columnsBytes = im2ColBytes(g)
    let range = outputChannels.clamped(to: 0..<g.outChannels)
    guard !range.isEmpty else { return }
    if denseImplicit(g) {
        f32ConvDenseImplicit(g, input: input, packedWeights: packedWeights, bias: bias, bounds: bounds, output: output,
                             outputChannels: range, outputRows: 0..<g.outHeight, workspace: workspace)
        return
    }
    for grp in (range.lowerBound / mg)...((range.upperBound - 1) / mg) {
        let lo = max(range.lowerBound, grp * mg) - grp * mg
        let hi = min(range.upperBound, (grp + 1) * mg) - grp * mg
        let x = input + grp * cg * g.inPlane
        let bMatrix: UnsafePointer<Float>
        if g.isPointwise {
            bMatrix = x
        } else if denseGathers(g) {
            let columns = workspace.bindMemory(to: Float.self, capacity: k * n)
            let layout = PhaseLayout(g)
            let planes = (workspace + columnsBytes + alignedBytes(f32GemmWorkspaceBytes(k: k)))
                .bindMemory(to: Float.self, capacity: max(1, layout.bufferCount(channels: cg)))
            buildPhasePlanes(g, layout, channels: cg, input: x, planes: planes)
            for c in 0..<cg {
                for ky in 0..<g.kernelHeight {
                    for kx in 0..<g.kernelWidth {
                        gatherRows(planes + c * layout.channelStride + layout.tapOffset(ky: ky, kx: kx), pitch: layout.width,
                                   rows: g.outHeight, width: g.outWidth,
                                   into: columns + ((c * g.kernelHeight + ky) * g.kernelWidth + kx) * n)
                    }
                }
            }
            bMatrix = UnsafePointer(columns)
        } else {
            let columns = workspace.bindMemory(to: Float.self, capacity: k * n)
            f32Im2Col(g, channels: cg, input: x, columns: columns)
            bMatrix = UnsafePointer(columns)
        }
        f32Gemm(m: mg, n: n, k: k, packedA: packedWeights + grp * perGroup, b: bMatrix, ldb: n,
                c: output + grp * mg * n, ldc: n, bias: bias.map { $0 + grp * mg }, bounds: bounds,
                rows: lo..<hi, workspace: workspace + columnsBytes)
    }
}

/// Output rows `outputRows` (all channels) of a dense convolution with one group: im2col of those
/// rows only, then one GEMM, so threads splitting a layer by rows share no im2col work.
public func f32ConvDenseRows(_ g: ConvGeometry, input: UnsafePointer<Float>, packedWeights: UnsafePointer<Float>,
                             bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                             output: UnsafeMutablePointer<Float>, outputRows: Range<Int>,
                             workspace: UnsafeMutableRawPointer) {
    let rows = outputRows.clamped(to: 0..<g.outHeight)
    guard !rows.isEmpty else { return }
    guard g.groups == 1, !g.isPointwise else {
        if rows == 0..<g.outHeight {
            f32ConvDense(g, input: input, packedWeights: packedWeights, bias: bias, bounds: bounds, output: output,
                         outputChannels: 0..<g.outChannels, workspace: workspace)
        }
        return
    }
    if denseImplicit(g) {
        f32ConvDenseImplicit(g, input: input, packedWeights: packedWeights, bias: bias, bounds: bounds, output: output,
                             outputChannels: 0..<g.outChannels, outputRows: rows, workspace: workspace)
        return
    }
    let k = g.reduction, n = rows.count * g.outWidth
    let columns = workspace.bindMemory(to: Float.self, capacity: k * n)
    f32Im2Col(g, channels: g.inChannels, input: input, columns: columns, outputRows: rows)
    f32Gemm(m: g.outChannels, n: n, k: k, packedA: packedWeights, b: columns, ldb: n,
            c: output + rows.lowerBound * g.outWidth, ldc: g.outPlane, bias: bias, bounds: bounds,
            rows: 0..<g.outChannels, workspace: workspace + im2ColBytes(g))
}

/// Whether `f32ConvDense` multiplies straight from phase planes (an implicit im2col) rather than
/// building the im2col matrix: every convolution but a pointwise one whose wide rows (the phase
/// plane's width) waste at most a quarter of the columns computed (not 7×7 maps, whose 9-wide
/// rows would waste 29 %), with a reduction of at least 64. The matrix is K = C·kH·kW times
/// larger than the input and is written and read back from beyond L2; the phase planes are about
/// the input's size, and the GEMM packs its B blocks from them directly. With a short reduction
/// (a 3×3 stem over RGB, K = 27) the matrix is small and the planes and the wide output's
/// compaction cost more than they save (MobileNet v2's stem at 224²: 0.70 → 0.87 ms in one paired run).
func denseImplicit(_ g: ConvGeometry) -> Bool {
    !g.isPointwise && g.reduction >= 64 && 4 * PhaseLayout(g).width <= 5 * g.outWidth
}

/// Workspace regions of `f32ConvDenseImplicit`, in bytes: phase planes of one group, the row
/// offsets of B, the wide output of one group, then the GEMM's.
private func implicitRegions(_ g: ConvGeometry) -> (planes: Int, offsets: Int, wide: Int, gemm: Int) {
    let layout = PhaseLayout(g)
    return (alignedBytes(layout.bufferCount(channels: g.inChannelsPerGroup) * 4), alignedBytes(g.reduction * 8),
            alignedBytes(g.outChannelsPerGroup * g.outHeight * layout.width * 4), alignedBytes(f32GemmWorkspaceBytes(k: g.reduction)))
}

/// `outputChannels` × `outputRows` of a dense convolution through an implicit im2col: per group,
/// the phase planes, then one GEMM whose B row (c, ky, kx) is the plane run tap (ky, kx) of
/// channel c reads, into a wide output (rows of the plane's width) compacted into `output`.
func f32ConvDenseImplicit(_ g: ConvGeometry, input: UnsafePointer<Float>, packedWeights: UnsafePointer<Float>,
                          bias: UnsafePointer<Float>?, bounds: ActivationBounds, output: UnsafeMutablePointer<Float>,
                          outputChannels: Range<Int>, outputRows: Range<Int>, workspace: UnsafeMutableRawPointer) {
    let layout = PhaseLayout(g)
    let mg = g.outChannelsPerGroup, cg = g.inChannelsPerGroup, k = g.reduction
    let regions = implicitRegions(g)
    let planes = workspace.bindMemory(to: Float.self, capacity: max(1, layout.bufferCount(channels: cg)))
    let offsets = (workspace + regions.planes).bindMemory(to: Int.self, capacity: k)
    let wide = (workspace + regions.planes + regions.offsets).bindMemory(to: Float.self, capacity: mg * g.outHeight * layout.width)
    let gemmWorkspace = workspace + regions.planes + regions.offsets + regions.wide
    var row = 0
    for c in 0..<cg {
        for ky in 0..<g.kernelHeight {
            for kx in 0..<g.kernelWidth {
                offsets[row] = c * layout.channelStride + layout.tapOffset(ky: ky, kx: kx)
                row += 1
            }
        }
    }
    let channels = outputChannels.clamped(to: 0..<g.outChannels)
    guard !channels.isEmpty, !outputRows.isEmpty else { return }
    let n = outputRows.count * layout.width
    for grp in (channels.lowerBound / mg)...((channels.upperBound - 1) / mg) {
        let lo = max(channels.lowerBound, grp * mg) - grp * mg
        let hi = min(channels.upperBound, (grp + 1) * mg) - grp * mg
        buildPhasePlanes(g, layout, channels: cg, input: input + grp * cg * g.inPlane, planes: planes)
        f32Gemm(m: mg, n: n, k: k, packedA: packedWeights + grp * f32GemmPackedACount(m: mg, k: k),
                b: planes + outputRows.lowerBound * layout.width, ldb: 0, bRowOffsets: offsets,
                c: wide, ldc: n, bias: bias.map { $0 + grp * mg }, bounds: bounds, rows: lo..<hi, workspace: gemmWorkspace)
        for m in lo..<hi {
            copyRows(wide + m * n, pitch: layout.width, rows: outputRows.count, width: g.outWidth,
                     into: output + (grp * mg + m) * g.outPlane + outputRows.lowerBound * g.outWidth, pitch: g.outWidth)
        }
    }
}

/// Reference twin of `f32ConvDense`: the ONNX Conv definition as plain loops over unpacked
/// weights [M, C/groups, kH, kW].
public func f32ConvDenseReference(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                                  bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                                  output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>) {
    let mg = g.outChannelsPerGroup, cg = g.inChannelsPerGroup
    for m in outputChannels.clamped(to: 0..<g.outChannels) {
        let grp = m / mg
        for oy in 0..<g.outHeight {
            for ox in 0..<g.outWidth {
                var sum: Float = bias?[m] ?? 0
                for c in 0..<cg {
                    for ky in 0..<g.kernelHeight {
                        let iy = oy * g.strideHeight - g.padTop + ky * g.dilationHeight
                        if iy < 0 || iy >= g.inHeight { continue }
                        for kx in 0..<g.kernelWidth {
                            let ix = ox * g.strideWidth - g.padLeft + kx * g.dilationWidth
                            if ix < 0 || ix >= g.inWidth { continue }
                            let w = weights[((m * cg + c) * g.kernelHeight + ky) * g.kernelWidth + kx]
                            sum += w * input[((grp * cg + c) * g.inHeight + iy) * g.inWidth + ix]
                        }
                    }
                }
                output[(m * g.outHeight + oy) * g.outWidth + ox] = bounds.apply(sum)
            }
        }
    }
}
