// f32-dwconv: depthwise convolution (groups == input channels, M = multiplier · C) from dense
// weights [M, 1, kH, kW], bias and activation fused. Fast paths: zero-bordered planes for 3×3
// and 5×5 at stride 1 and 2, eight channels per vector on outputs narrower than eight; then 3×3
// (any stride, pad, dilation) with the nine taps unrolled; general fallback: any kernel, taps in
// a loop. The last two read the channel's phase planes (PhasePlanes.swift) so inner loops are
// contiguous and check no bounds.
// Not for grouped convolutions with more than one input channel per group (see f32-conv-dense).

import _SpruceSupport

/// Workspace bytes `f32DWConv` needs: one channel's phase planes, the tap table, one wide plane.
public func f32DWConvWorkspaceBytes(_ g: ConvGeometry) -> Int {
    let layout = PhaseLayout(g)
    return alignedBytes(planeFloats(g, layout) * 4) + alignedBytes(g.kernelArea * MemoryLayout<Int>.stride)
        + alignedBytes(layout.wideLength(g) * 4)
}

/// Floats of the plane buffer: one channel's phase planes, its zero-bordered plane with one spare
/// column per row (the padded paths' row pitch), or the eight-channel plane, tap weights and
/// output pixels of `dwconvChannelLanes`, whichever is largest.
private func planeFloats(_ g: ConvGeometry, _ layout: PhaseLayout) -> Int {
    let bordered = (g.inHeight + g.padTop + g.padBottom) * (g.inWidth + g.padLeft + g.padRight + 1)
    let lanes = usesChannelLanes(g) ? 8 * (bordered + g.kernelArea + g.outPlane) : 0
    return max(1, layout.bufferCount(channels: 1), bordered, lanes)
}

/// Whether `f32DWConv` computes eight channels per vector (`dwconvChannelLanes`): outputs narrower
/// than eight, where a row fills no vector, and one output channel per input channel.
private func usesChannelLanes(_ g: ConvGeometry) -> Bool {
    g.outWidth < 8 && g.outChannels == g.inChannels
}

