// Reading regular files with the C library: whole, mapped in place, or a byte range. Foundation-
// free, so the format reader and the runtime use it too. Errors are `FileAccessError`s that the
// caller maps into its own error type. The atomic write is in FileAccess+AtomicWrite.swift.
// Not a file abstraction: no handles outlive a call, no directories, no text.

/// Whole-file, mapped and ranged reads of regular files, and the one atomic write.
public enum FileAccess {
    /// The whole file at `path`, read to its end (a file that grows or shrinks meanwhile is
    /// returned as it was when the read reached its end).
    public static func read(path: String) throws(FileAccessError) -> [UInt8] {
        let (fd, size) = try openRegularFile(path)
        defer { close(fd) }
        return try readToEnd(fd, expectedSize: size)
    }

    /// Size in bytes of the regular file at `path`.
    public static func size(path: String) throws(FileAccessError) -> Int {
        let (fd, size) = try openRegularFile(path)
        close(fd)
        return size
    }

    /// Reads exactly `destination.count` bytes starting at byte `offset` of the file at `path`.
    public static func read(path: String, offset: Int, into destination: UnsafeMutableRawBufferPointer)
        throws(FileAccessError)
    {
        let (fd, _) = try openRegularFile(path)
        defer { close(fd) }
        guard let base = destination.baseAddress, destination.count > 0 else { return }
        var done = 0
        while done < destination.count {
            let n = pread(fd, base + done, destination.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileAccessError(.read, code: errno)
            }
            if n == 0 {
                throw FileAccessError(step: .read, code: 0, reason: "short read (\(done) of \(destination.count) bytes)")
            }
            done += n
        }
    }

    /// Calls `body` with the whole file's bytes, mapped read-only (pre-faulted where the kernel
    /// can): the page cache is used in place, with no copy and no fresh heap pages to fault in.
    /// An empty file, or one that cannot be mapped, is read into memory instead. Throws
    /// `FileAccessError` or what `body` throws.
    public static func withContents<R>(path: String, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) throws -> R {
        let (fd, size) = try openRegularFile(path)
        defer { close(fd) }
        #if os(Linux) || os(Android)
        let flags = MAP_PRIVATE | MAP_POPULATE
        #else
        let flags = MAP_PRIVATE
        #endif
        if size > 0, let map = mmap(nil, size, PROT_READ, flags, fd, 0), map != UnsafeMutableRawPointer(bitPattern: -1) {
            defer { munmap(map, size) }
            return try body(UnsafeBufferPointer(start: map.assumingMemoryBound(to: UInt8.self), count: size))
        }
        return try readToEnd(fd, expectedSize: size).withUnsafeBufferPointer(body)
    }

    /// Opens `path` read-only and checks that it is a regular file; returns the descriptor and
    /// the size `fstat` reports. The caller closes the descriptor.
    static func openRegularFile(_ path: String) throws(FileAccessError) -> (Int32, Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw FileAccessError(.open, code: errno) }
        var info = stat()
        if fstat(fd, &info) != 0 {
            let code = errno
            close(fd)
            throw FileAccessError(.status, code: code)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw FileAccessError(step: .notRegularFile, code: 0, reason: "not a regular file")
        }
        return (fd, Int(info.st_size))
    }

    /// Reads `fd` from its current position to the end; `expectedSize` sizes the first buffer.
    static func readToEnd(_ fd: Int32, expectedSize: Int) throws(FileAccessError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(0, expectedSize))
        var done = 0
        while true {
            // One read past the expected size proves the end; the buffer grows only if the file did.
            if done == bytes.count { bytes.append(contentsOf: repeatElement(0, count: max(4096, bytes.count / 2))) }
            let n = bytes.withUnsafeMutableBytes { b in systemRead(fd, b.baseAddress! + done, b.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileAccessError(.read, code: errno)
            }
            if n == 0 { break }
            done += n
        }
        bytes.removeLast(bytes.count - done)
        return bytes
    }
}
