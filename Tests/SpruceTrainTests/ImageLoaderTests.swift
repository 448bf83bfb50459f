// Tests of JPEG/PNG decoding against Pillow's decode, of the bilinear resize against Pillow and an
// independent per-pixel formula, of the tensor layouts, and of every error path naming the file.
import Foundation
import Testing
@testable import SpruceCore
@testable import SpruceTrain

/// A fresh temporary directory, removed when the value is released.
final class TempDir: @unchecked Sendable {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "spruce-train-tests-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` to `name` inside the directory and returns its path.
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }
}

/// SplitMix64: a tiny seeded generator for random test images.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct ImageLoaderTests {
    @Test("PNG decodes exactly as Pillow decodes it", arguments: [
        ("rgb", TestImages.rgbPNG, TestImages.rgbPNGPixels, 5, 4),
        ("gray", TestImages.grayPNG, TestImages.grayPNGPixels, 4, 3),
        ("rgba", TestImages.rgbaPNG, TestImages.rgbaPNGPixels, 3, 3),
        ("palette", TestImages.palettePNG, TestImages.palettePNGPixels, 5, 4),
    ])
    func png(name: String, bytes: [UInt8], pixels: [UInt8], width: Int, height: Int) throws {
        let dir = TempDir()
        let image = try ImageLoader.loadImage(path: try dir.write("\(name).png", bytes))
        #expect(image.width == width && image.height == height)
        #expect(image.pixels == pixels)
    }

    @Test("JPEG decodes within ±2/255 of Pillow", arguments: [
        ("rgb", TestImages.rgbJPEG, TestImages.rgbJPEGPixels, 16, 12),
        ("gray", TestImages.grayJPEG, TestImages.grayJPEGPixels, 4, 3),
    ])
    func jpeg(name: String, bytes: [UInt8], pixels: [UInt8], width: Int, height: Int) throws {
        let dir = TempDir()
        let image = try ImageLoader.loadImage(path: try dir.write("\(name).jpg", bytes))
        #expect(image.width == width && image.height == height)
        #expect(image.pixels.count == pixels.count)
        let worst = zip(image.pixels, pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(worst <= 2)
    }

    @Test("the format is found from the contents, not the name")
    func sniffing() throws {
        let dir = TempDir()
        let image = try ImageLoader.loadImage(path: try dir.write("actually-a-png.jpg", TestImages.rgbPNG))
        #expect(image.pixels == TestImages.rgbPNGPixels)
    }

    @Test("at native size the tensor is the pixels / 255 in NCHW and NHWC")
    func layouts() throws {
        let dir = TempDir()
        let path = try dir.write("rgb.png", TestImages.rgbPNG)
        let nchw = try ImageLoader.loadTensor(path: path, height: 4, width: 5)
        let nhwc = try ImageLoader.loadTensor(path: path, height: 4, width: 5, layout: .nhwc)
        #expect(nchw.shape == [1, 3, 4, 5])
        #expect(nhwc.shape == [1, 4, 5, 3])
        #expect(nhwc.data == TestImages.rgbPNGPixels.map { Float($0) / 255 })
        for y in 0..<4 {
            for x in 0..<5 {
                for c in 0..<3 {
                    #expect(nchw[[0, c, y, x]] == Float(TestImages.rgbPNGPixels[(y * 5 + x) * 3 + c]) / 255)
                }
            }
        }
    }

    @Test("enlarging matches Pillow's bilinear filter")
    func upscaleMatchesPillow() throws {
        let image = RGBImage(width: 5, height: 4, pixels: TestImages.rgbPNGPixels)
        let out = ImageLoader.resizeBilinear(image, height: 7, width: 9)
        #expect(out.count == TestImages.rgbPNGUpscaled9x7.count)
        let worst = zip(out, TestImages.rgbPNGUpscaled9x7).map { abs($0 - $1) }.max() ?? 1
        #expect(worst < 1e-5)
    }

    @Test("a 2-pixel row doubled is [0, 1/4, 3/4, 1] (half-pixel centres, clamped edges)")
    func handComputed() {
        let image = RGBImage(width: 2, height: 1, pixels: [0, 0, 0, 255, 255, 255])
        let out = ImageLoader.resizeBilinear(image, height: 1, width: 4)
        #expect(out == [0, 0, 0, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 1, 1, 1])
    }

    /// Bilinear sampling of one channel written directly from the definition, in Double.
    private func referenceSample(_ image: RGBImage, y: Int, x: Int, c: Int, height: Int, width: Int) -> Double {
        func source(_ o: Int, _ outSize: Int, _ inSize: Int) -> Double {
            min(max((Double(o) + 0.5) * Double(inSize) / Double(outSize) - 0.5, 0), Double(inSize - 1))
        }
        let sy = source(y, height, image.height), sx = source(x, width, image.width)
        let y0 = Int(sy), x0 = Int(sx)
        let y1 = min(y0 + 1, image.height - 1), x1 = min(x0 + 1, image.width - 1)
        let wy = sy - Double(y0), wx = sx - Double(x0)
        func p(_ yy: Int, _ xx: Int) -> Double { Double(image.pixels[(yy * image.width + xx) * 3 + c]) }
        return ((1 - wy) * ((1 - wx) * p(y0, x0) + wx * p(y0, x1)) + wy * ((1 - wx) * p(y1, x0) + wx * p(y1, x1))) / 255
    }

    @Test("resize agrees with the per-pixel definition", arguments: [
        (5, 7, 5, 7), (5, 7, 10, 14), (8, 8, 3, 5), (9, 4, 4, 9), (1, 1, 3, 2), (6, 1, 2, 4), (13, 11, 1, 1),
    ])
    func resizeMatchesDefinition(inH: Int, inW: Int, outH: Int, outW: Int) {
        var rng = SplitMix64(state: UInt64(inH * 1000 + inW * 100 + outH * 10 + outW))
        let image = RGBImage(width: inW, height: inH, pixels: (0..<(inH * inW * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let out = ImageLoader.resizeBilinear(image, height: outH, width: outW)
        var worst = 0.0
        for y in 0..<outH {
            for x in 0..<outW {
                for c in 0..<3 {
                    let expected = referenceSample(image, y: y, x: x, c: c, height: outH, width: outW)
                    worst = max(worst, abs(Double(out[(y * outW + x) * 3 + c]) - expected))
                }
            }
        }
        #expect(worst < 1e-5)
        if inH == outH && inW == outW {
            #expect(out == image.pixels.map { Float($0) / 255 })
        }
    }

    @Test("a missing file is reported with its path")
    func missingFile() {
        let path = NSTemporaryDirectory() + "spruce-no-such-dir/none.png"
        #expect(throws: ImageError.fileNotFound(path: path)) {
            try ImageLoader.loadTensor(path: path, height: 2, width: 2)
        }
        #expect(ImageError.fileNotFound(path: path).description.contains(path))
    }

    @Test("a directory is unreadable, not a crash")
    func directory() throws {
        let dir = TempDir()
        let sub = dir.path + "/folder.png"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        #expect(throws: ImageError.unreadable(path: sub, reason: "not a regular file")) {
            try ImageLoader.loadImage(path: sub)
        }
    }

    @Test("garbage under an image name is corrupt; under another name unsupported")
    func garbage() throws {
        let dir = TempDir()
        let bytes = Array("GIF89a not really".utf8)
        let png = try dir.write("garbage.png", bytes)
        let gif = try dir.write("picture.gif", bytes)
        #expect(throws: ImageError.corrupt(path: png, detail: "contents are neither JPEG nor PNG")) {
            try ImageLoader.loadImage(path: png)
        }
        #expect(throws: ImageError.unsupportedFormat(path: gif)) { try ImageLoader.loadImage(path: gif) }
    }

    @Test("every truncation of a PNG or JPEG is an error naming the file",
          arguments: [("t.png", TestImages.rgbPNG), ("t.jpg", TestImages.rgbJPEG), ("g.jpg", TestImages.grayJPEG)])
    func truncations(name: String, bytes: [UInt8]) throws {
        let dir = TempDir()
        for length in 0..<bytes.count {
            let path = try dir.write(name, Array(bytes.prefix(length)))
            #expect("length \(length)") { try ImageLoader.loadImage(path: path) } throws: { error in
                guard let e = error as? ImageError, case .corrupt(let p, _) = e else { return false }
                return p == path && e.description.hasPrefix(path)
            }
        }
    }

    @Test("a flipped byte in the PNG data is caught by its CRC")
    func pngBitFlip() throws {
        let dir = TempDir()
        var bytes = TestImages.rgbPNG
        bytes[bytes.count - 20] ^= 0x40  // inside the IDAT payload
        let path = try dir.write("flip.png", bytes)
        #expect(throws: ImageError.self) { try ImageLoader.loadImage(path: path) }
    }

    @Test("a non-positive target size is refused")
    func invalidSize() throws {
        let dir = TempDir()
        let path = try dir.write("rgb.png", TestImages.rgbPNG)
        #expect(throws: ImageError.invalidSize(height: 0, width: 4)) {
            try ImageLoader.loadTensor(path: path, height: 0, width: 4)
        }
    }

    @Test("image paths are recognised by extension, any case",
          arguments: [("a.jpg", true), ("b.JPEG", true), ("c.Png", true), ("d.npy", false), ("e", false), ("x.png/dir", false)])
    func extensions(path: String, isImage: Bool) {
        #expect(ImageLoader.isImagePath(path) == isImage)
    }
}
