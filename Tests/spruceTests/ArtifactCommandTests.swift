// The `.spruce` commands through the built binary: pack (summary, sparsity, sizes), inspect --json
// (every field, checked against the artifact itself), export → re-import, run and bench on
// artifacts, and the error paths (one `error:` line naming the file and rule, no output file).
// Numbers from `bench` are checked for shape and order only, never for speed.
import Foundation
import Testing
import SpruceCore
import SpruceFormat
import SpruceONNX
import SprucePipeline
import SpruceTrain

/// Committed fixture files, found relative to this source file.
enum Fixtures {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func onnx(_ name: String) -> String { root + "/fixtures/onnx/" + name }
    static func image(_ name: String) -> String { root + "/fixtures/images/" + name }
}

/// Parses stdout as one JSON object.
func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text.prefix(200))")
}

/// `1,234,567`, as pack prints byte counts.
func grouped(_ n: Int) -> String {
    let digits = Array(String(n))
    return String(digits.enumerated().flatMap { i, c in i > 0 && (digits.count - i) % 3 == 0 ? [",", c] : [c] })
}

/// The size of a file.
func fileSize(_ path: String) throws -> Int {
    try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
}

@Suite struct PackInspectTests {
    let workspace = Workspace()

    /// The Keras ResNet fixture packed with `arguments`; returns the artifact path and pack's stdout.
    func pack(_ extra: [String], model: String = "keras_resnetv2_small.onnx", name: String = "m.spruce") throws -> (String, String) {
        let out = workspace.file(name)
        let result = try runSpruce(["pack", Fixtures.onnx(model), "-o", out] + extra)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
        return (out, result.stdout)
    }

