// Loads JPEG/PNG files as float tensors for a model's input: decode, bilinear resize, scale to [0,1].
// Resizing uses half-pixel centres without antialiasing (as OpenCV's INTER_LINEAR does), so a
// downscale by more than 2× skips pixels. It does no mean/std normalisation or cropping: models
// that expect those must carry them in the graph or the caller must apply them.
import _SpruceSupport
import SpruceCore

/// Memory layout of an image tensor.
public enum ImageLayout: String, Sendable {
    /// [N, 3, H, W]: PyTorch exports.
    case nchw = "NCHW"
    /// [N, H, W, 3]: Keras / TensorFlow exports.
    case nhwc = "NHWC"
}

/// Image files to tensors.
///
/// ```swift
/// let x = try ImageLoader.loadTensor(path: "lesion.jpg", height: 224, width: 224)  // [1, 3, 224, 224]
/// ```
public enum ImageLoader {
    /// Whether `path` names a file this loader reads, by extension (`.jpg`, `.jpeg`, `.png`, any case).
    public static func isImagePath(_ path: String) -> Bool {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return false }
        return ["jpg", "jpeg", "png"].contains(path[path.index(after: dot)...].lowercased())
    }

    /// The image at `path` resized to `height`×`width`, as a [1, 3, H, W] tensor in [0, 1].
    public static func loadTensor(path: String, height: Int, width: Int) throws -> Tensor {
        try loadTensor(path: path, height: height, width: width, layout: .nchw)
    }

    /// The image at `path` resized to `height`×`width`, as [1, 3, H, W] or [1, H, W, 3] in [0, 1].
    public static func loadTensor(path: String, height: Int, width: Int, layout: ImageLayout) throws -> Tensor {
        guard height > 0, width > 0 else { throw ImageError.invalidSize(height: height, width: width) }
        return tensor(from: try loadImage(path: path), height: height, width: width, layout: layout)
    }

    /// Decodes the JPEG or PNG file at `path` to 8-bit RGB.
    public static func loadImage(path: String) throws -> RGBImage {
        let bytes = try readFile(path)
        return try ImageDecoder.decode(bytes, path: path)
    }

    /// `image` resized to `height`×`width` (both > 0) as a batch-of-one tensor in [0, 1].
    public static func tensor(from image: RGBImage, height: Int, width: Int, layout: ImageLayout) -> Tensor {
        let hwc = resizeBilinear(image, height: height, width: width)
        switch layout {
        case .nhwc:
            return Tensor(shape: [1, height, width, 3], data: hwc)
        case .nchw:
            let plane = height * width
            var chw = [Float](repeating: 0, count: 3 * plane)
            hwc.withUnsafeBufferPointer { src in
                chw.withUnsafeMutableBufferPointer { dst in
                    for p in 0..<plane {
                        dst[p] = src[3 * p]
                        dst[plane + p] = src[3 * p + 1]
                        dst[2 * plane + p] = src[3 * p + 2]
                    }
                }
            }
            return Tensor(shape: [1, 3, height, width], data: chw)
        }
    }

    /// Bilinear resize with half-pixel centres, edges clamped, no antialiasing; returns
    /// `height * width * 3` floats in [0, 1], interleaved RGB, rows top to bottom.
    public static func resizeBilinear(_ image: RGBImage, height: Int, width: Int) -> [Float] {
        let xs = samplePositions(output: width, input: image.width)
        let ys = samplePositions(output: height, input: image.height)
        let inRow = image.width * 3
        var out = [Float](repeating: 0, count: height * width * 3)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for oy in 0..<height {
                    let (y0, y1, fy) = ys[oy]
                    let row0 = y0 * inRow, row1 = y1 * inRow
                    for ox in 0..<width {
                        let (x0, x1, fx) = xs[ox]
                        for c in 0..<3 {
                            let a = Float(src[row0 + 3 * x0 + c]), b = Float(src[row0 + 3 * x1 + c])
                            let d = Float(src[row1 + 3 * x0 + c]), e = Float(src[row1 + 3 * x1 + c])
                            let top = a + (b - a) * fx
                            let bottom = d + (e - d) * fx
                            dst[(oy * width + ox) * 3 + c] = (top + (bottom - top) * fy) / 255
                        }
                    }
                }
            }
        }
        return out
    }

    /// For each output index: the two source indices and the weight of the second.
    private static func samplePositions(output: Int, input: Int) -> [(Int, Int, Float)] {
        let scale = Double(input) / Double(output)
        return (0..<output).map { o in
            let s = max((Double(o) + 0.5) * scale - 0.5, 0)
            let i0 = Int(s.rounded(.down))
            if i0 >= input - 1 { return (input - 1, input - 1, 0) }
            return (i0, i0 + 1, Float(s - Double(i0)))
        }
    }

    /// The whole file at `path`; errors name the path.
    static func readFile(_ path: String) throws -> [UInt8] {
        do { return try FileAccess.read(path: path) } catch {
            if error.step == .open && (error.code == ENOENT || error.code == ENOTDIR) {
                throw ImageError.fileNotFound(path: path)
            }
            throw ImageError.unreadable(path: path, reason: error.reason)
        }
    }
}
