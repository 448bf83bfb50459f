// The C API (include/spruce.h): the @_cdecl functions called directly (shapes, batch rules,
// error messages), and the example program Tests/CExample/classify.c compiled with `cc` against
// the built libSpruceRuntimeC.so and run on an artifact written here, its printed scores compared
// with the engine's. Uses Foundation (Process) only in this test file; the runtime has none.
import Foundation
import SpruceCore
import SpruceFormat
@testable import SpruceRuntime
import Testing

/// conv 3×3 (relu) → conv 1×1 → global average pool → flatten → gemm(1) → sigmoid: a tiny binary classifier.
func tinyClassifier(sparsity: Double, seed: UInt64) -> Model {
    var rng = SplitMix64(seed: seed)
    var g = Graph()
    g.inputs = [ValueInfo(name: "image", shape: [nil, 3, 12, 12])]
    g.initializers["w1"] = pruned(randomTensor([8, 3, 3, 3], &rng, scale: 0.5), sparsity)
    g.initializers["b1"] = randomTensor([8], &rng, scale: 0.1)
    g.initializers["w2"] = pruned(randomTensor([16, 8, 1, 1], &rng, scale: 0.5), sparsity)
    g.initializers["wf"] = randomTensor([1, 16], &rng)
    g.initializers["bf"] = randomTensor([1], &rng, scale: 0.1)
    g.nodes = [
        Node(name: "conv1", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1], activation: .relu)),
             inputs: ["image", "w1", "b1"], outputs: ["c1"]),
        Node(name: "conv2", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["c1", "w2"], outputs: ["c2"]),
        Node(name: "gap", op: .globalAveragePool, inputs: ["c2"], outputs: ["g"]),
        Node(name: "flat", op: .flatten(axis: 1), inputs: ["g"], outputs: ["f"]),
        Node(name: "fc", op: .gemm(GemmAttributes(transB: true)), inputs: ["f", "wf", "bf"], outputs: ["logit"]),
        Node(name: "prob", op: .sigmoid, inputs: ["logit"], outputs: ["score"]),
    ]
    g.outputs = [ValueInfo(name: "score", shape: [nil, 1])]
    return Model(graph: g)
}

@Test func cAPIShapesRunAndErrors() throws {
    let bytes = try ArtifactWriter().encode(tinyClassifier(sparsity: 0.5, seed: 3))
    let model = bytes.withUnsafeBytes { spruce_load_bytes($0.baseAddress, $0.count, 2) }
    #expect(model != nil)
    defer { spruce_free(model) }
    #expect(spruce_input_count(model) == 1)
    #expect(spruce_output_count(model) == 1)
    #expect(String(cString: spruce_input_name(model, 0)!) == "image")
    #expect(String(cString: spruce_output_name(model, 0)!) == "score")
    #expect(spruce_input_name(model, 1) == nil)
    var dims = [Int64](repeating: -7, count: 4)
    #expect(spruce_input_shape(model, 0, &dims, 4) == 4)
    #expect(dims == [1, 3, 12, 12])
    #expect(spruce_output_shape(model, 0, nil, 0) == 2)
    #expect(spruce_input_size(model, 0) == 432)
    #expect(spruce_output_size(model, 0) == 1)
    #expect(spruce_batch_dynamic(model) == 1)

    var rng = SplitMix64(seed: 9)
    let input = rng.floats(3 * 432)
    var output = [Float](repeating: -1, count: 3)
    #expect(spruce_run(model, input, input.count, &output, 3) == 3)
    let engine = try Engine(bytes: bytes)
    let expected = try engine.run(["image": Tensor(shape: [3, 3, 12, 12], data: input)])["score"]!.data
    #expect(output == expected)

    // Counts that do not fit the model fail with a message naming the tensor.
    #expect(spruce_run(model, input, 431, &output, 1) == -1)
    #expect(String(cString: spruce_last_error()).contains("image"))
    #expect(spruce_run(model, input, input.count, &output, 2) == -1)
    #expect(String(cString: spruce_last_error()).contains("score"))
    #expect(spruce_run(nil, input, input.count, &output, 3) == -1)
    #expect(spruce_input_count(nil) == -1)
    #expect(spruce_load(nil, 1) == nil)
    #expect(spruce_load("/nonexistent/dir/model.spruce", 1) == nil)
    #expect(String(cString: spruce_last_error()).contains("/nonexistent/dir/model.spruce"))
    let garbage: [UInt8] = Array(bytes.prefix(64))
    #expect(garbage.withUnsafeBytes { spruce_load_bytes($0.baseAddress, $0.count, 1) } == nil)
    #expect(!String(cString: spruce_last_error()).isEmpty)

    // spruce_run_batch with explicit pointers.
    var out2 = [Float](repeating: -1, count: 3)
    let status = input.withUnsafeBufferPointer { ip in
        out2.withUnsafeMutableBufferPointer { op in
            var ins: [UnsafePointer<Float>?] = [ip.baseAddress]
            var outs: [UnsafeMutablePointer<Float>?] = [op.baseAddress]
            return spruce_run_batch(model, 3, &ins, &outs)
        }
    }
    #expect(status == 0)
    #expect(out2 == expected)
}

