// Seeded training augmentation: random crop (resized back), 90° rotations, horizontal and vertical
// flips, drawn per (seed, epoch, image id) so an image's transform never depends on batch order or
// thread timing. Crops sample the cached image bilinearly; nothing is padded. Rotations by 90°/270°
// need a square image; non-square images only rotate by 180°. Labels are never changed.

/// Which random transforms training batches get.
public struct Augmentation: Sendable, Equatable {
    /// Mirror left–right with probability 1/2.
    public var horizontalFlip: Bool
    /// Mirror top–bottom with probability 1/2.
    public var verticalFlip: Bool
    /// Rotate by 0, 90, 180 or 270° with equal probability (0/180° for non-square images).
    public var rotate90: Bool
    /// Smallest crop side as a fraction of the image side (same fraction for height and width,
    /// drawn uniformly in [min, 1]); the crop is resized back to the full size. 1 disables cropping.
    public var minCropFraction: Float

    /// Transforms as given; `minCropFraction` must lie in (0, 1].
    public init(horizontalFlip: Bool = false, verticalFlip: Bool = false, rotate90: Bool = false, minCropFraction: Float = 1) {
        self.horizontalFlip = horizontalFlip
        self.verticalFlip = verticalFlip
        self.rotate90 = rotate90
        self.minCropFraction = minCropFraction
    }

    /// No augmentation (evaluation).
    public static let none = Augmentation()
    /// Flips, 90° rotations and crops down to 85 % of the side: dermoscopy images have no canonical orientation.
    public static let standard = Augmentation(horizontalFlip: true, verticalFlip: true, rotate90: true, minCropFraction: 0.85)

    /// Whether any transform is enabled.
    public var isIdentity: Bool { !horizontalFlip && !verticalFlip && !rotate90 && minCropFraction >= 1 }

    func validate() throws {
        guard minCropFraction > 0, minCropFraction <= 1 else {
            throw DatasetError.invalidOption("minimum crop fraction \(minCropFraction) must be in (0, 1]")
        }
    }

    /// The transform of one image in one epoch.
    func transform(seed: UInt64, epoch: Int, imageID: String, height: Int, width: Int) -> ImageTransform {
        var t = ImageTransform(height: height, width: width)
        guard !isIdentity else { return t }
        var rng = DataRNG(seed: seed, keys: 5, UInt64(truncatingIfNeeded: epoch), stableHash(imageID))
        // Draw every value whether or not it is used, so enabling one transform does not shift the others.
        let flipH = rng.below(2) == 1, flipV = rng.below(2) == 1, quarter = rng.below(4)
        let side = rng.unitFloat(), offsetY = rng.unitFloat(), offsetX = rng.unitFloat()
        t.flipHorizontal = horizontalFlip && flipH
        t.flipVertical = verticalFlip && flipV
        if rotate90 { t.quarterTurns = height == width ? quarter : (quarter & 1) * 2 }
        if minCropFraction < 1 {
            let f = minCropFraction + (1 - minCropFraction) * side
            t.cropHeight = f * Float(height)
            t.cropWidth = f * Float(width)
            t.cropY = (Float(height) - t.cropHeight) * offsetY
            t.cropX = (Float(width) - t.cropWidth) * offsetX
        }
        return t
    }
}

/// One image's geometric transform: crop (in source pixels), then rotation, then flips.
struct ImageTransform: Sendable, Equatable {
    var flipHorizontal = false
    var flipVertical = false
    /// Counter-clockwise quarter turns, 0...3.
    var quarterTurns = 0
    var cropY: Float = 0, cropX: Float = 0, cropHeight: Float, cropWidth: Float

    init(height: Int, width: Int) {
        cropHeight = Float(height)
        cropWidth = Float(width)
    }

    /// Writes the transformed `height`×`width` HWC byte image as three scaled float planes (CHW).
    /// `scratch` holds `height * width * 3` floats. Two passes: the crop resized back to full
    /// size (separable bilinear, half-pixel centres; exact when there is no crop), then the
    /// rotation and flips as an index walk with a constant step along each output row.
    func render(_ src: UnsafePointer<UInt8>, height: Int, width: Int, scale: [Float], bias: [Float],
                scratch: UnsafeMutablePointer<Float>, into dst: UnsafeMutablePointer<Float>) {
        let maxY = height - 1, maxX = width - 1
        let sy = cropHeight / Float(height), sx = cropWidth / Float(width)
        var cols = [(Int, Int, Float)]()
        cols.reserveCapacity(width)
        for x in 0..<width {
            let px = max(cropX + (Float(x) + 0.5) * sx - 0.5, 0)
            let x0 = min(Int(px), maxX)
            cols.append((x0 * 3, min(x0 + 1, maxX) * 3, px - Float(x0)))
        }
        cols.withUnsafeBufferPointer { cols in
            for y in 0..<height {
                let py = max(cropY + (Float(y) + 0.5) * sy - 0.5, 0)
                let y0 = min(Int(py), maxY)
                let r0 = src + y0 * width * 3, r1 = src + min(y0 + 1, maxY) * width * 3
                let wy = py - Float(y0)
                let out = scratch + y * width * 3
                for x in 0..<width {
                    let (a, b, wx) = cols[x]
                    for c in 0..<3 {
                        let top = Float(r0[a + c]) + (Float(r0[b + c]) - Float(r0[a + c])) * wx
                        let bottom = Float(r1[a + c]) + (Float(r1[b + c]) - Float(r1[a + c])) * wx
                        out[x * 3 + c] = top + (bottom - top) * wy
                    }
                }
            }
        }
        let plane = height * width
        let (s0, s1, s2) = (scale[0], scale[1], scale[2])
        let (b0, b1, b2) = (bias[0], bias[1], bias[2])
        for oy in 0..<height {
            let start = sourceIndex(oy, 0, maxY: maxY, maxX: maxX, width: width)
            let step = width > 1 ? sourceIndex(oy, 1, maxY: maxY, maxX: maxX, width: width) - start : 0
            var index = start
            let row = oy * width
            for ox in 0..<width {
                let p = scratch + index * 3
                dst[row + ox] = p[0] * s0 + b0
                dst[plane + row + ox] = p[1] * s1 + b1
                dst[2 * plane + row + ox] = p[2] * s2 + b2
                index += step
            }
        }
    }

    /// Pixel index (y * width + x) in the cropped image that output pixel (oy, ox) shows:
    /// the flips undone first, then the counter-clockwise quarter turns.
    private func sourceIndex(_ oy: Int, _ ox: Int, maxY: Int, maxX: Int, width: Int) -> Int {
        let fy = flipVertical ? maxY - oy : oy
        let fx = flipHorizontal ? maxX - ox : ox
        switch quarterTurns {
        case 1: return fx * width + (maxX - fy)
        case 2: return (maxY - fy) * width + (maxX - fx)
        case 3: return (maxY - fx) * width + fy
        default: return fy * width + fx
        }
    }
}

/// FNV-1a of the UTF-8 bytes: stable across processes, unlike `Hasher`.
func stableHash(_ text: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return h
}