/// Output channels in `outputChannels` of a depthwise convolution: clamp(dwconv(input, W) + bias).
/// Requires `g.groups == g.inChannels`; output channel m reads input channel m / (M / C).
public func f32DWConv(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                      bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                      output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>,
                      workspace: UnsafeMutableRawPointer) {
    let range = outputChannels.clamped(to: 0..<g.outChannels)
    guard !range.isEmpty, g.groups == g.inChannels else { return }
    let layout = PhaseLayout(g)
    let multiplier = g.outChannels / g.inChannels
    let area = g.kernelArea
    let wideLength = layout.wideLength(g)
    var cursor = workspace
    let planes = cursor.bindMemory(to: Float.self, capacity: planeFloats(g, layout))
    cursor += alignedBytes(planeFloats(g, layout) * 4)
    let taps = cursor.bindMemory(to: Int.self, capacity: area)
    cursor += alignedBytes(area * MemoryLayout<Int>.stride)
    let wide = cursor.bindMemory(to: Float.self, capacity: max(1, wideLength))
    for ky in 0..<g.kernelHeight {
        for kx in 0..<g.kernelWidth { taps[ky * g.kernelWidth + kx] = layout.tapOffset(ky: ky, kx: kx) }
    }
    // The in-place 3×3 kernel pays a row's edge columns and setup per output row; on the 4×4–64×64
    // maps of MobileNet v2 the phase-plane copy plus whole-vector wide rows measured about twice
    // as fast, so the in-place kernel only takes rows wide enough to amortize that (≥ 128).
    if g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideHeight == 1 && g.strideWidth == 1
        && g.dilationHeight == 1 && g.dilationWidth == 1 && g.padLeft <= 1 && g.padRight <= 1 && g.outWidth >= 128 {
        for m in range {
            dwconv3x3s1Direct(g, plane: input + (m / multiplier) * g.inPlane, weights: weights + m * 9,
                              bias: bias?[m] ?? 0, bounds: bounds, out: output + m * g.outPlane)
        }
        return
    }
    // k×k (3 or 5), stride 1, "same" padding of (k − 1) / 2 all round, rows of 4 (3×3) or ≥ 8.
    let k = g.kernelHeight, p = (k - 1) / 2
    if (k == 3 || k == 5) && g.kernelWidth == k && g.strideHeight == 1 && g.strideWidth == 1
        && g.dilationHeight == 1 && g.dilationWidth == 1 && g.padTop == p && g.padLeft == p && g.padBottom == p
        && g.padRight == p && (g.outWidth >= 8 || (k == 3 && g.outWidth == 4)) {
        dwconvS1Padded(g, input: input, weights: weights, bias: bias, bounds: bounds, output: output,
                       outputChannels: range, padded: planes)
        return
    }
    // k×k (3 or 5), stride 2, any padding, rows of 4 (3×3) or ≥ 8.
    if (k == 3 || k == 5) && g.kernelWidth == k && g.strideHeight == 2 && g.strideWidth == 2
        && g.dilationHeight == 1 && g.dilationWidth == 1 && (g.outWidth >= 8 || (k == 3 && g.outWidth == 4)) {
        dwconvS2Padded(g, input: input, weights: weights, bias: bias, bounds: bounds, output: output,
                       outputChannels: range, padded: planes)
        return
    }
    if usesChannelLanes(g) {
        dwconvChannelLanes(g, input: input, weights: weights, bias: bias, bounds: bounds, output: output,
                           outputChannels: range, buffer: planes)
        return
    }
    let direct = layout.width == g.outWidth
    var builtChannel = -1
    var base = UnsafePointer(planes)
    for m in range {
        let c = m / multiplier
        if c != builtChannel {
            if layout.inPlace {
                base = input + c * g.inPlane
            } else {
                buildPhasePlanes(g, layout, channels: 1, input: input + c * g.inPlane, planes: planes)
            }
            builtChannel = c
        }
        let dst = direct ? output + m * g.outPlane : wide
        let b = bias?[m] ?? 0
        if g.kernelHeight == 3 && g.kernelWidth == 3 {
            dwconvWide3x3Tile(base: base, taps: taps, weights: weights + m * 9, length: wideLength, dst: dst, bias: b,
                              bounds: bounds)
        } else {
            dwconvWideGeneral(base: base, taps: taps, area: area, weights: weights + m * area, length: wideLength,
                              dst: dst, bias: b, bounds: bounds)
        }
        if !direct {
            copyRows(wide, pitch: layout.width, rows: g.outHeight, width: g.outWidth, into: output + m * g.outPlane, pitch: g.outWidth)
        }
    }
}

