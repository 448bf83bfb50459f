// The committed protoc-c output must match the schemas: every formats/*.proto is regenerated
// into a temporary directory and compared byte for byte with Sources/CSpruceProto.
// Fails (does not skip) when protoc-c is missing: `make setup` installs it.
import Foundation
import Testing

@Suite struct ProtoFreshnessTests {
    /// Repository root, three levels above this file (Tests/SpruceONNXTests/<file>).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static func protocC() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/bin", "/usr/local/bin"] {
            let candidate = "\(directory)/protoc-c"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func schemas() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root + "/formats")) ?? []
        return names.filter { $0.hasSuffix(".proto") }.sorted()
    }

    @Test func schemasExist() {
        #expect(Self.schemas().contains("onnx.proto"))
    }

    @Test(arguments: schemas())
    func committedOutputMatchesSchema(schema: String) throws {
        guard let protoc = Self.protocC() else {
            Issue.record("protoc-c is not installed; run `make setup` (Debian package protobuf-c-compiler)")
            return
        }
        let output = NSTemporaryDirectory() + "spruce-proto-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: output) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: protoc)
        process.currentDirectoryURL = URL(fileURLWithPath: Self.root)
        process.arguments = ["--proto_path=formats", "--c_out=\(output)", "formats/\(schema)"]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "protoc-c failed on formats/\(schema)")

        let base = String(schema.dropLast(".proto".count))
        let pairs = [("\(base).pb-c.c", "Sources/CSpruceProto/\(base).pb-c.c"),
                     ("\(base).pb-c.h", "Sources/CSpruceProto/include/\(base).pb-c.h")]
        for (generated, committed) in pairs {
            let fresh = try Data(contentsOf: URL(fileURLWithPath: output + "/" + generated))
            let stored = FileManager.default.contents(atPath: Self.root + "/" + committed)
            #expect(stored == fresh, "\(committed) is stale or missing: run `make proto` and commit the result")
        }
    }
}
