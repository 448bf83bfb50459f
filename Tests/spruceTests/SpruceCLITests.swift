// End-to-end tests of the `spruce` binary: help texts, `run` on .npy tensors and images with a
// tiny model exported through ONNXExporter, `--output`, `inspect --json`, and that every error
// path prints exactly one `error:` line and exits non-zero without leaving an output file.
import Foundation
import Testing
import SpruceCore
import SpruceONNX
import SpruceTrain

/// Result of one run of the binary.
struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// The built `spruce` executable: next to the test bundle in the products directory.
func spruceExecutable() -> URL {
    var directory = Bundle.main.bundleURL
    if directory.pathExtension == "xctest" { directory.deleteLastPathComponent() }
    let beside = directory.appendingPathComponent("spruce")
    if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
    // Fallback for runners whose main bundle is elsewhere: the package's debug products.
    let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return package.appendingPathComponent(".build/debug/spruce")
}

/// Reads a pipe to its end on another thread, so a child that fills one pipe while the caller
/// reads the other cannot stall.
final class PipeDrain: @unchecked Sendable {
    // @unchecked: `data` is written once before `done` is signalled and read only after waiting on it.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        DispatchQueue.global().async { self.data = handle.readDataToEndOfFile(); self.done.signal() }
    }

    /// Everything the pipe delivered.
    func wait() -> Data { done.wait(); return data }
}

/// Runs `spruce` with `arguments` and collects its exit status and output.
func runSpruce(_ arguments: [String], in directory: String? = nil) throws -> ProcessResult {
    try runCommand(spruceExecutable().path, arguments, in: directory)
}

/// Runs a program with `arguments` (in `directory`, with `environment` added) and collects its
/// exit status and output.
func runCommand(_ path: String, _ arguments: [String], in directory: String? = nil,
                environment: [String: String] = [:]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes before waiting so a large output cannot fill one and stall the child.
    let errDrain = PipeDrain(err)
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = errDrain.wait()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus,
                         stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}

/// A temporary directory holding test models and inputs, removed on release.
final class Workspace: @unchecked Sendable {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "spruce-cli-tests-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)))
        return file(name)
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }

    /// Names of the files in the directory.
    func listing() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
}

/// Tiny classifiers built in Swift: a 1×1 conv mixing RGB, global average pool, flatten, sigmoid.
enum TinyModels {
    /// Conv weights per input channel (one is exactly zero, for the sparsity report) and bias.
    static let weights: [Float] = [0.5, 0, -1]
    static let bias: Float = 0.1

    static func classifier(nhwc: Bool = false, extraOutput: Bool = false) -> Model {
        var nodes: [Node] = []
        var input = "x"
        if nhwc {
            nodes.append(Node(name: "to_nchw", op: .transpose(perm: [0, 3, 1, 2]), inputs: ["x"], outputs: ["x_nchw"]))
            input = "x_nchw"
        }
        nodes += [
            Node(name: "conv", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: [input, "w", "b"], outputs: ["c"]),
            Node(name: "pool", op: .globalAveragePool, inputs: ["c"], outputs: ["g"]),
            Node(name: "flat", op: .flatten(axis: 1), inputs: ["g"], outputs: ["logit"]),
            Node(name: "sig", op: .sigmoid, inputs: ["logit"], outputs: ["prob"]),
        ]
        let graph = Graph(
            nodes: nodes,
            initializers: ["w": Tensor(shape: [1, 3, 1, 1], data: weights), "b": Tensor(shape: [1], data: [bias])],
            inputs: [ValueInfo(name: "x", shape: nhwc ? [1, 4, 4, 3] : [nil, 3, 4, 4])],
            outputs: [ValueInfo(name: "prob", shape: [nil, 1])] + (extraOutput ? [ValueInfo(name: "logit", shape: [nil, 1])] : []))
        return Model(graph: graph, metadata: ["purpose": "cli test"], producer: "spruce-tests")
    }

    /// The logit the classifier computes for an NCHW batch, written out from its definition.
    static func logits(_ x: Tensor) -> [Float] {
        let (n, plane) = (x.shape[0], x.shape[2] * x.shape[3])
        return (0..<n).map { i in
            var sum: Float = 0
            for c in 0..<3 {
                for p in 0..<plane { sum += weights[c] * x.data[(i * 3 + c) * plane + p] }
            }
            return sum / Float(plane) + bias
        }
    }

    static func sigmoid(_ v: Float) -> Float { 1 / (1 + exp(-v)) }
}

/// A 6×5 RGB PNG written by Pillow (random pixels).
let testPNG: [UInt8] = {
    let hex = Array([
        "89504e470d0a1a0a0000000d4948445200000006000000050802000000e93a0ab10000006a49444154789c015f00a0ff",
        "014ecc40d444bac7106d91ed65109f04f5d094000c97decbfb99d3eb50b6b02958078df1497c01df7bde46d959a3129c",
        "74391af9eb4c57addc0007127643f18a94dd382159d022c14ca7c5f204aae14649690739430603f20e32942ab7e647cb",
        "9c2d0db4650f580000000049454e44ae426082",
    ].joined().utf8)
    func nibble(_ c: UInt8) -> UInt8 { c <= UInt8(ascii: "9") ? c - UInt8(ascii: "0") : c - UInt8(ascii: "a") + 10 }
    return stride(from: 0, to: hex.count, by: 2).map { nibble(hex[$0]) << 4 | nibble(hex[$0 + 1]) }
}()

/// Deterministic pseudo-random floats in [0, 1).
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Float((z ^ (z >> 31)) >> 40) / Float(1 << 24)
    }
    mutating func tensor(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.elementCount).map { _ in next() })
    }
}