@Test("metadata, version and format version through the C API; NULL and out-of-range arguments are errors, never crashes")
func cAPIMetadataAndMisuse() throws {
    var m = tinyClassifier(sparsity: 0.5, seed: 3)
    m.metadata = ["source_file": "tiny.onnx", "labels": "benign,malignant"]
    let bytes = try ArtifactWriter().encode(m)
    let model = bytes.withUnsafeBytes { spruce_load_bytes($0.baseAddress, $0.count, 1) }
    try #require(model != nil)
    defer { spruce_free(model) }
    #expect(spruce_metadata_count(model) == 2)
    #expect(String(cString: spruce_metadata_key(model, 0)!) == "labels")  // sorted by key
    #expect(String(cString: spruce_metadata_value(model, 0)!) == "benign,malignant")
    #expect(String(cString: spruce_metadata(model, "source_file")!) == "tiny.onnx")
    #expect(spruce_metadata(model, "absent") == nil)
    #expect(String(cString: spruce_last_error()).contains("absent"))
    #expect(String(cString: spruce_version()) == SpruceVersion.current)
    var minor: Int32 = -1
    #expect(spruce_format_version(&minor) == 2 && minor == 0)
    #expect(spruce_format_version(nil) == 2)

    // Misuse: NULL models, NULL arguments, indices out of range, sizes that do not fit.
    #expect(spruce_metadata_count(nil) == -1)
    #expect(spruce_metadata_key(model, 2) == nil && spruce_metadata_key(model, -1) == nil)
    #expect(spruce_metadata_value(nil, 0) == nil)
    #expect(spruce_metadata(model, nil) == nil && spruce_metadata(nil, "labels") == nil)
    #expect(spruce_output_count(nil) == -1 && spruce_batch_dynamic(nil) == -1)
    #expect(spruce_input_name(nil, 0) == nil && spruce_output_name(model, -1) == nil)
    var dims = [Int64](repeating: 0, count: 4)
    #expect(spruce_input_shape(nil, 0, &dims, 4) == -1 && spruce_output_shape(model, 3, &dims, 4) == -1)
    #expect(spruce_input_size(nil, 0) == 0 && spruce_output_size(model, 5) == 0)
    var output = [Float](repeating: 0, count: 1)
    let input = [Float](repeating: 0.5, count: 432)
    #expect(spruce_run(model, nil, 432, &output, 1) == -1)
    #expect(spruce_run(model, input, 432, nil, 1) == -1)
    #expect(spruce_run(model, input, 0, &output, 0) == -1)
    #expect(spruce_run_batch(model, 1, nil, nil) == -1)
    #expect(spruce_run_batch(model, 0, nil, nil) == -1)
    #expect(spruce_load_bytes(nil, 10, 1) == nil)
    #expect(!String(cString: spruce_last_error()).isEmpty)
    spruce_free(nil)
}

@Test("spruce_preprocess lays out RGB bytes as the input and applies the recorded scaling")
func cAPIPreprocess() throws {
    var m = tinyClassifier(sparsity: 0.5, seed: 3)
    m.metadata = InputNormalization.imageNet.metadata
    let bytes = try ArtifactWriter().encode(m)
    let model = bytes.withUnsafeBytes { spruce_load_bytes($0.baseAddress, $0.count, 1) }
    try #require(model != nil)
    defer { spruce_free(model) }
    let rgb: [UInt8] = (0..<(12 * 12 * 3)).map { UInt8(($0 * 37) % 256) }
    var out = [Float](repeating: .nan, count: 432)
    #expect(spruce_preprocess(model, rgb, 12, 12, &out, 432) == 0)
    let n = InputNormalization.imageNet
    for y in [0, 5, 11] {
        for x in [0, 7, 11] {
            for c in 0..<3 {
                let expected = (Float(rgb[(y * 12 + x) * 3 + c]) / 255 - n.mean[c]) / n.std[c]
                #expect(out[(c * 12 + y) * 12 + x] == expected, "pixel (\(y), \(x)) channel \(c)")
            }
        }
    }
    #expect(spruce_preprocess(model, rgb, 11, 12, &out, 432) == -1)
    #expect(String(cString: spruce_last_error()).contains("resize"))
    #expect(spruce_preprocess(model, rgb, 12, 12, &out, 431) == -1)
    #expect(spruce_preprocess(model, nil, 12, 12, &out, 432) == -1)
    #expect(spruce_preprocess(nil, rgb, 12, 12, &out, 432) == -1)

    // Without recorded scaling the pixels land in [0, 1].
    let plain = try ArtifactWriter().encode(tinyClassifier(sparsity: 0.5, seed: 3))
    let unit = plain.withUnsafeBytes { spruce_load_bytes($0.baseAddress, $0.count, 1) }
    defer { spruce_free(unit) }
    #expect(spruce_preprocess(unit, rgb, 12, 12, &out, 432) == 0)
    #expect(out[0] == Float(rgb[0]) / 255 && out[144] == Float(rgb[1]) / 255)
}