    @Test("pack prints tensors, sparsity, sizes and says no fine-tuning was done", arguments: [
        (0.0, false), (0.5, false), (0.9, false), (0.9, true),
    ])
    func packSummary(sparsity: Double, int8: Bool) throws {
        let (path, text) = try pack(["--sparsity", "\(sparsity)"] + (int8 ? ["--int8"] : []))
        let artifact = try ArtifactReader.load(path: path)
        #expect(text.hasPrefix("packed \(Fixtures.onnx("keras_resnetv2_small.onnx")) -> \(path)\n"))
        #expect(text.contains("tensors:  \(artifact.tensors.count) ("))
        #expect(text.contains("values \(int8 ? "int8" : "float32")"))
        #expect(text.contains("sparsity: \(String(format: "%.2f", sparsity * 100))%"))
        #expect(text.contains("size:     \(grouped(try fileSize(path))) bytes"))
        #expect(text.contains("ONNX file \(grouped(try fileSize(Fixtures.onnx("keras_resnetv2_small.onnx")))) bytes"))
        #expect(text.contains("no fine-tuning") == (sparsity > 0))
        #expect(artifact.metadata["source_file"] == "keras_resnetv2_small.onnx")
        #expect(artifact.metadata["packed_by"] == "spruce \(SpruceVersion.current)")
        if sparsity > 0 { #expect(artifact.metadata["sparsity"] == String(format: "%.4f", sparsity)) }
    }

    @Test("inspect --html writes one self-contained page: where the bytes go, a row per weight, a comparison table")
    func inspectHTML() throws {
        let (sparse, _) = try pack(["--sparsity", "0.9", "--int8"], name: "s<90>.spruce")
        let (dense, _) = try pack([], name: "dense.spruce")
        let page = workspace.file("report.html")
        let r = try runSpruce(["inspect", sparse, "--html", page, "--compare", dense])
        #expect(r.status == 0, "\(r.stderr)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
        // Self-contained: no scripts, no links or sources to fetch.
        for forbidden in ["<script", "src=", "href=", "@import", "url("] { #expect(!html.contains(forbidden), "\(forbidden)") }
        #expect(html.contains("<h2>Comparison</h2>"))
        #expect(html.contains("<h2>s&lt;90&gt;.spruce</h2>") && html.contains("<h2>dense.spruce</h2>"), "names are escaped")
        // One table row per conv/Gemm weight of each artifact, each with its bar.
        let weights = try [sparse, dense].map { try ArtifactSummary(artifact: ArtifactReader.load(path: $0)).tensors.filter(\.isWeight) }
        for t in weights[0] { #expect(html.contains("<tr><td class=\"l\">\(t.name)</td>"), "\(t.name)") }
        let rows = html.components(separatedBy: "<tr><td class=\"l\">").count - 1
        let metadataRows = try [sparse, dense].reduce(0) { $0 + (try ArtifactReader.load(path: $1)).metadata.count }
        #expect(rows == weights[0].count + weights[1].count + 2 + metadataRows)
        #expect(html.contains("<title>positions: ") && html.contains("<title>values: "))
        // The sparse artifact's bar says how many bytes its values take.
        let values = weights[0].reduce(0) { $0 + $1.valueBytesStored }
        #expect(html.contains("values \(ByteSize.grouped(values)) ("))

        let misuse = try runSpruce(["inspect", sparse, "--compare", dense])
        #expect(misuse.status != 0 && misuse.stderr.contains("--compare needs --html"))
        let onnx = try runSpruce(["inspect", Fixtures.onnx("keras_resnetv2_small.onnx"), "--html", workspace.file("x.html")])
        #expect(onnx.status != 0 && onnx.stderr.contains("is not one"))
    }

    @Test("pack --scaling records the input normalization; run applies it to images, eval unless --scaling is given")
    func packScaling() throws {
        let (path, _) = try pack(["--scaling", "imagenet", "--int8"])
        let artifact = try ArtifactReader.load(path: path)
        #expect(InputNormalization(metadata: artifact.metadata) == .imageNet)
        #expect(artifact.metadata["input.scaling"] == "imagenet")
        // `spruce run` on an image equals `spruce run` on the same pixels normalized by hand.
        let image = Fixtures.image("ISIC_0024618.jpg")
        var pixels = ImageLoader.tensor(from: try ImageLoader.loadImage(path: image), height: 64, width: 64, layout: .nhwc)
        InputNormalization.imageNet.normalize(&pixels.data, channelsFirst: false, pixelsPerImage: 64 * 64)
        let npy = try workspace.write("by-hand.npy", Tensor(shape: [1, 64, 64, 3], data: pixels.data).npyBytes())
        let fromImage = try runSpruce(["run", path, image])
        let byHand = try runSpruce(["run", path, npy])
        #expect(fromImage.status == 0 && byHand.status == 0, "\(fromImage.stderr) \(byHand.stderr)")
        let score = { (text: String) in text.split(separator: ":").last.map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) } }
        #expect(score(fromImage.stdout) != nil && score(fromImage.stdout) == score(byHand.stdout), "\(fromImage.stdout) vs \(byHand.stdout)")
        // `spruce eval` takes the recorded scaling unless --scaling says otherwise.
        let (plain, _) = try pack(["--int8"], name: "plain.spruce")
        func auc(_ arguments: [String]) throws -> Double? {
            let r = try runSpruce(["eval"] + arguments + ["--data", Fixtures.root + "/fixtures/images", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["auc"] as? Double
        }
        let recorded = try auc([path]), explicit = try auc([plain, "--scaling", "imagenet"]), unit = try auc([plain])
        #expect(recorded != nil && recorded == explicit && recorded != unit, "\(String(describing: recorded)) \(String(describing: explicit)) \(String(describing: unit))")
        let bad = try runSpruce(["pack", Fixtures.onnx("keras_resnetv2_small.onnx"), "-o", workspace.file("x.spruce"), "--scaling", "caffe"])
        #expect(bad.status != 0 && bad.stderr.contains("--scaling must be unit, symmetric or imagenet"))
    }

    @Test("pack --int8 --calibrate rounds on the images of a folder or given as files and says so in the metadata")
    func packCalibrated() throws {
        let model = Fixtures.root + "/fixtures/models/ham_mobilenetv2_035_64.onnx"
        let folder = Fixtures.root + "/fixtures/calibration"
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".jpg") }.sorted()
            .prefix(3).map { folder + "/" + $0 }
        for (calibrate, count) in [([folder], 64), (files, 3)] {
            let path = workspace.file("calibrated.spruce")
            let result = try runSpruce(["pack", model, "-o", path, "--int8", "--calibrate"] + calibrate)
            #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
            #expect(result.stdout.contains("values int8"))
            let artifact = try ArtifactReader.load(path: path)
            #expect(artifact.metadata["values"]?.hasSuffix("GPTQ-rounded on \(count) calibration images)") == true,
                    "\(artifact.metadata)")
        }
    }

