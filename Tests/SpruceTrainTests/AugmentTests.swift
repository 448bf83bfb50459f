// Tests of pixel scaling and seeded augmentation: identity is exact, flips and quarter turns move
// pixels where they should, crops stay within the source's range, transforms are a function of
// (seed, epoch, image id) only, and bad settings are rejected.
import Testing
@testable import SpruceTrain

struct AugmentTests {
    /// A `height`×`width` HWC byte image with distinct, seeded values.
    func image(height: Int, width: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(state: seed)
        return (0..<(height * width * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    func render(_ t: ImageTransform, _ pixels: [UInt8], height: Int, width: Int, scaling: PixelScaling = .unit) throws -> [Float] {
        let (scale, bias) = try scaling.coefficients()
        var out = [Float](repeating: .nan, count: pixels.count)
        var scratch = [Float](repeating: .nan, count: pixels.count)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                scratch.withUnsafeMutableBufferPointer { tmp in
                    t.render(src.baseAddress!, height: height, width: width, scale: scale, bias: bias,
                             scratch: tmp.baseAddress!, into: dst.baseAddress!)
                }
            }
        }
        return out
    }

    /// Value of channel `c` at (y, x) of a CHW float image.
    func at(_ chw: [Float], _ c: Int, _ y: Int, _ x: Int, height: Int, width: Int) -> Float { chw[(c * height + y) * width + x] }
    func byte(_ hwc: [UInt8], _ c: Int, _ y: Int, _ x: Int, width: Int) -> Float { Float(hwc[(y * width + x) * 3 + c]) }

    @Test("identity is an exact layout change", arguments: [(4, 4), (3, 5)])
    func identity(h: Int, w: Int) throws {
        let px = image(height: h, width: w, seed: 1)
        let out = try render(ImageTransform(height: h, width: w), px, height: h, width: w)
        for c in 0..<3 { for y in 0..<h { for x in 0..<w {
            #expect(at(out, c, y, x, height: h, width: w) == byte(px, c, y, x, width: w) * (1 / 255))
        } } }
    }

    @Test func meanStdScaling() throws {
        let px: [UInt8] = [255, 0, 51]
        let out = try render(ImageTransform(height: 1, width: 1), px, height: 1, width: 1,
                             scaling: .meanStd(mean: [0.5, 0.5, 0.2], std: [0.5, 0.25, 0.1]))
        #expect(abs(out[0] - 1) < 1e-6 && abs(out[1] + 2) < 1e-6 && abs(out[2] - 0) < 1e-5)
        #expect(throws: DatasetError.self) { try PixelScaling.meanStd(mean: [0, 0], std: [1, 1]).coefficients() }
        #expect(throws: DatasetError.self) { try PixelScaling.meanStd(mean: [0, 0, 0], std: [1, 0, 1]).coefficients() }
    }

    @Test func flipsAndQuarterTurnsMovePixels() throws {
        let (h, w) = (3, 3)
        let px = image(height: h, width: w, seed: 2)
        var t = ImageTransform(height: h, width: w)
        t.flipHorizontal = true
        let hf = try render(t, px, height: h, width: w)
        t = ImageTransform(height: h, width: w)
        t.flipVertical = true
        let vf = try render(t, px, height: h, width: w)
        t = ImageTransform(height: h, width: w)
        t.quarterTurns = 1
        let r1 = try render(t, px, height: h, width: w)
        t.quarterTurns = 2
        let r2 = try render(t, px, height: h, width: w)
        for c in 0..<3 { for y in 0..<h { for x in 0..<w {
            #expect(at(hf, c, y, x, height: h, width: w) == (1 / 255) * byte(px, c, y, w - 1 - x, width: w))
            #expect(at(vf, c, y, x, height: h, width: w) == (1 / 255) * byte(px, c, h - 1 - y, x, width: w))
            // One counter-clockwise quarter turn: the right column becomes the top row.
            #expect(at(r1, c, y, x, height: h, width: w) == (1 / 255) * byte(px, c, x, w - 1 - y, width: w))
            #expect(at(r2, c, y, x, height: h, width: w) == (1 / 255) * byte(px, c, h - 1 - y, w - 1 - x, width: w))
        } } }
    }

    @Test("seeded transforms", arguments: [(8, 8), (6, 10)])
    func seededTransforms(h: Int, w: Int) throws {
        let aug = Augmentation.standard
        let ids = (0..<40).map { "ISIC_\($0)" }
        let e0 = ids.map { aug.transform(seed: 7, epoch: 0, imageID: $0, height: h, width: w) }
        #expect(e0 == ids.map { aug.transform(seed: 7, epoch: 0, imageID: $0, height: h, width: w) })
        #expect(e0 != ids.map { aug.transform(seed: 7, epoch: 1, imageID: $0, height: h, width: w) })
        #expect(e0 != ids.map { aug.transform(seed: 8, epoch: 0, imageID: $0, height: h, width: w) })
        // Every kind of transform actually happens, within bounds.
        #expect(e0.contains { $0.flipHorizontal } && e0.contains { !$0.flipHorizontal })
        #expect(e0.contains { $0.flipVertical })
        let turns = Set(e0.map(\.quarterTurns))
        #expect(h == w ? turns == [0, 1, 2, 3] : turns == [0, 2])
        for t in e0 {
            #expect(t.cropHeight >= 0.85 * Float(h) - 1e-4 && t.cropHeight <= Float(h))
            #expect(t.cropY >= 0 && t.cropY + t.cropHeight <= Float(h) + 1e-4)
            #expect(t.cropX >= 0 && t.cropX + t.cropWidth <= Float(w) + 1e-4)
        }
        #expect(Augmentation.none.transform(seed: 7, epoch: 3, imageID: "x", height: h, width: w) == ImageTransform(height: h, width: w))
    }

    @Test func cropsStayWithinTheSourceRange() throws {
        let (h, w) = (8, 8)
        let px = image(height: h, width: w, seed: 3)
        let aug = Augmentation(minCropFraction: 0.5)
        for k in 0..<10 {
            let t = aug.transform(seed: 1, epoch: k, imageID: "a", height: h, width: w)
            #expect(t.cropHeight < Float(h))
            let out = try render(t, px, height: h, width: w)
            for c in 0..<3 {
                let channel = stride(from: c, to: px.count, by: 3).map { Float(px[$0]) / 255 }
                let lo = channel.min()!, hi = channel.max()!
                #expect(out[(c * h * w)..<((c + 1) * h * w)].allSatisfy { $0 >= lo - 1e-6 && $0 <= hi + 1e-6 })
            }
        }
    }

    @Test("crop fraction must be in (0, 1]", arguments: [0, -0.5, 1.5] as [Float])
    func badCropFraction(f: Float) {
        #expect(throws: DatasetError.self) { try Augmentation(minCropFraction: f).validate() }
    }
}
