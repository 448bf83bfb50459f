// The support target's file access: whole, mapped and ranged reads, and the one atomic write
// (replacement only on success, nothing left behind on failure, a normal file mode). Each test
// uses a fresh mkdtemp directory and the C library only, as the target itself does.

import Testing
import _SpruceSupport

@Suite struct FileAccessTests {
    static func temporaryDirectory() -> String {
        var template = Array("/tmp/spruce-support-test-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        return String(cString: path!)
    }

    static func entries(of directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    @Test(arguments: [0, 1, 4095, 4096, 100_003])
    func writesAndReadsBack(count: Int) throws {
        let dir = Self.temporaryDirectory()
        let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try FileAccess.writeAtomically(bytes, to: dir + "/data.bin")
        #expect(try FileAccess.read(path: dir + "/data.bin") == bytes)
        #expect(try FileAccess.size(path: dir + "/data.bin") == count)
        #expect(try FileAccess.withContents(path: dir + "/data.bin") { Array($0) } == bytes)
        #expect(Self.entries(of: dir) == ["data.bin"])
    }

    @Test func replacesAnExistingFile() throws {
        let dir = Self.temporaryDirectory()
        try FileAccess.writeAtomically([1, 2, 3], to: dir + "/f")
        try FileAccess.writeAtomically([4, 5], to: dir + "/f")
        #expect(try FileAccess.read(path: dir + "/f") == [4, 5])
        #expect(Self.entries(of: dir) == ["f"])
    }

    @Test func newFileHasTheUsualMode() throws {
        let dir = Self.temporaryDirectory()
        try FileAccess.writeAtomically([1], to: dir + "/f")
        // A file created the ordinary way shows what the umask allows (reading the umask would
        // mean setting it, for the whole process).
        let fd = open(dir + "/reference", O_WRONLY | O_CREAT, 0o666)
        #expect(fd >= 0)
        close(fd)
        var written = stat(), reference = stat()
        #expect(stat(dir + "/f", &written) == 0 && stat(dir + "/reference", &reference) == 0)
        #expect(written.st_mode & 0o777 == reference.st_mode & 0o777)
    }

    @Test func failedRenameKeepsTheDestinationAndRemovesTheTemporaryFile() throws {
        let dir = Self.temporaryDirectory()
        #expect(mkdir(dir + "/occupied", 0o755) == 0)
        #expect(mkdir(dir + "/occupied/child", 0o755) == 0)  // a non-empty directory cannot be renamed over
        #expect { try FileAccess.writeAtomically([1], to: dir + "/occupied") } throws: { error in
            (error as? FileAccessError)?.step == .rename
        }
        #expect(Self.entries(of: dir) == ["occupied"])
        #expect(Self.entries(of: dir + "/occupied") == ["child"])
    }

    @Test func missingDirectoryFailsAtTheTemporaryFile() {
        let dir = Self.temporaryDirectory()
        #expect(throws: FileAccessError(.createTemporary, code: ENOENT)) {
            try FileAccess.writeAtomically([1], to: dir + "/missing/f")
        }
        #expect(FileAccessError(.createTemporary, code: ENOENT).description
                == "cannot create a temporary file beside it: " + systemErrorText(ENOENT))
        #expect(Self.entries(of: dir).isEmpty)
    }

    @Test func readFailuresNameTheStep() {
        let dir = Self.temporaryDirectory()
        #expect(throws: FileAccessError(.open, code: ENOENT)) { try FileAccess.read(path: dir + "/none") }
        #expect { try FileAccess.read(path: dir) } throws: { error in
            (error as? FileAccessError)?.description == "not a regular file"
        }
    }

    @Test func rangedReadIsExactOrFails() throws {
        let dir = Self.temporaryDirectory()
        try FileAccess.writeAtomically(Array(0..<10), to: dir + "/f")
        var buffer = [UInt8](repeating: 0, count: 4)
        try buffer.withUnsafeMutableBytes { try FileAccess.read(path: dir + "/f", offset: 3, into: $0) }
        #expect(buffer == [3, 4, 5, 6])
        #expect(throws: FileAccessError(step: .read, code: 0, reason: "short read (2 of 4 bytes)")) {
            try buffer.withUnsafeMutableBytes { try FileAccess.read(path: dir + "/f", offset: 8, into: $0) }
        }
    }

    @Test func simdHelpersMatchScalarCode() {
        var a: [Float] = (0..<9).map { Float($0) + 0.5 }
        let b: [Float] = (0..<9).map { Float($0) * 0.25 }
        a.withUnsafeMutableBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                // Offset by one float: the loads and stores must not need alignment.
                let v = multiplyAdd(load8(pa.baseAddress! + 1), load8(pb.baseAddress! + 1), SIMD8(repeating: 2))
                store8(v, pa.baseAddress! + 1)
            }
        }
        var expected: [Float] = [0.5]
        for i in 1..<9 { expected.append(Float(i) + 0.5 + Float(i) * 0.25 * 2) }
        #expect(a == expected)
    }
}
