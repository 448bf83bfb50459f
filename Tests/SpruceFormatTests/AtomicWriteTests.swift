// The writer's file behaviour: atomic replacement, clean failure, nothing left behind.
// Uses a fresh mkdtemp directory per test and Glibc only (the format target is Foundation-free).

import _SpruceSupport
import SpruceCore
@testable import SpruceFormat
import Testing

@Suite struct AtomicWriteTests {
    static func temporaryDirectory() -> String {
        var template = Array("/tmp/spruce-format-test-XXXXXX".utf8CString)
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

    @Test func writesAndReadsBack() throws {
        let dir = Self.temporaryDirectory()
        let path = dir + "/model.spruce"
        let model = smallModel(sparsity: 0.5)
        try ArtifactWriter().write(model, to: path)
        #expect(try ArtifactReader.load(path: path).denseModel() == model)
        #expect(Self.entries(of: dir) == ["model.spruce"])
    }

    @Test func missingDirectoryFailsCleanly() throws {
        let dir = Self.temporaryDirectory()
        #expect { try ArtifactWriter().write(smallModel(sparsity: 0), to: dir + "/missing/model.spruce") } throws: { error in
            guard case FormatError.ioFailed(let path, _) = error else { return false }
            return path == dir + "/missing/model.spruce"
        }
        #expect(Self.entries(of: dir).isEmpty)
    }

    @Test func existingFileIsReplacedOnlyOnSuccess() throws {
        let dir = Self.temporaryDirectory()
        let path = dir + "/model.spruce"
        let first = smallModel(sparsity: 0, seed: 1)
        try ArtifactWriter().write(first, to: path)
        let before = try FileIO.read(path: path)

        // A model the writer refuses: the old file must stay byte for byte.
        var bad = smallModel(sparsity: 0, seed: 2)
        bad.graph.initializers["bad\u{0}name"] = Tensor(shape: [1], data: [1])
        #expect(throws: FormatError.self) { try ArtifactWriter().write(bad, to: path) }
        #expect(try FileIO.read(path: path) == before)
        #expect(Self.entries(of: dir) == ["model.spruce"])

        let second = smallModel(sparsity: 0.9, seed: 3)
        try ArtifactWriter().write(second, to: path)
        #expect(try ArtifactReader.load(path: path).denseModel() == second)
        #expect(Self.entries(of: dir) == ["model.spruce"])
    }

    @Test func failedRenameLeavesNoTemporaryFile() throws {
        let dir = Self.temporaryDirectory()
        let target = dir + "/occupied"
        #expect(mkdir(target, 0o755) == 0)
        #expect(mkdir(target + "/child", 0o755) == 0)  // a non-empty directory cannot be renamed over
        #expect(throws: FormatError.self) { try ArtifactWriter().write(smallModel(sparsity: 0), to: target) }
        #expect(Self.entries(of: dir) == ["occupied"])
    }

    @Test func readingMissingFileIsTyped() {
        #expect { try ArtifactReader.load(path: "/nonexistent/model.spruce") } throws: { error in
            guard case FormatError.ioFailed = error else { return false }
            return true
        }
    }
}
