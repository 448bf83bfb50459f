// Typed errors of image loading: each names the file involved so the CLI prints one clear line.
// Decoding details from libjpeg-turbo / libpng are carried in the message, not as codes.

/// A failure to load an image file, naming the path.
public enum ImageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No file exists at the path.
    case fileNotFound(path: String)
    /// The file exists but cannot be read (permissions, a directory, an I/O error).
    case unreadable(path: String, reason: String)
    /// The file is neither JPEG nor PNG and its name does not claim to be one.
    case unsupportedFormat(path: String)
    /// The file claims to be an image but cannot be decoded (truncated, damaged, absurd size).
    case corrupt(path: String, detail: String)
    /// The requested output size is not positive.
    case invalidSize(height: Int, width: Int)

    public var description: String {
        switch self {
        case .fileNotFound(let path): "\(path): no such file"
        case .unreadable(let path, let reason): "\(path): cannot read: \(reason)"
        case .unsupportedFormat(let path): "\(path): unsupported image format (expected .jpg, .jpeg or .png)"
        case .corrupt(let path, let detail): "\(path): corrupt image: \(detail)"
        case .invalidSize(let height, let width): "invalid image size \(height)x\(width): both must be positive"
        }
    }
}
