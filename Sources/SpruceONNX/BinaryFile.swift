// Whole-file and ranged reads, and atomic writes, over the C stdio API (no Foundation).
// Errors come back as a short reason string; callers wrap them into the ONNXError case that fits.
// This is not a general file abstraction: it does just what ONNX import and export need.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reasons a file operation failed, as one short line (errno text included).
struct FileFailure: Error {
    var reason: String
}

/// Minimal binary file access used by the importer and exporter.
enum BinaryFile {
    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }

    /// Opens `path` for reading and returns the handle with its size in bytes.
    private static func openForReading(_ path: String) throws -> (UnsafeMutablePointer<FILE>, Int) {
        guard let file = fopen(path, "rb") else { throw FileFailure(reason: errnoText()) }
        var info = stat()
        guard fstat(fileno(file), &info) == 0 else {
            let reason = errnoText()
            fclose(file)
            throw FileFailure(reason: reason)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            fclose(file)
            throw FileFailure(reason: "not a regular file")
        }
        return (file, Int(info.st_size))
    }

    /// Size in bytes of the regular file at `path`.
    static func size(of path: String) throws -> Int {
        let (file, size) = try openForReading(path)
        fclose(file)
        return size
    }

    /// The whole file, read in one `fread`.
    static func readAll(_ path: String) throws -> [UInt8] {
        let (file, size) = try openForReading(path)
        defer { fclose(file) }
        var readCount = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            if size > 0, let base = buffer.baseAddress {
                readCount = fread(base, 1, size, file)
            }
            initialized = readCount
        }
        guard readCount == size else {
            throw FileFailure(reason: ferror(file) != 0 ? errnoText() : "file shrank while reading")
        }
        return bytes
    }

    /// Calls `body` with the whole file's bytes, mapped read-only and pre-faulted (the kernel's page
    /// cache is used in place: no copy, no fresh heap pages to fault in); read into memory instead
    /// when the file is empty or cannot be mapped.
    static func withContents<R>(of path: String, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) throws -> R {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw FileFailure(reason: errnoText()) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw FileFailure(reason: errnoText()) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw FileFailure(reason: "not a regular file") }
        let size = Int(info.st_size)
        if size > 0, let map = mmap(nil, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, descriptor, 0), map != MAP_FAILED {
            defer { munmap(map, size) }
            return try body(UnsafeBufferPointer(start: map.assumingMemoryBound(to: UInt8.self), count: size))
        }
        return try readAll(path).withUnsafeBufferPointer(body)
    }

    /// Reads exactly `destination.count` bytes starting at `offset` into `destination`.
    static func read(_ path: String, offset: Int, into destination: UnsafeMutableRawBufferPointer) throws {
        let (file, _) = try openForReading(path)
        defer { fclose(file) }
        guard fseeko(file, off_t(offset), SEEK_SET) == 0 else { throw FileFailure(reason: errnoText()) }
        guard let base = destination.baseAddress, destination.count > 0 else { return }
        let got = fread(base, 1, destination.count, file)
        guard got == destination.count else { throw FileFailure(reason: "short read (\(got) of \(destination.count) bytes)") }
    }

    /// Writes `bytes` to a temporary file beside `path`, flushes it and renames it over `path`,
    /// so readers never see a half-written file.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        guard let file = fopen(temporary, "wb") else { throw FileFailure(reason: errnoText()) }
        let written = bytes.withUnsafeBytes { raw -> Int in
            guard let base = raw.baseAddress, raw.count > 0 else { return 0 }
            return fwrite(base, 1, raw.count, file)
        }
        let flushed = fflush(file) == 0 && fsync(fileno(file)) == 0
        let closed = fclose(file) == 0
        guard written == bytes.count, flushed, closed else {
            let reason = errnoText()
            unlink(temporary)
            throw FileFailure(reason: reason)
        }
        guard rename(temporary, path) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw FileFailure(reason: reason)
        }
    }

    /// The directory part of `path` ("." when it has none).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = path[..<slash]
        return dir.isEmpty ? "/" : String(dir)
    }
}