    @Test("inspect --json: top-level sparsity, bytes, dense_bytes, ratio and one object per tensor", arguments: [
        (0.5, false), (0.9, false), (0.9, true),
    ])
    func inspectJSON(sparsity: Double, int8: Bool) throws {
        let (path, _) = try pack(["--sparsity", "\(sparsity)"] + (int8 ? ["--int8"] : []))
        let result = try runSpruce(["inspect", path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try jsonObject(result.stdout)
        let artifact = try ArtifactReader.load(path: path)
        let dense = artifact.denseModel().graph
        let weights = ArtifactWriter.weightNames(in: dense)

        // Top level, recomputed from the artifact expanded to dense.
        let weightCount = weights.reduce(0) { $0 + (dense.initializers[$1]?.count ?? 0) }
        let weightZeros = weights.reduce(0) { $0 + (dense.initializers[$1]?.data.filter { $0 == 0 }.count ?? 0) }
        let sparsityValue = try #require(json["sparsity"] as? Double)
        #expect(abs(sparsityValue - Double(weightZeros) / Double(weightCount)) < 1e-12)
        #expect(abs(sparsityValue - sparsity) <= PruningReport.tolerance, "sparsity \(sparsityValue)")
        let bytes = try #require(json["bytes"] as? Int)
        #expect(bytes == (try fileSize(path)))
        let denseBytes = try #require(json["dense_bytes"] as? Int)
        #expect(denseBytes == 4 * dense.initializers.values.reduce(0) { $0 + $1.count })
        let ratio = try #require(json["ratio"] as? Double)
        #expect(abs(ratio - Double(denseBytes) / Double(bytes)) < 1e-9)
        if sparsity >= 0.9 { #expect(ratio > 1) }

        // Per tensor.
        let tensors = try #require(json["tensors"] as? [[String: Any]])
        #expect(tensors.count == artifact.tensors.count)
        let fields = ["name", "operator", "node", "shape", "encoding", "index_formats", "value_type", "is_weight", "elements",
                      "nonzeros", "sparsity", "value_bytes", "index_bytes", "scale_bytes", "value_bytes_stored",
                      "index_bytes_stored", "scale_bytes_stored", "bits_per_nonzero", "stored_bytes", "stored_values",
                      "bits_per_value", "bits_per_position"]
        var storedTotal = 0, halfScaled = 0
        for (row, t) in zip(tensors, artifact.tensors) {
            #expect(Set(row.keys) == Set(fields), "\(row.keys.sorted())")
            #expect(row["name"] as? String == t.name)
            #expect(row["shape"] as? [Int] == t.storage.shape)
            let values = try #require(dense.initializers[t.name]).data
            let nonzeros = values.filter { $0 != 0 }.count
            #expect(row["nonzeros"] as? Int == nonzeros)
            #expect(row["elements"] as? Int == values.count)
            #expect(row["is_weight"] as? Bool == weights.contains(t.name))
            let quantized = weights.contains(t.name) && int8 && !ArtifactWriter.float32Weights(in: dense).contains(t.name)
            // With int8 the file is format 2.0: binary16 row scales, and binary16 floats wherever
            // every value is one (biases are rounded to binary16 first).
            let half = int8 && t.halfValues
            #expect(row["value_type"] as? String == (quantized ? (t.halfScales ? "int8/f16" : "int8") : half ? "f16" : "f32"))
            if quantized { halfScaled += t.halfScales ? 1 : 0 }
            if int8 && ArtifactWriter.biasNames(in: dense).contains(t.name) { #expect(half) }
            if !int8 { #expect(!t.halfValues && !t.halfScales) }
            let stored = try #require(row["stored_bytes"] as? Int)
            #expect(stored == t.storedBytes)
            storedTotal += stored
            #expect(row["value_bytes"] as? Int == t.rawBytes(of: .values))
            #expect(row["scale_bytes"] as? Int == t.rawBytes(of: .scales))
            #expect((row["scale_bytes"] as? Int ?? 0 > 0) == (t.storage.valueType == .int8))
            let storedValues = try #require(row["stored_values"] as? Int)
            // Dense stores every element, sparse encodings their non-zeros; with int8 a stored
            // value may round to zero, so the decoded non-zeros are then only a lower bound.
            let expectedStored = row["encoding"] as? String == "dense" ? values.count : values.filter { $0 != 0 }.count
            #expect(int8 ? storedValues >= expectedStored && storedValues <= values.count : storedValues == expectedStored)
            let valueStored = try #require(row["value_bytes_stored"] as? Int), indexStored = try #require(row["index_bytes_stored"] as? Int)
            #expect(abs((row["bits_per_value"] as? Double ?? -1) - 8 * Double(valueStored) / Double(max(1, storedValues))) < 1e-9)
            #expect(abs((row["bits_per_position"] as? Double ?? -1) - 8 * Double(indexStored) / Double(max(1, storedValues))) < 1e-9)
            let bits = try #require(row["bits_per_nonzero"] as? Double)
            #expect(nonzeros == 0 ? bits == 0 : abs(bits - 8 * Double(stored) / Double(nonzeros)) < 1e-9)
            let reader = dense.nodes.first { $0.inputs.contains(t.name) }
            #expect(row["operator"] as? String == reader?.op.onnxName)
            if weights.contains(t.name) {
                let encoding = row["encoding"] as? String
                #expect(encoding == "csr" || encoding == "bitmask" || encoding == "dense")
                #expect(((row["index_formats"] as? String)?.isEmpty ?? true) == (encoding != "csr"))
            }
        }
        #expect(json["stored_bytes"] as? Int == storedTotal)
        if int8 { #expect(halfScaled > 0) }  // rows of tiny weights keep float32 scales, most do not
        // At 90 % the chooser must have left dense storage for every weight of some size (for a
        // few hundred bytes, 64-byte section alignment can make the two dense parts the smallest).
        if sparsity >= 0.9 {
            #expect(tensors.filter { $0["is_weight"] as? Bool == true && $0["elements"] as? Int ?? 0 >= 1024 }
                .allSatisfy { $0["encoding"] as? String != "dense" })
        }
    }

    @Test("pack --bits 4 stores 4-bit values (implying int8's quantization), shown by inspect")
    func packFourBits() throws {
        let (path, out) = try pack(["--sparsity", "0.75", "--bits", "4"])
        #expect(out.contains("values int4"), "\(out)")
        let artifact = try ArtifactReader.load(path: path)
        #expect(artifact.majorVersion == 2)
        let quantized = artifact.tensors.filter { $0.storage.valueType == .int8 }
        #expect(!quantized.isEmpty && quantized.allSatisfy { $0.valueBits == 4 })
        let result = try runSpruce(["inspect", path, "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let types = Set((json["tensors"] as? [[String: Any]] ?? []).compactMap { $0["value_type"] as? String })
        #expect(types.contains("int4/f16") && !types.contains { $0.hasPrefix("int8") }, "\(types)")
    }

    @Test("inspect prints the storage table and totals for an artifact")
    func inspectText() throws {
        let (path, _) = try pack(["--sparsity", "0.9", "--int8"])
        let result = try runSpruce(["inspect", path])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = ArtifactSummary(artifact: try ArtifactReader.load(path: path))
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "artifact: \(path) (format 2.0)")  // int8: binary16 scales and biases
        #expect(lines.contains { $0.hasPrefix("  name") && $0.contains("encoding") && $0.contains("bits/nz") && $0.hasSuffix("stored") })
        let total = String(format: "%.2f", summary.sparsity * 100)
        #expect(lines.contains("total: \(summary.elements) elements; sparsity \(total)% of \(summary.weightElements) conv/gemm weights"))
        #expect(lines.contains("dense float32: \(summary.denseBytes) bytes; ratio \(String(format: "%.2f", summary.ratio))x"))
        for t in summary.tensors { #expect(lines.contains { $0.hasPrefix("  \(t.name) ") }, "no row for \(t.name)") }
    }

    @Test("pack with --prune-all reaches sparsities the protected layers would block")
    func pruneAll() throws {
        let model = "keras_mobilenetv2.onnx"
        let blocked = try runSpruce(["pack", Fixtures.onnx(model), "-o", workspace.file("x.spruce"), "--sparsity", "0.97"])
        #expect(blocked.status != 0)
        #expect(blocked.stderr.contains("cannot be reached") && blocked.stderr.contains("--prune-all"), "\(blocked.stderr)")
        #expect(!workspace.exists("x.spruce"))
        let (path, _) = try pack(["--sparsity", "0.97", "--prune-all"], model: model)
        let summary = ArtifactSummary(artifact: try ArtifactReader.load(path: path))
        #expect(abs(summary.sparsity - 0.97) <= PruningReport.tolerance)
    }
}

@Suite struct ExportRunBenchTests {
    let workspace = Workspace()

    @Test("export then re-import gives the artifact's graph, and both run to the same outputs", arguments: [
        ("keras_resnetv2_small.onnx", false), ("keras_resnetv2_small.onnx", true), ("pytorch_flatten_gemm.onnx", true),
    ])
    func exportRoundTrip(model: String, int8: Bool) throws {
        let artifactPath = workspace.file("m.spruce")
        var result = try runSpruce(["pack", Fixtures.onnx(model), "-o", artifactPath, "--sparsity", "0.5"] + (int8 ? ["--int8"] : []))
        #expect(result.status == 0, "\(result.stderr)")
        let expected = try ArtifactReader.load(path: artifactPath).denseModel()
        for sparse in [false, true] {
            let onnxPath = workspace.file(sparse ? "sparse.onnx" : "dense.onnx")
            result = try runSpruce(["export", artifactPath, "-o", onnxPath] + (sparse ? ["--sparse-initializers"] : []))
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.hasPrefix("exported \(artifactPath) -> \(onnxPath)"))
            // ONNX has no fused Conv activation: the export writes Conv + Relu/Clip, lowering fuses them again.
            let reimported = try ONNXImporter.load(path: onnxPath)
            #expect(try reimported.graph.lowered() == expected.graph, "sparse initializers: \(sparse)")
            #expect(reimported.graph.initializers == expected.graph.initializers)
            #expect(reimported.metadata == expected.metadata)
        }
        // `spruce run` on the artifact (runtime) and on the export (reference executor).
        let input = Fixtures.onnx(model.replacingOccurrences(of: ".onnx", with: ".in0.npy"))
        for (source, out) in [(artifactPath, "a.npy"), (workspace.file("dense.onnx"), "b.npy")] {
            result = try runSpruce(["run", source, input, "-o", workspace.file(out)])
            #expect(result.status == 0, "\(result.stderr)")
        }
        let a = try Tensor(npyBytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: workspace.file("a.npy")))))
        let b = try Tensor(npyBytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: workspace.file("b.npy")))))
        #expect(a.shape == b.shape)
        #expect(zip(a.data, b.data).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
    }

