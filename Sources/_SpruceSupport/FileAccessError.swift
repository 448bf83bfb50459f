// Why a file read or an atomic write failed: the step, the C library's error code and its text.
// Each module maps it into its own typed error where it calls `FileAccess`, so every message a
// user sees stays the one that module always gave.

/// A failed file operation: the step that failed, `errno` (0 when none) and the reason in words.
public struct FileAccessError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The step of a read or an atomic write.
    public enum Step: Sendable, Equatable {
        /// Opening the file (or the temporary file, see `createTemporary`).
        case open
        /// `fstat` of the opened file.
        case status
        /// The path names a directory, device or pipe, not a regular file.
        case notRegularFile
        /// Reading, including a ranged read that met the end of the file early.
        case read
        /// Creating the temporary file beside the destination.
        case createTemporary
        /// Writing the temporary file.
        case write
        /// `fsync` of the temporary file.
        case sync
        /// Closing the temporary file (NFS reports late write errors here).
        case close
        /// Renaming the temporary file over the destination.
        case rename
    }

    /// The step that failed.
    public var step: Step
    /// The `errno` value, 0 when the failure is not a C library error.
    public var code: Int32
    /// The C library's text for `code`, or a short phrase ("not a regular file").
    public var reason: String

    /// A failure with an explicit reason.
    public init(step: Step, code: Int32, reason: String) {
        self.step = step
        self.code = code
        self.reason = reason
    }

    /// A failure of `step` with the C library's error `code`.
    public init(_ step: Step, code: Int32) {
        self.init(step: step, code: code, reason: systemErrorText(code))
    }

    /// One line naming the step and the reason, e.g. "cannot open: No such file or directory".
    public var description: String {
        switch step {
        case .open: "cannot open: \(reason)"
        case .status: "cannot stat: \(reason)"
        case .notRegularFile: reason
        case .read: "read failed: \(reason)"
        case .createTemporary: "cannot create a temporary file beside it: \(reason)"
        case .write: "write failed: \(reason)"
        case .sync: "fsync failed: \(reason)"
        case .close: "close failed: \(reason)"
        case .rename: "rename failed: \(reason)"
        }
    }
}
