// Test helper: a fresh temporary directory removed when the value goes away.
import Foundation

final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "spruce-onnx-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ bytes: [UInt8], to name: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path + "/" + name))
    }

    func contents() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }
}