/// Any kernel, stride, dilation and padding on outputs narrower than eight (the 7×7 maps of
/// MobileNets and EfficientNet at 224², not the 4-wide rows the padded 3×3 paths take), eight
/// channels per vector: each block of eight channels is interleaved into one zero-bordered plane
/// of 8-float pixels (the border is zeroed once per call), its weights into one vector per tap,
/// and every output pixel is one vector of k² fused multiply-adds (four pixels of a row at a
/// time), kept as a pixel of eight lanes and copied out channel by channel. Rows narrower than a
/// vector cost the per-channel paths a setup and edge loops per row (a 1152-channel 5×5 layer on
/// a 7×7 map ran 2× faster this way). A last block of fewer channels has zero weights in its
/// spare lanes, which are never copied out.
func dwconvChannelLanes(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, bounds: ActivationBounds, output: UnsafeMutablePointer<Float>,
                        outputChannels range: Range<Int>, buffer: UnsafeMutablePointer<Float>) {
    let hp = g.inHeight + g.padTop + g.padBottom, wp = g.inWidth + g.padLeft + g.padRight
    let area = g.kernelArea, kw = g.kernelWidth
    let plane = buffer, taps = buffer + 8 * hp * wp, pixels = taps + 8 * area
    for i in 0..<(8 * hp * wp) { plane[i] = 0 }
    let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
    let rowStep = 8 * g.dilationHeight * wp, columnStep = 8 * g.dilationWidth
    var c0 = range.lowerBound
    while c0 < range.upperBound {
        let lanes = min(8, range.upperBound - c0)
        var biasVector = SIMD8<Float>.zero
        for lane in 0..<8 {
            guard lane < lanes else {
                for t in 0..<area { taps[8 * t + lane] = 0 }
                continue
            }
            let c = c0 + lane
            let src = input + c * g.inPlane
            for y in 0..<g.inHeight {
                let dst = plane + 8 * ((y + g.padTop) * wp + g.padLeft) + lane
                for x in 0..<g.inWidth { dst[8 * x] = src[y * g.inWidth + x] }
            }
            for t in 0..<area { taps[8 * t + lane] = weights[c * area + t] }
            biasVector[lane] = bias?[c] ?? 0
        }
        func store(_ v: SIMD8<Float>, _ at: Int) { store8(clamp8(v, lo, hi), pixels + 8 * at) }
        let pixelStep = 8 * g.strideWidth
        for oy in 0..<g.outHeight {
            // Four neighbouring outputs at a time (four independent chains sharing each weight
            // load), the last four moved back to end at the row's end; rows under four one by one.
            var ox = 0
            while ox < g.outWidth {
                let quad = g.outWidth >= 4
                let x = quad ? min(ox, g.outWidth - 4) : ox
                var a0 = biasVector, a1 = biasVector, a2 = biasVector, a3 = biasVector
                var row = plane + 8 * (oy * g.strideHeight * wp + x * g.strideWidth)
                var tap = UnsafePointer(taps)
                for _ in 0..<g.kernelHeight {
                    var p = row
                    for _ in 0..<kw {
                        let w = load8(tap)
                        a0 = multiplyAdd(a0, w, load8(p))
                        if quad {
                            a1 = multiplyAdd(a1, w, load8(p + pixelStep))
                            a2 = multiplyAdd(a2, w, load8(p + 2 * pixelStep))
                            a3 = multiplyAdd(a3, w, load8(p + 3 * pixelStep))
                        }
                        p += columnStep
                        tap += 8
                    }
                    row += rowStep
                }
                let at = oy * g.outWidth + x
                store(a0, at)
                if quad {
                    store(a1, at + 1)
                    store(a2, at + 2)
                    store(a3, at + 3)
                }
                ox = x + (quad ? 4 : 1)
            }
        }
        for lane in 0..<lanes {
            let dst = output + (c0 + lane) * g.outPlane
            for at in 0..<g.outPlane { dst[at] = pixels[8 * at + lane] }
        }
        c0 += 8
    }
}