@Test func lastErrorIsPerThread() async throws {
    _ = spruce_load("/nonexistent/a.spruce", 1)
    let here = String(cString: spruce_last_error())
    let other = await Task.detached { () -> String in
        // A fresh thread of the cooperative pool may have had errors of its own: set one first.
        _ = spruce_load("/nonexistent/b.spruce", 1)
        return String(cString: spruce_last_error())
    }.value
    #expect(other.contains("b.spruce"))
    #expect(here.contains("a.spruce"))
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

/// Runs an executable; returns (exit status, stdout, stderr).
func runProcess(_ path: String, _ arguments: [String]) throws -> (Int32, String, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let errDrain = PipeDrain(err)
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = errDrain.wait()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// The directory holding the test binary and the package's built libraries.
func buildProductsDirectory() -> String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // On Linux the test binary is <products>/SprucePackageTests.xctest; elsewhere it may sit deeper in a bundle.
    while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("libSpruceRuntimeC.so").path),
          dir.pathComponents.count > 2 {
        dir = dir.deletingLastPathComponent()
    }
    return dir.path
}

/// The Swift runtime's library directory (for the example's rpath).
func swiftRuntimeLibraryDirectory() -> String {
    let candidates = ["/opt/swift/usr/lib/swift/linux"]
        + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map {
            URL(fileURLWithPath: String($0)).deletingLastPathComponent().appendingPathComponent("lib/swift/linux").path
        }
    return candidates.first { FileManager.default.fileExists(atPath: $0 + "/libswiftCore.so") } ?? candidates[0]
}

@Test func cExampleClassifiesLikeTheEngine() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let products = buildProductsDirectory()
    let library = products + "/libSpruceRuntimeC.so"
    try #require(FileManager.default.fileExists(atPath: library), "built library missing: \(library)")
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("spruce-capi-\(getpid())")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: work) }

    let exe = work.appendingPathComponent("classify").path
    let swiftLib = swiftRuntimeLibraryDirectory()
    // Under `make sanitize` the library is instrumented, so the program is built by the Swift
    // toolchain's clang with the same sanitizer (its runtime is the one the library expects).
    var sanitizer = ProcessInfo.processInfo.environment["SPRUCE_SANITIZE"].map { ["-fsanitize=" + $0] } ?? []
    // The toolchain's TSan runtime intercepts libdispatch, so the program links it and its blocks runtime.
    if sanitizer == ["-fsanitize=thread"] { sanitizer += ["-L", swiftLib, "-ldispatch", "-lBlocksRuntime"] }
    let compiler = sanitizer.isEmpty ? "cc" : "clang"
    let (ccStatus, _, ccErr) = try runProcess("/usr/bin/env", [
        compiler, "-std=c99", "-Wall", "-O1"] + sanitizer + [root.appendingPathComponent("Tests/CExample/classify.c").path,
        "-I", root.appendingPathComponent("Sources/SpruceRuntime/include").path,
        "-L", products, "-lSpruceRuntimeC", "-Wl,-rpath,\(products)", "-Wl,-rpath,\(swiftLib)", "-o", exe,
    ])
    #expect(ccStatus == 0, "cc failed: \(ccErr)")
    guard ccStatus == 0 else { return }

    let (_, npyPath) = try checkClassify(exe, in: work)

    // Error path: a missing artifact exits non-zero with spruce_last_error's message.
    let missing = work.appendingPathComponent("missing.spruce").path
    let (status, _, err) = try runProcess(exe, [missing, npyPath])
    #expect(status != 0)
    #expect(err.contains("missing.spruce"))
}

