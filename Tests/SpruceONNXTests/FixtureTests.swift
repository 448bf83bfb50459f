// Runs every committed fixture (fixtures/onnx/manifest.json, written by fixtures/make_fixtures.py)
// through import, verify and the reference executor, comparing with onnxruntime's saved outputs,
// then checks export → re-import gives the same graph and the same outputs.
// It does not make fixtures (that is `make fixtures`) and does not test error paths.
import Foundation
import SpruceCore
import SpruceONNX
import Testing

/// One manifest entry: a model file and its input / expected-output `.npy` files by value name.
struct FixtureEntry: Decodable, Sendable {
    let model: String
    let inputs: [String: String]
    let outputs: [String: String]
}

/// Locates and reads the committed fixtures relative to this source file.
enum FixtureFiles {
    /// `fixtures/onnx` in the repository this file lives in (Tests/SpruceONNXTests/ → root).
    static let directory: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("fixtures/onnx").path
    }()

    /// The manifest's entries, or an empty list when it cannot be read (`manifestIsReadable` fails then).
    static let entries: [FixtureEntry] = (try? readManifest()) ?? []

    /// Model file names, the test arguments.
    static var modelNames: [String] { entries.map(\.model) }

    static func readManifest() throws -> [FixtureEntry] {
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json"))
        return try JSONDecoder().decode([FixtureEntry].self, from: data)
    }

    static func entry(_ model: String) throws -> FixtureEntry {
        try #require(entries.first { $0.model == model }, "no manifest entry for \(model)")
    }

    static func path(_ file: String) -> String { directory + "/" + file }

    static func tensor(_ file: String) throws -> Tensor {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(file)))
        return try Tensor(npyBytes: [UInt8](data))
    }

    static func inputs(of entry: FixtureEntry) throws -> [String: Tensor] {
        try entry.inputs.mapValues { try tensor($0) }
    }
}

/// Elementwise comparison with the fixtures' tolerance: |actual − expected| ≤ 1e-4 · max(1, |expected|).
/// Returns nil when within tolerance, else one line describing the worst element.
func fixtureMismatch(actual: Tensor, expected: Tensor) -> String? {
    guard actual.shape == expected.shape else {
        return "shape \(actual.shape), expected \(expected.shape)"
    }
    var worst = -1
    var worstExcess: Float = 0
    var failures = 0
    for i in 0..<expected.count {
        let e = expected.data[i], a = actual.data[i]
        let bound = 1e-4 * max(1, abs(e))
        let error = abs(a - e)
        // `!(error <= bound)` also catches NaN.
        if !(error <= bound) {
            failures += 1
            let excess = error.isNaN ? .infinity : error / bound
            if worst < 0 || excess > worstExcess { worst = i; worstExcess = excess }
        }
    }
    guard worst >= 0 else { return nil }
    let e = expected.data[worst], a = actual.data[worst]
    return "\(failures) of \(expected.count) elements out of tolerance; worst at flat index \(worst): got \(a), expected \(e) (|error| \(abs(a - e)))"
}

@Suite("ONNX fixtures against onnxruntime")
struct FixtureTests {
    @Test func manifestIsReadable() throws {
        let entries = try FixtureFiles.readManifest()
        #expect(!entries.isEmpty, "fixtures/onnx/manifest.json lists no models")
        for entry in entries {
            #expect(FileManager.default.fileExists(atPath: FixtureFiles.path(entry.model)), "missing \(entry.model)")
            #expect(!entry.outputs.isEmpty, "\(entry.model) has no expected outputs")
        }
    }

    /// Import, verify, run: the reference executor matches onnxruntime on every output.
    @Test(arguments: FixtureFiles.modelNames)
    func referenceExecutorMatchesOnnxruntime(model file: String) throws {
        let entry = try FixtureFiles.entry(file)
        let model = try ONNXImporter.load(path: FixtureFiles.path(file))
        try model.graph.verify()
        #expect(Set(model.graph.inputs.map(\.name)) == Set(entry.inputs.keys), "\(file): graph inputs")
        let outputs = try ReferenceExecutor(graph: model.graph).run(FixtureFiles.inputs(of: entry))
        for (name, expectedFile) in entry.outputs.sorted(by: { $0.key < $1.key }) {
            let actual = try #require(outputs[name], "\(file): output '\(name)' not produced")
            let expected = try FixtureFiles.tensor(expectedFile)
            let mismatch = fixtureMismatch(actual: actual, expected: expected)
            #expect(mismatch == nil, "\(file) output '\(name)': \(mismatch ?? "")")
        }
    }

    /// Export → re-import is the identity on the graph, with dense and with sparse initializers.
    @Test(arguments: FixtureFiles.modelNames)
    func exportReimportIsIdentity(model file: String) throws {
        let model = try ONNXImporter.load(path: FixtureFiles.path(file))
        for sparse in [false, true] {
            let bytes = try ONNXExporter.encode(model, sparseInitializers: sparse)
            let reimported = try ONNXImporter.decode(bytes)
            #expect(reimported.graph == model.graph, "\(file) (sparse initializers: \(sparse)): graph changed by export → import")
        }
    }

    /// The re-imported graph computes the same outputs as the imported one (and onnxruntime's).
    @Test(arguments: FixtureFiles.modelNames)
    func reimportedGraphComputesSameOutputs(model file: String) throws {
        let entry = try FixtureFiles.entry(file)
        let model = try ONNXImporter.load(path: FixtureFiles.path(file))
        let reimported = try ONNXImporter.decode(try ONNXExporter.encode(model))
        let inputs = try FixtureFiles.inputs(of: entry)
        let original = try ReferenceExecutor(graph: model.graph).run(inputs)
        let again = try ReferenceExecutor(graph: reimported.graph).run(inputs)
        for (name, expectedFile) in entry.outputs.sorted(by: { $0.key < $1.key }) {
            let actual = try #require(again[name], "\(file): re-imported graph does not produce '\(name)'")
            #expect(actual == original[name], "\(file) output '\(name)': re-imported graph computes different values")
            let mismatch = fixtureMismatch(actual: actual, expected: try FixtureFiles.tensor(expectedFile))
            #expect(mismatch == nil, "\(file) output '\(name)' after export → import: \(mismatch ?? "")")
        }
    }
}
