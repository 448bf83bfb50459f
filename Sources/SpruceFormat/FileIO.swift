// Whole-file reads and atomic writes with Glibc, so the format needs no Foundation.
// An atomic write goes to a temporary file in the destination's directory, is fsync'ed and
// renamed over the destination: readers see the old file or the new one, never a part.

import Glibc

enum FileIO {
    private static func errorText(_ code: Int32) -> String {
        guard let s = strerror(code) else { return "error \(code)" }
        return String(cString: s)
    }

    /// The whole contents of the file at `path`.
    static func read(path: String) throws(FormatError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw .ioFailed(path: path, detail: "cannot open: \(errorText(errno))") }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw .ioFailed(path: path, detail: "cannot stat: \(errorText(errno))") }
        if (st.st_mode & S_IFMT) != S_IFREG { throw .ioFailed(path: path, detail: "not a regular file") }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while true {
            // Read until EOF, growing if the file grew since fstat.
            if done == bytes.count { bytes.append(contentsOf: repeatElement(0, count: max(4096, bytes.count / 2))) }
            let n = bytes.withUnsafeMutableBytes { b in Glibc.read(fd, b.baseAddress! + done, b.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .ioFailed(path: path, detail: "read failed: \(errorText(errno))")
            }
            if n == 0 { break }
            done += n
        }
        bytes.removeLast(bytes.count - done)
        return bytes
    }

    /// Writes `bytes` to `path` atomically (temporary file in the same directory, fsync, rename).
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(FormatError) {
        var template = Array((path + ".tmp-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd < 0 { throw .ioFailed(path: path, detail: "cannot create a temporary file beside it: \(errorText(errno))") }
        let tempPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var renamed = false
        var closed = false
        // Deferred in reverse: close (if still open), then remove the temporary file unless renamed.
        defer { if !renamed { unlink(tempPath) } }
        defer { if !closed { close(fd) } }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { b in write(fd, b.baseAddress! + done, b.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .ioFailed(path: path, detail: "write failed: \(errorText(errno))")
            }
            done += n
        }
        // mkstemp makes the file 0600; an artifact is an ordinary shareable file.
        if fchmod(fd, 0o644) != 0 { throw .ioFailed(path: path, detail: "chmod failed: \(errorText(errno))") }
        if fsync(fd) != 0 { throw .ioFailed(path: path, detail: "fsync failed: \(errorText(errno))") }
        closed = true
        if close(fd) != 0 { throw .ioFailed(path: path, detail: "close failed: \(errorText(errno))") }
        if rename(tempPath, path) != 0 { throw .ioFailed(path: path, detail: "rename failed: \(errorText(errno))") }
        renamed = true
        syncDirectory(of: path)
    }

    /// Flushes the directory entry of a renamed file; best effort, since some file systems refuse it.
    private static func syncDirectory(of path: String) {
        let directory: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            directory = "."
        }
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            close(fd)
        }
    }
}
