// Decodes JPEG (libturbojpeg) and PNG (libpng's simplified API) bytes into 8-bit RGB pixels.
// The format is recognised by its signature, not by the file name; alpha is dropped, grey is
// expanded to RGB. It does not resize or normalise (see ImageLoader) and writes no images.
import CPNG
import CTurboJPEG

/// An 8-bit RGB image, rows top to bottom, pixels interleaved `R G B`.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// `height * width * 3` bytes.
    public var pixels: [UInt8]

    /// An image of the given size; `pixels.count` must be `width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGB image \(width)x\(height) needs \(width * height * 3) bytes")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// Image decoding from encoded bytes.
public enum ImageDecoder {
    /// Largest accepted image, in pixels: bounds the memory a hostile header can make us allocate.
    public static let maxPixels = 1 << 28

    /// The encoded image formats Spruce reads.
    public enum Format: String, Sendable {
        case jpeg = "JPEG", png = "PNG"
    }

    /// The format `bytes` starts with, or nil for anything else.
    public static func sniff(_ bytes: [UInt8]) -> Format? {
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        return nil
    }

    /// Decodes JPEG or PNG `bytes` to RGB; `path` only names the file in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws -> RGBImage {
        switch sniff(bytes) {
        case .jpeg: return try decodeJPEG(bytes, path: path)
        case .png: return try decodePNG(bytes, path: path)
        case nil:
            // A known extension with foreign contents is damage; an unknown one is simply unsupported.
            if ImageLoader.isImagePath(path) {
                throw ImageError.corrupt(path: path, detail: "contents are neither JPEG nor PNG")
            }
            throw ImageError.unsupportedFormat(path: path)
        }
    }

    /// Decodes a JPEG with libturbojpeg; any decoder warning (e.g. truncated data) is an error.
    public static func decodeJPEG(_ bytes: [UInt8], path: String) throws -> RGBImage {
        guard let handle = tjInitDecompress() else {
            throw ImageError.corrupt(path: path, detail: "cannot initialise the JPEG decoder")
        }
        defer { tjDestroy(handle) }
        func failure(_ stage: String) -> ImageError {
            let message = tjGetErrorStr2(handle).map { String(cString: $0) } ?? "unknown error"
            return ImageError.corrupt(path: path, detail: "JPEG \(stage): \(message)")
        }
        return try bytes.withUnsafeBufferPointer { src -> RGBImage in
            var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
            guard tjDecompressHeader3(handle, src.baseAddress, UInt(src.count), &width, &height,
                                      &subsampling, &colorspace) == 0 else { throw failure("header") }
            let (w, h) = (Int(width), Int(height))
            try checkSize(width: w, height: h, path: path)
            var pixels = [UInt8](repeating: 0, count: w * h * 3)
            let flags = Int32(TJFLAG_LIMITSCANS)
            let status = pixels.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.baseAddress, UInt(src.count), dst.baseAddress, width, 0, height,
                              Int32(TJPF_RGB.rawValue), flags)
            }
            guard status == 0 else { throw failure("data") }
            return RGBImage(width: w, height: h, pixels: pixels)
        }
    }

    /// Decodes a PNG with libpng's simplified API (palette, grey, 16-bit and alpha are converted).
    public static func decodePNG(_ bytes: [UInt8], path: String) throws -> RGBImage {
        // libpng stops reading after the last image data, so a file cut inside its final chunk
        // would decode; walk the chunk list first so that truncation is always reported.
        guard pngReachesEnd(bytes) else {
            throw ImageError.corrupt(path: path, detail: "PNG: file ends before the IEND chunk")
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        func failure(_ image: png_image) -> ImageError {
            let message = withUnsafeBytes(of: image.message) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            return ImageError.corrupt(path: path, detail: "PNG: \(message.isEmpty ? "unknown error" : message)")
        }
        return try bytes.withUnsafeBufferPointer { src -> RGBImage in
            guard png_image_begin_read_from_memory(&image, src.baseAddress, src.count) != 0 else {
                defer { png_image_free(&image) }
                throw failure(image)
            }
            let (w, h) = (Int(image.width), Int(image.height))
            do { try checkSize(width: w, height: h, path: path) } catch {
                png_image_free(&image)
                throw error
            }
            // Read RGBA and drop alpha ourselves: that is what other tools' "convert to RGB" does,
            // where libpng's RGB output would composite onto a background instead.
            image.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)  // PNG_FORMAT_RGBA (a macro Swift does not import)
            // 16-bit samples are sRGB-encoded like 8-bit ones in practice; without this flag libpng
            // would treat them as linear and re-encode them.
            image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
            var rgba = [UInt8](repeating: 0, count: w * h * 4)
            let ok = rgba.withUnsafeMutableBytes { dst in
                png_image_finish_read(&image, nil, dst.baseAddress, Int32(w * 4), nil)
            }
            guard ok != 0 else {
                defer { png_image_free(&image) }
                throw failure(image)
            }
            var pixels = [UInt8](repeating: 0, count: w * h * 3)
            rgba.withUnsafeBufferPointer { s in
                pixels.withUnsafeMutableBufferPointer { d in
                    for i in 0..<(w * h) {
                        d[3 * i] = s[4 * i]
                        d[3 * i + 1] = s[4 * i + 1]
                        d[3 * i + 2] = s[4 * i + 2]
                    }
                }
            }
            return RGBImage(width: w, height: h, pixels: pixels)
        }
    }

    /// Whether the chunk lengths from the signature on lead, within the buffer, to an IEND chunk.
    private static func pngReachesEnd(_ bytes: [UInt8]) -> Bool {
        var offset = 8
        while offset + 12 <= bytes.count {
            let length = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            let isEnd = bytes[(offset + 4)..<(offset + 8)].elementsEqual("IEND".utf8)
            guard length <= bytes.count - offset - 12 else { return false }
            if isEnd { return true }
            offset += 12 + length
        }
        return false
    }

    private static func checkSize(width: Int, height: Int, path: String) throws {
        guard width > 0, height > 0 else {
            throw ImageError.corrupt(path: path, detail: "image size \(width)x\(height)")
        }
        guard width <= maxPixels / height else {
            throw ImageError.corrupt(path: path, detail: "image size \(width)x\(height) exceeds \(maxPixels) pixels")
        }
    }
}