/// 3×3, stride 1, left/right pads ≤ 1, one channel straight from its input plane: per output row
/// the up to three valid input rows, eight outputs at a time in the interior columns (the last
/// block moved back to end at the interior's end), the one or two edge columns scalar.
private func dwconv3x3s1Direct(_ g: ConvGeometry, plane: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                               bias: Float, bounds: ActivationBounds, out: UnsafeMutablePointer<Float>) {
    let w = g.inWidth, ow = g.outWidth
    let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
    let vb = SIMD8<Float>(repeating: bias)
    // Outputs whose three taps all lie inside the row: ox - padLeft >= 0 and ox - padLeft + 2 < w.
    let first = g.padLeft, last = min(ow, w - 2 + g.padLeft)  // interior = first..<last
    let w0 = SIMD8<Float>(repeating: weights[0]), w1 = SIMD8<Float>(repeating: weights[1])
    let w2 = SIMD8<Float>(repeating: weights[2]), w3 = SIMD8<Float>(repeating: weights[3])
    let w4 = SIMD8<Float>(repeating: weights[4]), w5 = SIMD8<Float>(repeating: weights[5])
    let w6 = SIMD8<Float>(repeating: weights[6]), w7 = SIMD8<Float>(repeating: weights[7])
    let w8 = SIMD8<Float>(repeating: weights[8])
    for oy in 0..<g.outHeight {
        let iy = oy - g.padTop
        let has0 = iy >= 0 && iy < g.inHeight, has1 = iy + 1 >= 0 && iy + 1 < g.inHeight
        let has2 = iy + 2 >= 0 && iy + 2 < g.inHeight
        // Rows outside the input are never read (their taps are skipped).
        let r0 = has0 ? plane + iy * w : plane, r1 = has1 ? plane + (iy + 1) * w : plane
        let r2 = has2 ? plane + (iy + 2) * w : plane
        let dst = out + oy * ow
        if last - first >= 8 {
            var ox = first
            while true {
                let x = min(ox, last - 8)
                let p = x - g.padLeft
                var a = vb
                if has0 { a = multiplyAdd(multiplyAdd(multiplyAdd(a, w0, load8(r0 + p)), w1, load8(r0 + p + 1)), w2, load8(r0 + p + 2)) }
                if has1 { a = multiplyAdd(multiplyAdd(multiplyAdd(a, w3, load8(r1 + p)), w4, load8(r1 + p + 1)), w5, load8(r1 + p + 2)) }
                if has2 { a = multiplyAdd(multiplyAdd(multiplyAdd(a, w6, load8(r2 + p)), w7, load8(r2 + p + 1)), w8, load8(r2 + p + 2)) }
                store8(clamp8(a, lo, hi), dst + x)
                if x == last - 8 { break }
                ox += 8
            }
        }
        let interior = last - first >= 8 ? first..<last : 0..<0
        for ox in 0..<ow where !interior.contains(ox) {
            var sum = bias
            for ky in 0..<3 {
                let y = iy + ky
                if y < 0 || y >= g.inHeight { continue }
                for kx in 0..<3 {
                    let xx = ox - g.padLeft + kx
                    if xx < 0 || xx >= w { continue }
                    sum += weights[ky * 3 + kx] * plane[y * w + xx]
                }
            }
            dst[ox] = bounds.apply(sum)
        }
    }
}

/// k×k (3 or 5), stride 1, "same" padding all round, output rows of 4 (3×3) or at least 8 (the
/// 4×4–112×112 maps of MobileNets and EfficientNet): each channel's rows are copied into the
/// interior of a zero-bordered plane (the border is zeroed once per call), then every output row
/// is vectors of k² taps stored straight into the output, the last one moved back to end at the
/// row's end. The generic phase-plane path pays a per-channel setup and a compaction that cost
/// more than the arithmetic on these small maps.
private func dwconvS1Padded(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                            bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                            output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>,
                            padded: UnsafeMutablePointer<Float>) {
    let size = g.kernelHeight, pad = (size - 1) / 2
    let w = g.inWidth, h = g.inHeight, pw = w + 2 * pad
    let multiplier = g.outChannels / g.inChannels
    for i in 0..<((h + 2 * pad) * pw) { padded[i] = 0 }
    let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
    var builtChannel = -1
    for m in outputChannels {
        let c = m / multiplier
        if c != builtChannel {
            copyRows(input + c * g.inPlane, pitch: w, rows: h, width: w, into: padded + pad * pw + pad, pitch: pw)
            builtChannel = c
        }
        let k = weights + m * size * size
        let out = output + m * g.outPlane
        let b = bias?[m] ?? 0
        if size == 5 {
            dwconv5x5s1Plane(padded: padded, pitch: pw, height: h, width: w, weights: k, bias: b, bounds: bounds, out: out)
            continue
        }
        if w == 4 {
            // Two output rows per SIMD8: lanes 0–3 row oy, lanes 4–7 row oy + 1.
            @inline(__always) func rows2(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
                let a = UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
                let d = UnsafeRawPointer(p + pw).loadUnaligned(as: SIMD4<Float>.self)
                return SIMD8(lowHalf: a, highHalf: d)
            }
            var oy = 0
            while oy < h {
                var a = SIMD8<Float>(repeating: b)
                for ky in 0..<3 {
                    let r = UnsafePointer(padded + (oy + ky) * pw)
                    a = multiplyAdd(a, SIMD8(repeating: k[ky * 3]), rows2(r))
                    a = multiplyAdd(a, SIMD8(repeating: k[ky * 3 + 1]), rows2(r + 1))
                    a = multiplyAdd(a, SIMD8(repeating: k[ky * 3 + 2]), rows2(r + 2))
                }
                a = clamp8(a, lo, hi)
                if oy + 1 < h {
                    store8(a, out + oy * 4)
                } else {
                    UnsafeMutableRawPointer(out + oy * 4).storeBytes(of: a.lowHalf, as: SIMD4<Float>.self)
                }
                oy += 2
            }
            continue
        }
        dwconv3x3s1PlaneTile(padded: padded, pitch: pw, height: h, width: w, weights: k, bias: b, bounds: bounds, out: out)
    }
}

