// libFuzzer entry point for ArtifactReader: arbitrary bytes must give an Artifact or a
// FormatError, never a crash, hang or memory error (AddressSanitizer watches). Not part of the
// package build; Tests/Fuzz/build.sh compiles it with -sanitize=fuzzer,address (see Tests/Fuzz/README.md).

import SpruceFormat

/// The first byte picks the mode, the rest is the file. Odd: checksums off, so the fuzzer reaches
/// the parsing behind them; even: the production path. The raw limit keeps ASan's allocator happy.
@_cdecl("LLVMFuzzerTestOneInput")
public func readerFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let options = ArtifactReader.Options(verifyChecksums: data[0] & 1 == 0, maxRawBytes: 64 << 20)
    do {
        let artifact = try ArtifactReader.decode(bytes, options: options)
        // Expanding must not trap either: it is what the runtime's reference path does.
        _ = artifact.denseModel()
    } catch {
        _ = error.description
    }
    return 0
}