    @Test("run on an artifact uses the runtime with --threads and matches the reference executor", arguments: [1, 2])
    func runArtifact(threads: Int) throws {
        let artifactPath = workspace.file("m.spruce")
        var result = try runSpruce(["pack", Fixtures.onnx("keras_mobilenetv2.onnx"), "-o", artifactPath, "--sparsity", "0.9", "--int8"])
        #expect(result.status == 0, "\(result.stderr)")
        let images = ["ISIC_0024618.jpg", "ISIC_0025002.jpg", "sample.png"].map(Fixtures.image)
        result = try runSpruce(["run", artifactPath] + images + ["--threads", "\(threads)"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty, "the runtime should run this model: \(result.stderr)")
        let artifact = try ArtifactReader.load(path: artifactPath)
        let feeds = try RunInputs.load(paths: images, for: artifact.graph.inputs, stackNPY: false)
        let reference = try ReferenceExecutor(graph: artifact.denseModel().graph).run(feeds.feeds)
        let scores = try #require(reference["prob"])
        // One "image: score" line each, with four decimals; the runtime and the reference sum in
        // different orders, so the scores are compared within a rounding step, not as text.
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == images.count, "\(result.stdout)")
        for (line, (image, score)) in zip(lines, zip(images, scores.data)) {
            let printed = line.dropFirst(image.count + 2)
            #expect(line.hasPrefix(image + ": ") && printed.count == 6, "\(line)")
            #expect(Float(printed).map { abs($0 - score) <= 1e-4 } == true, "\(line) vs \(score)")
        }
    }