/// One 5×5 channel of `dwconvS1Padded` from its zero-bordered plane (row pitch `pitch`): h rows of
/// w ≥ 8 outputs, eight at a time, the last block moved back to end at the row's end.
func dwconv5x5s1Plane(padded: UnsafePointer<Float>, pitch pw: Int, height h: Int, width w: Int,
                      weights k: UnsafePointer<Float>, bias b: Float, bounds: ActivationBounds,
                      out: UnsafeMutablePointer<Float>) {
    let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
    let vb = SIMD8<Float>(repeating: b)
    for oy in 0..<h {
        let dst = out + oy * w
        var x = 0
        while true {
            x = min(x, w - 8)
            var a = vb
            for ky in 0..<5 {
                let r = padded + (oy + ky) * pw + x
                let kr = k + ky * 5
                a = multiplyAdd(a, SIMD8(repeating: kr[0]), load8(r))
                a = multiplyAdd(a, SIMD8(repeating: kr[1]), load8(r + 1))
                a = multiplyAdd(a, SIMD8(repeating: kr[2]), load8(r + 2))
                a = multiplyAdd(a, SIMD8(repeating: kr[3]), load8(r + 3))
                a = multiplyAdd(a, SIMD8(repeating: kr[4]), load8(r + 4))
            }
            store8(clamp8(a, lo, hi), dst + x)
            if x == w - 8 { break }
            x += 8
        }
    }
}

/// One 3×3 channel of `dwconvS1Padded` from its zero-bordered plane (row pitch `pitch`): h rows
/// of w ≥ 8 outputs, whole vectors of nine taps each, the last block moved back to end at the
/// row's end.
func dwconv3x3s1Plane(padded: UnsafePointer<Float>, pitch pw: Int, height h: Int, width w: Int,
                      weights k: UnsafePointer<Float>, bias b: Float, bounds: ActivationBounds,
                      out: UnsafeMutablePointer<Float>) {
    let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
    let w0 = SIMD8<Float>(repeating: k[0]), w1 = SIMD8<Float>(repeating: k[1]), w2 = SIMD8<Float>(repeating: k[2])
    let w3 = SIMD8<Float>(repeating: k[3]), w4 = SIMD8<Float>(repeating: k[4]), w5 = SIMD8<Float>(repeating: k[5])
    let w6 = SIMD8<Float>(repeating: k[6]), w7 = SIMD8<Float>(repeating: k[7]), w8 = SIMD8<Float>(repeating: k[8])
    let vb = SIMD8<Float>(repeating: b)
    for oy in 0..<h {
        let r0 = padded + oy * pw, r1 = r0 + pw, r2 = r1 + pw
        let dst = out + oy * w
        var x = 0
        while true {
            x = min(x, w - 8)
            var a = multiplyAdd(vb, w0, load8(r0 + x))
            a = multiplyAdd(a, w1, load8(r0 + x + 1)); a = multiplyAdd(a, w2, load8(r0 + x + 2))
            a = multiplyAdd(a, w3, load8(r1 + x)); a = multiplyAdd(a, w4, load8(r1 + x + 1))
            a = multiplyAdd(a, w5, load8(r1 + x + 2)); a = multiplyAdd(a, w6, load8(r2 + x))
            a = multiplyAdd(a, w7, load8(r2 + x + 1)); a = multiplyAdd(a, w8, load8(r2 + x + 2))
            store8(clamp8(a, lo, hi), dst + x)
            if x == w - 8 { break }
            x += 8
        }
    }
}

