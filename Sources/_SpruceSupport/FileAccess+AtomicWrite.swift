// The one atomic file write of Spruce (artifacts, ONNX exports, checkpoints, reports): write a
// temporary file in the destination's directory, fsync it, rename it over the destination, fsync
// the directory. Readers and crashes see the old file or the new one, never a part; on any
// failure the temporary file is removed and the destination is left as it was.

extension FileAccess {
    /// Writes `bytes` to `path` atomically; the new file has mode 0666 less the umask, like any
    /// newly created file. The destination's directory must exist.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(FileAccessError) {
        let (directory, name) = split(path)
        let (fd, temporary) = try createTemporary(in: directory, beside: name)
        var isOpen = true
        var isRenamed = false
        // One defer, so the order is fixed: close (if still open), then remove unless renamed.
        defer {
            if isOpen { close(fd) }
            if !isRenamed { unlink(temporary) }
        }
        // The closure returns the error: `withUnsafeBytes` only rethrows untyped errors.
        let writeError = bytes.withUnsafeBytes { raw -> FileAccessError? in
            var done = 0
            while done < raw.count {
                let n = write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return FileAccessError(.write, code: errno)
                }
                done += n
            }
            return nil
        }
        if let writeError { throw writeError }
        if fsync(fd) != 0 { throw FileAccessError(.sync, code: errno) }
        isOpen = false
        if close(fd) != 0 { throw FileAccessError(.close, code: errno) }
        if rename(temporary, path) != 0 { throw FileAccessError(.rename, code: errno) }
        isRenamed = true
        syncDirectory(directory.isEmpty ? "." : directory)
    }

    /// `path` split after its last slash: ("dir/", "name"), ("/", "name") or ("", "name").
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        let afterSlash = path.index(after: slash)
        return (String(path[..<afterSlash]), String(path[afterSlash...]))
    }

    /// Creates `<directory>.<name>.tmp-<random>` exclusively for writing: hidden from `ls`, in the
    /// destination's file system (so the rename is atomic), never an existing file.
    static func createTemporary(in directory: String, beside name: String) throws(FileAccessError) -> (Int32, String) {
        var generator = SystemRandomNumberGenerator()
        var attempt = 0
        while true {
            let suffix = String(generator.next() as UInt64, radix: 16)
            let temporary = directory + "." + name + ".tmp-" + suffix
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if fd >= 0 { return (fd, temporary) }
            let code = errno
            attempt += 1
            // EEXIST only if another writer drew the same 64 random bits: try another name.
            if code == EINTR || (code == EEXIST && attempt < 8) { continue }
            throw FileAccessError(.createTemporary, code: code)
        }
    }

    /// Flushes the directory entry of a renamed file. Best effort: the rename has happened, and
    /// some file systems refuse to fsync a directory.
    static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            close(fd)
        }
    }
}