    @Test("bench --json reports latency quantiles and peak memory in bytes", arguments: ["spruce", "onnx"])
    func benchJSON(format: String) throws {
        var path = Fixtures.onnx("pytorch_flatten_gemm.onnx")
        if format == "spruce" {
            path = workspace.file("m.spruce")
            let packed = try runSpruce(["pack", Fixtures.onnx("pytorch_flatten_gemm.onnx"), "-o", path])
            #expect(packed.status == 0, "\(packed.stderr)")
        }
        let result = try runSpruce(["bench", path, "--runs", "5", "--warmup", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try jsonObject(result.stdout)
        let median = try #require(json["median_ms"] as? Double), p90 = try #require(json["p90_ms"] as? Double)
        let minimum = try #require(json["min_ms"] as? Double)
        #expect(minimum > 0 && minimum <= median && median <= p90)
        let peak = try #require(json["peak_memory_bytes"] as? Int)
        #expect(peak > 1 << 20)  // a Swift process holds more than a MiB resident
        #expect(json["runs"] as? Int == 5)
        #expect(json["warmup"] as? Int == 1)
        let engine = try #require(json["engine"] as? String)
        #expect(engine.hasPrefix(format == "spruce" ? "runtime" : "reference"), "\(engine)")
        #expect((json["input_shapes"] as? [String: [Int]])?.values.allSatisfy { $0.first == 1 } == true)
    }

    @Test("quantiles interpolate between closest ranks")
    func quantiles() {
        #expect(LatencyBenchmark.quantile([3, 1, 2], 0.5) == 2)
        #expect(LatencyBenchmark.quantile([1, 2, 3, 4], 0.5) == 2.5)
        #expect(abs(LatencyBenchmark.quantile(Array(1...10).map(Double.init), 0.9) - 9.1) < 1e-12)
        #expect(LatencyBenchmark.quantile([7], 0.9) == 7)
        #expect(LatencyBenchmark.quantile([], 0.5) == 0)
    }
}

/// A small valid artifact in `w`, and the same bytes with one change.
enum BrokenArtifacts {
    static func valid(_ w: Workspace) throws -> String {
        let path = w.file("ok.spruce")
        if !FileManager.default.fileExists(atPath: path) { try ArtifactWriter().write(TinyModels.classifier(), to: path) }
        return path
    }

    /// A byte flipped in the last section (past the manifest): only its checksum notices.
    static func flipped(_ w: Workspace) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try valid(w))))
        bytes[bytes.count - 1] ^= 0x40
        return try w.write("flipped.spruce", bytes)
    }

    static func truncated(_ w: Workspace) throws -> String {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try valid(w))))
        return try w.write("cut.spruce", Array(bytes.dropLast(3)))
    }
}

