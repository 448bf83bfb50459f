// The format's file access: `_SpruceSupport`'s whole-file read and atomic write, with failures
// turned into `FormatError.ioFailed` naming the path. No file code of its own lives here.

import _SpruceSupport

enum FileIO {
    /// The whole contents of the file at `path`.
    static func read(path: String) throws(FormatError) -> [UInt8] {
        do { return try FileAccess.read(path: path) } catch {
            throw .ioFailed(path: path, detail: error.description)
        }
    }

    /// Writes `bytes` to `path` atomically (temporary file in the same directory, fsync, rename).
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(FormatError) {
        do { try FileAccess.writeAtomically(bytes, to: path) } catch {
            throw .ioFailed(path: path, detail: error.description)
        }
    }
}
