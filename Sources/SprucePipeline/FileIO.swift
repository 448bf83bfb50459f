// Whole-file reads and atomic writes for the tools, with `PipelineError`s that name the path.
// Writes go through `_SpruceSupport`'s one atomic write (temporary file in the same directory,
// fsync, rename, directory fsync), so a failure never leaves a partial file under the final name.
import Foundation
import SpruceCore
import _SpruceSupport

/// Reading and atomically writing whole files, with errors that name the path.
public enum FileIO {
    /// Throws `fileNotFound` or `unreadable` unless `path` is a readable regular file.
    public static func checkReadable(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw PipelineError.fileNotFound(path: path)
        }
        guard !isDirectory.boolValue else { throw PipelineError.unreadable(path: path, reason: "is a directory") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw PipelineError.unreadable(path: path, reason: "permission denied")
        }
    }

    /// The bytes of the file at `path`.
    public static func read(_ path: String) throws -> [UInt8] {
        try checkReadable(path)
        do {
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw PipelineError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    /// Writes `bytes` to `path` through a temporary sibling file, fsync and a rename.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PipelineError.unwritable(path: path, reason: "directory \(directory) does not exist")
        }
        do { try FileAccess.writeAtomically(bytes, to: path) } catch {
            switch error.step {
            case .createTemporary, .write:
                throw PipelineError.unwritable(path: path, reason: "cannot create a file in \(directory)")
            default:
                throw PipelineError.unwritable(path: path, reason: error.reason)
            }
        }
    }

    /// Reads a `.npy` file as a tensor.
    public static func readNPY(_ path: String) throws -> Tensor {
        let bytes = try read(path)
        do { return try Tensor(npyBytes: bytes) } catch {
            throw PipelineError.invalidInput(path: path, reason: String(describing: error))
        }
    }
}
