// The one place Spruce names the C library of the platform it is built for (glibc, musl,
// Android's bionic, Darwin). Every other target imports `_SpruceSupport` and gets libm, POSIX
// files and threads from here, so a port to a new libc is a change to this file alone.
// Not a POSIX wrapper: code calls the C functions directly; only what differs gets a helper.

#if canImport(Glibc)
@_exported import Glibc
#elseif canImport(Musl)
@_exported import Musl
#elseif canImport(Android)
@_exported import Android
#elseif canImport(Darwin)
@_exported import Darwin
#else
#error("_SpruceSupport: unsupported platform (no Glibc, Musl, Android or Darwin module)")
#endif

/// The C library's text for the error code `code` (`strerror`), or "error N" when it has none.
public func systemErrorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}

/// `read(2)` under a name that types with a `read` member (such as `FileAccess`) can call.
@inline(__always)
func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}