/// k×k (3 or 5), stride 2, any padding, output rows of 4 (3×3) or at least 8: as
/// `dwconvS1Padded`, the input rows copied into a zero-bordered plane (one spare column per row),
/// then eight outputs take the even and odd lanes of 16-float loads per tap row instead of going
/// through four phase planes; the last block of a row moves back to end at the row's end.
private func dwconvS2Padded(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                            bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                            output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>,
                            padded: UnsafeMutablePointer<Float>) {
    let size = g.kernelHeight
    let w = g.inWidth, h = g.inHeight, ow = g.outWidth
    // Output x reads padded columns 2x … 2x + size − 1; a 16-float load at 2x reaches 2x + 15, so
    // with the last block at ow − 8 the loads end at 2·ow + size − 2 ≤ the pitch − 1.
    let pw = w + g.padLeft + g.padRight + 1, ph = h + g.padTop + g.padBottom
    let multiplier = g.outChannels / g.inChannels
    for i in 0..<(ph * pw) { padded[i] = 0 }
    let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
    @inline(__always) func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }
    var builtChannel = -1
    for m in outputChannels {
        let c = m / multiplier
        if c != builtChannel {
            copyRows(input + c * g.inPlane, pitch: w, rows: h, width: w, into: padded + g.padTop * pw + g.padLeft, pitch: pw)
            builtChannel = c
        }
        let k = weights + m * size * size
        let out = output + m * g.outPlane
        let b = bias?[m] ?? 0
        if ow == 4 {
            let lo4 = lo.lowHalf, hi4 = hi.lowHalf
            for oy in 0..<g.outHeight {
                var a = SIMD4<Float>(repeating: b)
                for ky in 0..<3 {
                    let r = UnsafePointer(padded + (2 * oy + ky) * pw)
                    let v = UnsafeRawPointer(r).loadUnaligned(as: SIMD8<Float>.self)
                    let u = UnsafeRawPointer(r + 2).loadUnaligned(as: SIMD8<Float>.self)
                    a += SIMD4(repeating: k[ky * 3]) * v.evenHalf
                    a += SIMD4(repeating: k[ky * 3 + 1]) * v.oddHalf
                    a += SIMD4(repeating: k[ky * 3 + 2]) * u.evenHalf
                }
                a = a.replacing(with: lo4, where: a .< lo4).replacing(with: hi4, where: a .> hi4)
                UnsafeMutableRawPointer(out + oy * 4).storeBytes(of: a, as: SIMD4<Float>.self)
            }
            continue
        }
        let vb = SIMD8<Float>(repeating: b)
        if size == 5 {
            for oy in 0..<g.outHeight {
                let dst = out + oy * ow
                var x = 0
                while true {
                    x = min(x, ow - 8)
                    var a = vb
                    for ky in 0..<5 {
                        let r = UnsafePointer(padded + (2 * oy + ky) * pw + 2 * x)
                        let kr = k + ky * 5
                        let a0 = load16(r), b0 = load16(r + 2), c0 = load16(r + 4)
                        a = multiplyAdd(a, SIMD8(repeating: kr[0]), a0.evenHalf)
                        a = multiplyAdd(a, SIMD8(repeating: kr[1]), a0.oddHalf)
                        a = multiplyAdd(a, SIMD8(repeating: kr[2]), b0.evenHalf)
                        a = multiplyAdd(a, SIMD8(repeating: kr[3]), b0.oddHalf)
                        a = multiplyAdd(a, SIMD8(repeating: kr[4]), c0.evenHalf)
                    }
                    store8(clamp8(a, lo, hi), dst + x)
                    if x == ow - 8 { break }
                    x += 8
                }
            }
            continue
        }
        let w0 = SIMD8<Float>(repeating: k[0]), w1 = SIMD8<Float>(repeating: k[1]), w2 = SIMD8<Float>(repeating: k[2])
        let w3 = SIMD8<Float>(repeating: k[3]), w4 = SIMD8<Float>(repeating: k[4]), w5 = SIMD8<Float>(repeating: k[5])
        let w6 = SIMD8<Float>(repeating: k[6]), w7 = SIMD8<Float>(repeating: k[7]), w8 = SIMD8<Float>(repeating: k[8])
        for oy in 0..<g.outHeight {
            let r0 = UnsafePointer(padded + 2 * oy * pw), r1 = r0 + pw, r2 = r1 + pw
            let dst = out + oy * ow
            var x = 0
            while true {
                x = min(x, ow - 8)
                let p = 2 * x
                let a0 = load16(r0 + p), b0 = load16(r0 + p + 2)
                let a1 = load16(r1 + p), b1 = load16(r1 + p + 2)
                let a2 = load16(r2 + p), b2 = load16(r2 + p + 2)
                var a = multiplyAdd(vb, w0, a0.evenHalf)
                a = multiplyAdd(a, w1, a0.oddHalf); a = multiplyAdd(a, w2, b0.evenHalf)
                a = multiplyAdd(a, w3, a1.evenHalf); a = multiplyAdd(a, w4, a1.oddHalf)
                a = multiplyAdd(a, w5, b1.evenHalf); a = multiplyAdd(a, w6, a2.evenHalf)
                a = multiplyAdd(a, w7, a2.oddHalf); a = multiplyAdd(a, w8, b2.evenHalf)
                store8(clamp8(a, lo, hi), dst + x)
                if x == ow - 8 { break }
                x += 8
            }
        }
    }
}