/// Runs the compiled C example `exe` on a tiny int8 artifact written to `work` (two samples, one
/// and two threads) and checks its scores and decisions against the engine's. Returns the
/// artifact and input paths.
@discardableResult
func checkClassify(_ exe: String, in work: URL) throws -> (artifact: String, input: String) {
    let model = tinyClassifier(sparsity: 0.5, seed: 21)
    let artifactPath = work.appendingPathComponent("tiny.spruce").path
    try ArtifactWriter(int8: true).write(model, to: artifactPath)
    var rng = SplitMix64(seed: 4)
    let input = Tensor(shape: [2, 3, 12, 12], data: rng.floats(2 * 432))
    let npyPath = work.appendingPathComponent("input.npy").path
    try Data(input.npyBytes()).write(to: URL(fileURLWithPath: npyPath))
    let expected = try Engine(path: artifactPath).run(["image": input])["score"]!.data

    for threads in ["1", "2"] {
        let (status, out, err) = try runProcess(exe, [artifactPath, npyPath, threads])
        #expect(status == 0, "classify failed: \(err)")
        #expect(out.contains("input image: [1, 3, 12, 12]"))
        let scores = out.split(separator: "\n").filter { $0.hasPrefix("sample ") }.compactMap { line -> Float? in
            let words = line.split(separator: " ")
            guard let i = words.firstIndex(of: "score"), i + 1 < words.count else { return nil }
            return Float(String(words[i + 1]))
        }
        #expect(scores.count == 2)
        for (s, e) in zip(scores, expected) { #expect(abs(s - e) <= 1e-6, "C printed \(s), engine \(e)") }
        for (line, e) in zip(out.split(separator: "\n").filter { $0.hasPrefix("sample ") }, expected) {
            #expect(line.hasSuffix(e >= 0.5 ? "malignant" : "benign"))
        }
    }

    return (artifactPath, npyPath)
}

@Test("make install puts spruce.h, libspruce.so/.a, pkg-config files and the command under PREFIX; C builds with pkg-config alone; make uninstall removes them")
func installedRuntimeBuildsWithPkgConfig() throws {
    // The sanitizer builds live in their own scratch folders and instrument the library.
    guard ProcessInfo.processInfo.environment["SPRUCE_SANITIZE"] == nil else { return }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("spruce-install-\(getpid())")
    let prefix = work.appendingPathComponent("prefix").path
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: work) }

    let make = ["make", "-s", "-C", root.path, "CONFIG=debug", "BUILD_DIR=\(buildProductsDirectory())", "PREFIX=\(prefix)"]
    let (installStatus, _, installErr) = try runProcess("/usr/bin/env", make + ["install"])
    #expect(installStatus == 0, "make install failed: \(installErr)")
    guard installStatus == 0 else { return }
    let installed = ["include/spruce.h", "lib/libspruce.so", "lib/libspruce.a", "lib/pkgconfig/spruce.pc",
                     "lib/pkgconfig/spruce-static.pc", "bin/spruce"]
    func files() -> Set<String> {
        let all = FileManager.default.enumerator(atPath: prefix)?.allObjects as? [String] ?? []
        return Set(all.filter { var d: ObjCBool = false; return FileManager.default.fileExists(atPath: prefix + "/" + $0, isDirectory: &d) && !d.boolValue })
    }
    #expect(files() == Set(installed))

    for package in ["spruce", "spruce-static"] {
        let (pcStatus, flags, pcErr) = try runProcess("/usr/bin/env", ["PKG_CONFIG_PATH=\(prefix)/lib/pkgconfig", "pkg-config",
                                                                        "--cflags", "--libs", package])
        #expect(pcStatus == 0, "pkg-config \(package): \(pcErr)")
        let exe = work.appendingPathComponent("classify-\(package)").path
        let (ccStatus, _, ccErr) = try runProcess("/usr/bin/env", ["cc", "-std=c99", "-Wall", "-O1",
            root.appendingPathComponent("Tests/CExample/classify.c").path, "-o", exe]
            + flags.split(whereSeparator: \.isWhitespace).map(String.init))
        #expect(ccStatus == 0, "cc with pkg-config \(package) failed: \(ccErr)")
        guard ccStatus == 0 else { continue }
        try checkClassify(exe, in: work)
    }
    let (versionStatus, version, _) = try runProcess(prefix + "/bin/spruce", ["--version"])
    #expect(versionStatus == 0 && !version.isEmpty)

    let (uninstallStatus, _, uninstallErr) = try runProcess("/usr/bin/env", make + ["uninstall"])
    #expect(uninstallStatus == 0, "make uninstall failed: \(uninstallErr)")
    #expect(files().isEmpty, "left behind: \(files())")
}
