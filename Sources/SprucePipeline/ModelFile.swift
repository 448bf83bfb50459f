// Chooses how to open a model file from its extension: `.onnx` (ONNX importer, reference
// executor) or `.spruce` (artifact reader, SpruceRuntime). It loads and wraps; it does not
// convert or validate graphs.
import Foundation
import SpruceCore
import SpruceFormat
import SpruceONNX

/// How one model file format is opened: as an IR `Model` (for inspection) and as a runnable session.
public struct ModelLoader: Sendable {
    /// Human-readable format name, e.g. "ONNX".
    public let format: String
    /// Lower-case file extensions without the dot.
    public let extensions: [String]
    /// Reads the file into the IR.
    public let loadModel: @Sendable (_ path: String) throws -> Model
    /// Opens the file for inference.
    public let openSession: @Sendable (_ path: String, _ options: SessionOptions) throws -> any InferenceSession

    /// A loader for `format` files with the given extensions.
    public init(format: String, extensions: [String],
                loadModel: @escaping @Sendable (String) throws -> Model,
                openSession: @escaping @Sendable (String, SessionOptions) throws -> any InferenceSession) {
        self.format = format
        self.extensions = extensions
        self.loadModel = loadModel
        self.openSession = openSession
    }

    /// ONNX files through `ONNXImporter`, run by the reference executor.
    public static let onnx = ModelLoader(
        format: "ONNX", extensions: ["onnx"],
        loadModel: { try ONNXImporter.load(path: $0) },
        openSession: { path, _ in ReferenceSession(model: try ONNXImporter.load(path: path)) })

    /// `.spruce` artifacts through `ArtifactReader`: as a dense `Model` for inspection and export,
    /// run by SpruceRuntime (see `ArtifactSession`).
    public static let spruce = ModelLoader(
        format: "Spruce artifact", extensions: ["spruce"],
        loadModel: { try ArtifactReader.load(path: $0).denseModel() },
        openSession: { path, options in try ArtifactSession(path: path, options: options) })
}

/// Model files by extension.
///
/// ```swift
/// let session = try ModelFile.openSession(path: "classifier.onnx")
/// let outputs = try session.run(["input": x])
/// ```
public enum ModelFile {
    /// Every format the tools open, in the order they are tried.
    public static let loaders: [ModelLoader] = [.onnx, .spruce]

    /// Extensions of all supported model formats.
    public static var supportedExtensions: [String] { loaders.flatMap(\.extensions) }

    /// The loader for `path`'s extension (case-insensitive), or nil.
    public static func loader(forPath path: String) -> ModelLoader? {
        let ext = (path as NSString).pathExtension.lowercased()
        return loaders.first { $0.extensions.contains(ext) }
    }

    /// Reads the model at `path` into the IR.
    public static func load(path: String) throws -> Model {
        let loader = try checkedLoader(path)
        return try wrappingErrors(path) { try loader.loadModel(path) }
    }

    /// Opens the model at `path` for inference.
    public static func openSession(path: String, options: SessionOptions = SessionOptions()) throws -> any InferenceSession {
        let loader = try checkedLoader(path)
        return try wrappingErrors(path) { try loader.openSession(path, options) }
    }

    /// Reads the `.spruce` artifact at `path` in its stored form.
    public static func loadArtifact(path: String) throws -> Artifact {
        guard (path as NSString).pathExtension.lowercased() == "spruce" else {
            throw PipelineError.unsupportedModelFormat(path: path, supported: ModelLoader.spruce.extensions)
        }
        try FileIO.checkReadable(path)
        return try wrappingErrors(path) { try ArtifactReader.load(path: path) }
    }

    private static func checkedLoader(_ path: String) throws -> ModelLoader {
        guard let loader = loader(forPath: path) else {
            throw PipelineError.unsupportedModelFormat(path: path, supported: supportedExtensions)
        }
        try FileIO.checkReadable(path)
        return loader
    }

    /// Loader errors become `invalidModel` so every message names the file.
    private static func wrappingErrors<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as PipelineError { throw error } catch {
            throw PipelineError.invalidModel(path: path, reason: String(describing: error))
        }
    }
}