/// Nine unrolled taps, 16 outputs per step (two independent accumulator chains).
func dwconvWide3x3(base: UnsafePointer<Float>, taps: UnsafePointer<Int>, weights: UnsafePointer<Float>,
                           length: Int, dst: UnsafeMutablePointer<Float>, bias: Float, bounds: ActivationBounds) {
    let p0 = base + taps[0], p1 = base + taps[1], p2 = base + taps[2]
    let p3 = base + taps[3], p4 = base + taps[4], p5 = base + taps[5]
    let p6 = base + taps[6], p7 = base + taps[7], p8 = base + taps[8]
    let w0 = SIMD8<Float>(repeating: weights[0]), w1 = SIMD8<Float>(repeating: weights[1])
    let w2 = SIMD8<Float>(repeating: weights[2]), w3 = SIMD8<Float>(repeating: weights[3])
    let w4 = SIMD8<Float>(repeating: weights[4]), w5 = SIMD8<Float>(repeating: weights[5])
    let w6 = SIMD8<Float>(repeating: weights[6]), w7 = SIMD8<Float>(repeating: weights[7])
    let w8 = SIMD8<Float>(repeating: weights[8])
    let vb = SIMD8<Float>(repeating: bias)
    let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
    var j = 0
    while j + 16 <= length {
        var a = multiplyAdd(vb, w0, load8(p0 + j)), b = multiplyAdd(vb, w0, load8(p0 + j + 8))
        a = multiplyAdd(a, w1, load8(p1 + j)); b = multiplyAdd(b, w1, load8(p1 + j + 8))
        a = multiplyAdd(a, w2, load8(p2 + j)); b = multiplyAdd(b, w2, load8(p2 + j + 8))
        a = multiplyAdd(a, w3, load8(p3 + j)); b = multiplyAdd(b, w3, load8(p3 + j + 8))
        a = multiplyAdd(a, w4, load8(p4 + j)); b = multiplyAdd(b, w4, load8(p4 + j + 8))
        a = multiplyAdd(a, w5, load8(p5 + j)); b = multiplyAdd(b, w5, load8(p5 + j + 8))
        a = multiplyAdd(a, w6, load8(p6 + j)); b = multiplyAdd(b, w6, load8(p6 + j + 8))
        a = multiplyAdd(a, w7, load8(p7 + j)); b = multiplyAdd(b, w7, load8(p7 + j + 8))
        a = multiplyAdd(a, w8, load8(p8 + j)); b = multiplyAdd(b, w8, load8(p8 + j + 8))
        store8(clamp8(a, lo, hi), dst + j)
        store8(clamp8(b, lo, hi), dst + j + 8)
        j += 16
        // A tail of 1–15 outputs: one more block moved back to end at `length` (recomputing a few
        // outputs) instead of nine scalar taps per output.
        if j < length && j + 16 > length && length >= 16 { j = length - 16 }
    }
    while j < length {
        var s = bias
        s += weights[0] * p0[j]; s += weights[1] * p1[j]; s += weights[2] * p2[j]
        s += weights[3] * p3[j]; s += weights[4] * p4[j]; s += weights[5] * p5[j]
        s += weights[6] * p6[j]; s += weights[7] * p7[j]; s += weights[8] * p8[j]
        dst[j] = bounds.apply(s)
        j += 1
    }
}

