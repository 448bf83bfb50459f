// Turns the files given to `spruce run` into the feeds of a model: `.npy` tensors in input order,
// or images resized to the input's height and width in its layout and stacked into one batch.
// It checks shapes against the declared inputs so mistakes are named before anything runs;
// it does no normalisation beyond scaling pixels to [0, 1].
import Foundation
import SpruceCore
import SpruceTrain

/// Feeds for one run, with a label per batch row when rows come from distinct files.
public struct RunInputs: Sendable {
    /// Tensors by model input name.
    public var feeds: [String: Tensor]
    /// One label per batch row (image paths, or `file[i]` for batched `.npy` rows); empty otherwise.
    public var rowLabels: [String]

    /// Builds feeds for `inputs` from `paths`. Several `.npy` files fill the inputs in order, or
    /// with `stackNPY` are concatenated along axis 0 into the single input; images are always
    /// stacked, their pixels scaled as `normalization` says (an artifact's recorded one).
    public static func load(paths: [String], for inputs: [ValueInfo], stackNPY: Bool = false,
                            normalization: InputNormalization = .unit) throws -> RunInputs {
        for path in paths where !isNPYPath(path) && !ImageLoader.isImagePath(path) {
            throw PipelineError.unsupportedInput(path: path)
        }
        let images = paths.filter(ImageLoader.isImagePath)
        if images.isEmpty { return try loadNPY(paths: paths, for: inputs, stack: stackNPY) }
        guard images.count == paths.count else { throw PipelineError.mixedInputs }
        return try loadImages(paths: paths, for: inputs, normalization: normalization)
    }

    /// Whether `path` ends in `.npy` (any case).
    public static func isNPYPath(_ path: String) -> Bool {
        (path as NSString).pathExtension.lowercased() == "npy"
    }

    private static func loadNPY(paths: [String], for inputs: [ValueInfo], stack: Bool) throws -> RunInputs {
        let names = inputs.map(\.name)
        if stack && inputs.count == 1 && paths.count > 1 {
            let tensors = try paths.map(FileIO.readNPY)
            let input = inputs[0]
            var rows: [Float] = []
            var labels: [String] = []
            for (path, t) in zip(paths, tensors) {
                guard t.rank >= 1, t.rank == tensors[0].rank, t.shape.dropFirst() == tensors[0].shape.dropFirst() else {
                    throw PipelineError.inputShape(path: path, shape: t.shape, input: input.name,
                                                   expected: [nil] + tensors[0].shape.dropFirst().map { $0 })
                }
                rows += t.data
                labels += rowLabels(t, path)
            }
            let batch = tensors.reduce(0) { $0 + $1.shape[0] }
            let stacked = Tensor(shape: [batch] + tensors[0].shape.dropFirst(), data: rows)
            try check(stacked, from: paths.joined(separator: " + "), fits: input)
            return RunInputs(feeds: [input.name: stacked], rowLabels: labels)
        }
        guard paths.count == inputs.count else { throw PipelineError.inputCount(expected: names, got: paths.count) }
        var feeds: [String: Tensor] = [:]
        for (path, input) in zip(paths, inputs) {
            let t = try FileIO.readNPY(path)
            try check(t, from: path, fits: input)
            feeds[input.name] = t
        }
        // Rows can be named after the file only when one file makes the whole batch.
        let labels = paths.count == 1 ? feeds.values.first.map { rowLabels($0, paths[0]) } ?? [] : []
        return RunInputs(feeds: feeds, rowLabels: labels)
    }

    /// `file` for a batch of one, `file[i]` per row otherwise.
    private static func rowLabels(_ tensor: Tensor, _ path: String) -> [String] {
        guard let rows = tensor.shape.first else { return [] }
        return rows == 1 ? [path] : (0..<rows).map { "\(path)[\($0)]" }
    }

    /// Rank and every fixed dimension must agree; an input declared without a shape accepts anything.
    private static func check(_ tensor: Tensor, from path: String, fits input: ValueInfo) throws {
        guard !input.shape.isEmpty else { return }
        let fits = tensor.rank == input.shape.count
            && zip(tensor.shape, input.shape).allSatisfy { actual, declared in declared.map { $0 == actual } ?? true }
        guard fits else {
            throw PipelineError.inputShape(path: path, shape: tensor.shape, input: input.name, expected: input.shape)
        }
    }

    private static func loadImages(paths: [String], for inputs: [ValueInfo], normalization: InputNormalization) throws -> RunInputs {
        guard inputs.count == 1 else {
            throw PipelineError.imagesNeedOneInput(inputs: inputs.map(\.name))
        }
        let input = inputs[0]
        let shape = input.shape
        let layout: ImageLayout
        var height: Int?, width: Int?
        if shape.count == 4 && shape[1] == 3 {
            layout = .nchw
            (height, width) = (shape[2], shape[3])
        } else if shape.count == 4 && shape[3] == 3 {
            layout = .nhwc
            (height, width) = (shape[1], shape[2])
        } else {
            throw PipelineError.notAnImageInput(input: input.name, shape: shape)
        }
        guard (height ?? 1) > 0, (width ?? 1) > 0 else { throw PipelineError.notAnImageInput(input: input.name, shape: shape) }
        if let batch = shape[0], batch != paths.count {
            throw PipelineError.batchSize(input: input.name, expected: batch, got: paths.count)
        }
        var data: [Float] = []
        for path in paths {
            let image: RGBImage
            do { image = try ImageLoader.loadImage(path: path) } catch let error as ImageError {
                if case .fileNotFound = error { throw PipelineError.fileNotFound(path: path) }
                throw PipelineError.invalidInput(path: path, reason: error.description)
            }
            // A dynamic height or width takes the first image's size, so a batch stays rectangular.
            let h = height ?? image.height, w = width ?? image.width
            (height, width) = (h, w)
            data += ImageLoader.tensor(from: image, height: h, width: w, layout: layout).data
        }
        let (h, w) = (height ?? 0, width ?? 0)
        normalization.normalize(&data, channelsFirst: layout == .nchw, pixelsPerImage: h * w)
        let batchShape = layout == .nchw ? [paths.count, 3, h, w] : [paths.count, h, w, 3]
        return RunInputs(feeds: [input.name: Tensor(shape: batchShape, data: data)], rowLabels: paths)
    }
}
