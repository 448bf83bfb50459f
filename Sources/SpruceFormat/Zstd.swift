// The two zstd calls the format needs: compress one buffer into one frame, and decode one
// frame whose size is known in advance, refusing anything that is not exactly that frame.
// It wraps libzstd's one-shot API; no streaming, no dictionaries.

import CZstd

enum Zstd {
    /// `ZSTD_CONTENTSIZE_UNKNOWN` and `_ERROR` (macros Swift does not import).
    private static let contentSizeUnknown = UInt64.max
    private static let contentSizeError = UInt64.max - 1

    /// One zstd frame holding `raw`, or nil if libzstd fails.
    static func compress(_ raw: [UInt8], level: Int) -> [UInt8]? {
        let bound = ZSTD_compressBound(raw.count)
        var out = [UInt8](repeating: 0, count: bound)
        let written = out.withUnsafeMutableBytes { o in
            raw.withUnsafeBytes { r in
                ZSTD_compress(o.baseAddress, bound, r.baseAddress, r.count, Int32(clamping: level))
            }
        }
        if ZSTD_isError(written) != 0 { return nil }
        out.removeLast(out.count - written)
        return out
    }

    /// Decodes `frame`, which must be exactly one frame declaring `rawSize` bytes; a reason on failure.
    static func decompress(_ frame: UnsafeRawBufferPointer, rawSize: Int) -> Result<[UInt8], DecodeFailure> {
        guard let base = frame.baseAddress, frame.count > 0 else { return .failure(.init("empty zstd section")) }
        let frameSize = ZSTD_findFrameCompressedSize(base, frame.count)
        if ZSTD_isError(frameSize) != 0 {
            return .failure(.init("not a zstd frame: \(errorName(frameSize))"))
        }
        guard frameSize == frame.count else {
            return .failure(.init("zstd frame is \(frameSize) bytes, the section \(frame.count)"))
        }
        let declared = ZSTD_getFrameContentSize(base, frame.count)
        if declared == contentSizeUnknown { return .failure(.init("zstd frame does not declare its content size")) }
        if declared == contentSizeError { return .failure(.init("zstd frame header is invalid")) }
        guard declared == UInt64(rawSize) else {
            return .failure(.init("zstd frame declares \(declared) bytes, the manifest \(rawSize)"))
        }
        var out = [UInt8](repeating: 0, count: rawSize)
        let written = out.withUnsafeMutableBytes { o in
            ZSTD_decompress(o.baseAddress, rawSize, base, frame.count)
        }
        if ZSTD_isError(written) != 0 { return .failure(.init("zstd: \(errorName(written))")) }
        guard written == rawSize else { return .failure(.init("zstd frame decoded to \(written) bytes, expected \(rawSize)")) }
        return .success(out)
    }

    private static func errorName(_ code: Int) -> String {
        guard let name = ZSTD_getErrorName(code) else { return "error \(code)" }
        return String(cString: name)
    }

    /// Why a frame was refused.
    struct DecodeFailure: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }
}