/// Any number of taps, 16 outputs per step.
private func dwconvWideGeneral(base: UnsafePointer<Float>, taps: UnsafePointer<Int>, area: Int,
                               weights: UnsafePointer<Float>, length: Int, dst: UnsafeMutablePointer<Float>,
                               bias: Float, bounds: ActivationBounds) {
    let vb = SIMD8<Float>(repeating: bias)
    let lo = SIMD8<Float>(repeating: bounds.lower), hi = SIMD8<Float>(repeating: bounds.upper)
    var j = 0
    while j + 16 <= length {
        var a = vb, b = vb
        for t in 0..<area {
            let p = base + taps[t] + j
            let w = SIMD8<Float>(repeating: weights[t])
            a = multiplyAdd(a, w, load8(p))
            b = multiplyAdd(b, w, load8(p + 8))
        }
        store8(clamp8(a, lo, hi), dst + j)
        store8(clamp8(b, lo, hi), dst + j + 8)
        j += 16
    }
    // 8–15 left (small maps: a 7×7 output of a stride-2 5×5 has 7·9 = 63): one vector of them,
    // the rest scalar.
    if j + 8 <= length {
        var a = vb
        for t in 0..<area { a = multiplyAdd(a, SIMD8<Float>(repeating: weights[t]), load8(base + taps[t] + j)) }
        store8(clamp8(a, lo, hi), dst + j)
        j += 8
    }
    while j < length {
        var s = bias
        for t in 0..<area { s += weights[t] * base[taps[t] + j] }
        dst[j] = bounds.apply(s)
        j += 1
    }
}

/// Reference twin of `f32DWConv`: the ONNX Conv definition with groups == C, as plain loops.
public func f32DWConvReference(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, bounds: ActivationBounds,
                               output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>) {
    let multiplier = g.outChannels / g.inChannels
    for m in outputChannels.clamped(to: 0..<g.outChannels) {
        let c = m / multiplier
        for oy in 0..<g.outHeight {
            for ox in 0..<g.outWidth {
                var sum: Float = bias?[m] ?? 0
                for ky in 0..<g.kernelHeight {
                    let iy = oy * g.strideHeight - g.padTop + ky * g.dilationHeight
                    if iy < 0 || iy >= g.inHeight { continue }
                    for kx in 0..<g.kernelWidth {
                        let ix = ox * g.strideWidth - g.padLeft + kx * g.dilationWidth
                        if ix < 0 || ix >= g.inWidth { continue }
                        sum += weights[(m * g.kernelHeight + ky) * g.kernelWidth + kx]
                            * input[(c * g.inHeight + iy) * g.inWidth + ix]
                    }
                }
                output[(m * g.outHeight + oy) * g.outWidth + ox] = bounds.apply(sum)
            }
        }
    }
}
