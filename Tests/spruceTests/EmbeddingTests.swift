// The ways to embed an artifact besides C, each against `spruce run` on a packed fixture: the
// Python package (python/spruce, ctypes over the C API; skipped, saying so, where python3 or NumPy
// is missing: `make setup` installs python3-numpy) gives the same output array and reports inputs,
// outputs, metadata and version; the Swift package example (Examples/Classify) builds as a
// dependent package and gives the same score.
import Foundation
import SpruceCore
import SpruceTrain
import Testing

/// Whether `python3` with NumPy can run here.
private let pythonWithNumPy: Bool = {
    guard let result = try? runCommand("/usr/bin/env", ["python3", "-c", "import numpy"]) else { return false }
    return result.status == 0
}()

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
        #expect(py.stdout.contains("version \(SpruceVersion.current) (2, 0)"))
        #expect(py.stdout.contains("preprocess (2, 64, 64, 3) True"), "\(py.stdout)")
        #expect(py.stdout.contains("error ") && py.stdout.contains("m.spruce.missing"))

        let cli = try Tensor(npyBytes: Array(try Data(contentsOf: URL(fileURLWithPath: ws.file("cli.npy")))))
        let python = try Tensor(npyBytes: Array(try Data(contentsOf: URL(fileURLWithPath: ws.file("py.npy")))))
        #expect(python.shape == [3, 1])
        #expect(python == cli, "python \(python.data), spruce run \(cli.data)")
    }
}

/// The Swift package example (Examples/Classify) built as a dependent package builds it: plain
/// `swift build`, no Makefile flags; it scores a PPM image like `spruce run` scores the same pixels.
@Suite struct SwiftPackageExampleTests {
    @Test("Examples/Classify builds with plain swift build and scores an image like spruce run")
    func exampleBuildsAndClassifies() throws {
        let example = Fixtures.root + "/Examples/Classify"
        let build = try runCommand("/usr/bin/env", ["swift", "build", "--package-path", example])
        // swift build reports compile errors on stdout.
        #expect(build.status == 0, "\((build.stdout + build.stderr).suffix(2000))")
        guard build.status == 0 else { return }
        let ws = Workspace()
        let artifact = ws.file("m.spruce")
        let packed = try runSpruce(["pack", Fixtures.onnx("keras_resnetv2_small.onnx"), "-o", artifact, "--int8", "--scaling", "symmetric"])
        #expect(packed.status == 0, "\(packed.stderr)")
        // A 64x64 image as PNG (for spruce run) and as PPM (for the example), the same pixels.
        let image = try ImageLoader.loadImage(path: Fixtures.image("ISIC_0024618.jpg"))
        let pixels = ImageLoader.tensor(from: image, height: 64, width: 64, layout: .nhwc).data.map { UInt8(($0 * 255).rounded()) }
        let ppm = try ws.write("lesion.ppm", Array("P6\n64 64\n255\n".utf8) + pixels)
        var npy = pixels.map { Float($0) / 255 }
        InputNormalization.symmetric.normalize(&npy, channelsFirst: false, pixelsPerImage: 64 * 64)
        let input = try ws.write("lesion.npy", Tensor(shape: [1, 64, 64, 3], data: npy).npyBytes())
        let ran = try runSpruce(["run", artifact, input])
        let classified = try runCommand(example + "/.build/debug/classify", [artifact, ppm])
        #expect(ran.status == 0 && classified.status == 0, "\(ran.stderr) \(classified.stderr)")
        let cli = Double(ran.stdout.split(separator: ":").last.map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "")
        let words = classified.stdout.split(separator: " ")
        let score = words.count >= 2 ? Double(String(words[1])) : nil
        #expect(cli != nil && score != nil && abs((cli ?? 0) - (score ?? 1)) < 1e-4, "spruce run \(ran.stdout), example \(classified.stdout)")
    }
}
