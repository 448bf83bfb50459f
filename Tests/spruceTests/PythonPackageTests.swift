// The Python package (python/spruce, ctypes over the C API) against `spruce run` on a packed
// fixture: the same artifact and input give the same output array, and the package reports the
// model's inputs, outputs, metadata and version. Skipped, saying so, where python3 or NumPy is
// missing (`make setup` installs python3-numpy).
import Foundation
import SpruceCore
import Testing

/// Whether `python3` with NumPy can run here.
private let pythonWithNumPy: Bool = {
    guard let result = try? runCommand("/usr/bin/env", ["python3", "-c", "import numpy"]) else { return false }
    return result.status == 0
}()

/// Runs a program with environment additions; returns its status and output.
private func runCommand(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let errDrain = PipeDrain(err)
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = errDrain.wait()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}

@Suite struct PythonPackageTests {
    @Test("spruce.Model runs an artifact like spruce run, preprocesses RGB bytes as recorded, and reports inputs, outputs and metadata",
          .enabled(if: pythonWithNumPy, "python3 with NumPy is missing (make setup installs python3-numpy)"))
    func pythonMatchesRun() throws {
        let ws = Workspace()
        let artifact = ws.file("m.spruce")
        let packed = try runSpruce(["pack", Fixtures.onnx("keras_resnetv2_small.onnx"), "-o", artifact, "--sparsity", "0.9", "--int8",
                                     "--scaling", "imagenet"])
        #expect(packed.status == 0, "\(packed.stderr)")
        var rng = SplitMix64(state: 17)
        let input = Tensor(shape: [3, 64, 64, 3], data: (0..<(3 * 64 * 64 * 3)).map { _ in rng.next() })
        let inputPath = try ws.write("in.npy", input.npyBytes())
        let ran = try runSpruce(["run", artifact, inputPath, "--output", ws.file("cli.npy")])
        #expect(ran.status == 0, "\(ran.stderr)")

        let script = """
            import sys, numpy as np, spruce
            m = spruce.Model(sys.argv[1])
            out = m.run(np.load(sys.argv[2]))
            np.save(sys.argv[3], out)
            print("inputs", m.inputs)
            print("outputs", m.outputs)
            print("sparsity", m.metadata["sparsity"])
            print("version", spruce.version(), spruce.format_version())
            rgb = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
            mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
            expected = (rgb.astype(np.float32) / np.float32(255) - mean) / std
            print("preprocess", m.preprocess(rgb).shape, float(np.abs(m.preprocess(rgb) - expected).max()) < 1e-6)
            try:
                spruce.Model(sys.argv[1] + ".missing")
            except spruce.SpruceError as e:
                print("error", e)
            """
        let root = Fixtures.root
        let library = spruceExecutable().deletingLastPathComponent().appendingPathComponent("libSpruceRuntimeC.so").path
        let py = try runCommand("/usr/bin/env", ["python3", "-c", script, artifact, inputPath, ws.file("py.npy")],
                                environment: ["PYTHONPATH": root + "/python", "SPRUCE_LIBRARY": library])
        #expect(py.status == 0, "\(py.stderr)")
        #expect(py.stdout.contains("inputs [('input', (1, 64, 64, 3))]"), "\(py.stdout)")
        #expect(py.stdout.contains("outputs [('prob', (1, 1))]"))
        #expect(py.stdout.contains("sparsity 0.9000"))
        #expect(py.stdout.contains("version \(SpruceVersion.current) (1, 0)"))
        #expect(py.stdout.contains("preprocess (2, 64, 64, 3) True"), "\(py.stdout)")
        #expect(py.stdout.contains("error ") && py.stdout.contains("m.spruce.missing"))

        let cli = try Tensor(npyBytes: Array(try Data(contentsOf: URL(fileURLWithPath: ws.file("cli.npy")))))
        let python = try Tensor(npyBytes: Array(try Data(contentsOf: URL(fileURLWithPath: ws.file("py.npy")))))
        #expect(python.shape == [3, 1])
        #expect(python == cli, "python \(python.data), spruce run \(cli.data)")
    }
}