@Suite struct ArtifactErrorTests {
    static let cases: [FailureCase] = [
        FailureCase(name: "pack: missing model",
                    arguments: { w in ["pack", w.file("none.onnx"), "-o", w.file("out.spruce")] },
                    fragment: { w in "\(w.file("none.onnx")): no such file" }),
        FailureCase(name: "pack: output not .spruce",
                    arguments: { w in ["pack", try ErrorTests.model(w), "-o", w.file("out.onnx")] },
                    fragment: { _ in "--output must name a .spruce file" }),
        FailureCase(name: "pack: sparsity out of range",
                    arguments: { w in ["pack", try ErrorTests.model(w), "-o", w.file("out.spruce"), "--sparsity", "1"] },
                    fragment: { _ in "--sparsity must be in [0, 1)" }),
        FailureCase(name: "pack: zstd level out of range",
                    arguments: { w in ["pack", try ErrorTests.model(w), "-o", w.file("out.spruce"), "--zstd-level", "40"] },
                    fragment: { _ in "--zstd-level must be between 1 and 19" }),
        FailureCase(name: "pack: --bits out of range",
                    arguments: { w in ["pack", try ErrorTests.model(w), "-o", w.file("out.spruce"), "--bits", "9"] },
                    fragment: { _ in "--bits must be between 2 and 8, got 9" }),
        FailureCase(name: "pack: nothing to prune",
                    arguments: { w in ["pack", Fixtures.onnx("relu.onnx"), "-o", w.file("out.spruce"), "--sparsity", "0.5"] },
                    fragment: { _ in "relu.onnx: the model has no conv or Gemm weights to prune" }),
        FailureCase(name: "pack: unreachable sparsity",
                    arguments: { w in ["pack", Fixtures.onnx("keras_resnetv2_small.onnx"), "-o", w.file("out.spruce"), "--sparsity", "0.99"] },
                    fragment: { _ in "sparsity 99.00% cannot be reached: at most" }),
        FailureCase(name: "pack: garbage model",
                    arguments: { w in ["pack", try w.write("bad.onnx", [0xFF, 0xFF, 0x0F]), "-o", w.file("out.spruce")] },
                    fragment: { w in w.file("bad.onnx") }),
        FailureCase(name: "pack: output directory missing",
                    arguments: { w in ["pack", try ErrorTests.model(w), "-o", w.file("no/dir/out.spruce")] },
                    fragment: { w in w.file("no/dir/out.spruce") }),
        FailureCase(name: "pack: --calibrate without --int8",
                    arguments: { w in ["pack", try ErrorTests.model(w), "-o", w.file("out.spruce"), "--calibrate", w.path] },
                    fragment: { _ in "--calibrate chooses how int8 values round; add --int8" }),
        FailureCase(name: "pack: --calibrate a missing folder",
                    arguments: { w in ["pack", try ErrorTests.model(w), "-o", w.file("out.spruce"), "--int8", "--calibrate", w.file("none")] },
                    fragment: { w in "--calibrate: \(w.file("none")) does not exist" }),
        FailureCase(name: "pack: --calibrate a folder without images",
                    arguments: { w in ["pack", try ErrorTests.model(w), "-o", w.file("out.spruce"), "--int8", "--calibrate", w.path] },
                    fragment: { w in "--calibrate: no .jpg, .jpeg or .png images in \(w.path)" }),
        FailureCase(name: "pack: --calibrate a corrupt image",
                    arguments: { w in ["pack", try ErrorTests.model(w), "-o", w.file("out.spruce"), "--int8",
                                       "--calibrate", try w.write("cut.jpg", [0xFF, 0xD8, 0xFF, 0xE0, 0x00])] },
                    fragment: { w in "calibrated int8 rounding: \(w.file("cut.jpg")): corrupt image" }),
        FailureCase(name: "inspect: missing artifact",
                    arguments: { w in ["inspect", w.file("none.spruce")] },
                    fragment: { w in "\(w.file("none.spruce")): no such file" }),
        FailureCase(name: "inspect: not an artifact",
                    arguments: { w in ["inspect", try w.write("text.spruce", Array(String(repeating: "not an artifact ", count: 8).utf8))] },
                    fragment: { w in "\(w.file("text.spruce")): R2: bad magic" }),
        FailureCase(name: "inspect: too short to be an artifact",
                    arguments: { w in ["inspect", try w.write("short.spruce", [0x53, 0x50, 0x52, 0x43])] },
                    fragment: { w in "\(w.file("short.spruce")): R1: file has 4 bytes" }),
        FailureCase(name: "inspect: flipped byte in a section",
                    arguments: { w in ["inspect", try BrokenArtifacts.flipped(w), "--json"] },
                    fragment: { w in "\(w.file("flipped.spruce")): R14: section" }),
        FailureCase(name: "inspect: truncated artifact",
                    arguments: { w in ["inspect", try BrokenArtifacts.truncated(w)] },
                    fragment: { w in "\(w.file("cut.spruce")): R6:" }),
        FailureCase(name: "run: corrupted artifact",
                    arguments: { w in ["run", try BrokenArtifacts.flipped(w),
                                       try w.write("x.npy", Tensor(shape: [1, 3, 4, 4], repeating: 0).npyBytes()), "-o", w.file("out.npy")] },
                    fragment: { w in "\(w.file("flipped.spruce")): R14: section" }),
        FailureCase(name: "run: bad thread count",
                    arguments: { w in ["run", try BrokenArtifacts.valid(w), try w.write("a.png", testPNG), "--threads", "0"] },
                    fragment: { _ in "--threads must be at least 1" }),
        FailureCase(name: "export: missing artifact",
                    arguments: { w in ["export", w.file("none.spruce"), "-o", w.file("out.onnx")] },
                    fragment: { w in "\(w.file("none.spruce")): no such file" }),
        FailureCase(name: "export: corrupted artifact",
                    arguments: { w in ["export", try BrokenArtifacts.flipped(w), "-o", w.file("out.onnx")] },
                    fragment: { w in "\(w.file("flipped.spruce")): R14: section" }),
        FailureCase(name: "export: truncated artifact",
                    arguments: { w in ["export", try BrokenArtifacts.truncated(w), "-o", w.file("out.onnx")] },
                    fragment: { w in "\(w.file("cut.spruce")): R6:" }),
        FailureCase(name: "export: input not .spruce",
                    arguments: { w in ["export", try ErrorTests.model(w), "-o", w.file("out.onnx")] },
                    fragment: { w in "\(w.file("model.onnx")): export reads a .spruce artifact" }),
        FailureCase(name: "export: output not .onnx",
                    arguments: { w in ["export", try BrokenArtifacts.valid(w), "-o", w.file("out.spruce2")] },
                    fragment: { _ in "--output must name a .onnx file" }),
        FailureCase(name: "export: output directory missing",
                    arguments: { w in ["export", try BrokenArtifacts.valid(w), "-o", w.file("no/dir/out.onnx")] },
                    fragment: { w in w.file("no/dir/out.onnx") }),
        FailureCase(name: "bench: missing model",
                    arguments: { w in ["bench", w.file("none.spruce")] },
                    fragment: { w in "\(w.file("none.spruce")): no such file" }),
        FailureCase(name: "bench: corrupted artifact",
                    arguments: { w in ["bench", try BrokenArtifacts.flipped(w), "--json"] },
                    fragment: { w in "\(w.file("flipped.spruce")): R14: section" }),
        FailureCase(name: "bench: no timed runs",
                    arguments: { w in ["bench", try BrokenArtifacts.valid(w), "--runs", "0"] },
                    fragment: { _ in "--runs must be at least 1" }),
    ]

    @Test("every failure prints one error line naming the file or rule, and writes no output", arguments: cases)
    func failure(_ failure: FailureCase) throws {
        let workspace = Workspace()
        let arguments = try failure.arguments(workspace)
        let before = workspace.listing()
        let result = try runSpruce(arguments)
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty, "\(result.stdout)")
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines[1].isEmpty, "stderr: \(result.stderr)")
        #expect(result.stderr.hasPrefix("error: "))
        #expect(result.stderr.contains(failure.fragment(workspace)), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump"))
        #expect(workspace.listing() == before, "files left behind")
    }
}
