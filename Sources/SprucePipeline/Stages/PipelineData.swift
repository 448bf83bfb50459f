// Labelled images for the train, fine-tune and evaluation steps: a dataset directory decoded once
// at the model's input size, split (seeded, lesion-grouped, or read from a split CSV) into train
// and validation loaders, plus the model's input layout (NCHW, or NHWC for Keras/tf2onnx exports).
import Foundation
import SpruceCore
import SpruceTrain

/// How a recipe's data is read.
public struct DataOptions: Sendable, Equatable, Codable {
    /// Dataset directory (labels.csv + images, or class folders); the CLI's --data overrides it.
    public var directory: String?
    /// A split CSV (`spruce split` output); nil makes a seeded 60/20/20 split.
    public var split: String?
    /// Image side; nil takes it from the model input.
    public var imageSize: Int?
    /// Pixel scaling: `unit` ([0, 1]), `symmetric` ([-1, 1]) or `imagenet`.
    public var scaling: String
    /// Images per batch.
    public var batchSize: Int
    /// Random flips/rotations/crops while training.
    public var augment: Bool
    /// The labels CSV column holding the class; nil means `malignant` (HAM10000's binary task).
    public var labelColumn: String?

    /// Defaults: [0, 1] pixels, batch 16, augmentation on.
    public init(directory: String? = nil, split: String? = nil, imageSize: Int? = nil, scaling: String = "unit",
                batchSize: Int = 16, augment: Bool = true, labelColumn: String? = nil) {
        self.directory = directory
        self.split = split
        self.imageSize = imageSize
        self.scaling = scaling
        self.batchSize = batchSize
        self.augment = augment
        self.labelColumn = labelColumn
    }

    /// How the dataset folder is read (the label column; the rest is HAM10000's layout).
    public var datasetOptions: DatasetOptions { DatasetOptions(labelColumn: labelColumn) }

    /// The pixel scaling named by `scaling`.
    public func pixelScaling() throws -> PixelScaling {
        guard let s = PixelScaling(name: scaling) else {
            throw StageError.invalidParameter(stage: "data", reason: "unknown scaling '\(scaling)' (unit, symmetric, imagenet)")
        }
        return s
    }
}

/// Reading a graph's image input layout and arranging NCHW batches for it.
enum ImageInput {
    /// The layout and side of `graph`'s single image input, if it is one.
    static func of(_ graph: Graph) -> (layout: ImageLayout, height: Int?, width: Int?)? {
        guard graph.inputs.count == 1, let shape = graph.inputs.first?.shape, shape.count == 4 else { return nil }
        if shape[1] == 3 { return (.nchw, shape[2], shape[3]) }
        if shape[3] == 3 { return (.nhwc, shape[1], shape[2]) }
        return nil
    }
}

extension ImageLayout {
    /// `images` ([N, 3, H, W]) in this layout.
    func arrange(_ images: Tensor) -> Tensor {
        guard self == .nhwc, images.rank == 4 else { return images }
        let (n, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        var out = [Float](repeating: 0, count: images.count)
        images.data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for b in 0..<n {
                    for ch in 0..<c {
                        for y in 0..<h {
                            for x in 0..<w { dst[((b * h + y) * w + x) * c + ch] = src[((b * c + ch) * h + y) * w + x] }
                        }
                    }
                }
            }
        }
        return Tensor(shape: [n, h, w, c], data: out)
    }
}

/// Train and validation images for one model.
public struct PipelineData: Sendable {
    /// The decoded images and the train and validation subsets, as a `Trainer` takes them.
    public var training: TrainingData
    /// Images per batch, augmentation and pixel scaling of training.
    public var batchSize: Int
    public var augmentation: Augmentation
    public var scaling: PixelScaling
    /// Validation batches in fixed order.
    public var validation: BatchLoader
    /// The model's input layout.
    public var layout: ImageLayout
    /// The dataset directory.
    public var directory: String

    /// Reads `options.directory` for `model`, decoding every image once at the model's input size.
    public static func load(options: DataOptions, model: Model, seed: UInt64) throws -> PipelineData {
        guard let directory = options.directory else {
            throw StageError.needsData(stage: "data", reason: "no dataset directory given")
        }
        guard let input = ImageInput.of(model.graph) else {
            throw StageError.invalidParameter(stage: "data", reason: "the model input is not one image batch [N,3,H,W] or [N,H,W,3]")
        }
        guard let height = options.imageSize ?? input.height, let width = options.imageSize ?? input.width else {
            throw StageError.invalidParameter(stage: "data", reason: "the model input size is dynamic; give --image-size")
        }
        guard options.batchSize > 0 else {
            throw StageError.invalidParameter(stage: "data", reason: "batch size \(options.batchSize) must be positive")
        }
        let dataset = try Dataset.load(directory: directory, options: options.datasetOptions)
        try dataset.checkFits(model.graph, labelColumn: options.datasetOptions.labelColumn)
        let cache = try dataset.decodeImages(height: height, width: width)
        let split = try options.split.map { try Split.read(from: $0, dataset: cache.dataset) }
            ?? Split.make(for: cache.dataset, options: SplitOptions(seed: seed))
        let scaling = try options.pixelScaling()
        let trainIndices = split.indices(of: .train, in: cache.dataset)
        let validationIndices = split.indices(of: .validation, in: cache.dataset)
        guard !trainIndices.isEmpty, !validationIndices.isEmpty else {
            throw StageError.needsData(stage: "data", reason: "\(directory): the split leaves \(trainIndices.count) training and \(validationIndices.count) validation images; both must be non-empty")
        }
        let validation = try BatchLoader(cache: cache, indices: validationIndices,
                                         options: .evaluation(batchSize: options.batchSize, scaling: scaling))
        return PipelineData(training: TrainingData(cache: cache, trainIndices: trainIndices, validationIndices: validationIndices),
                            batchSize: options.batchSize, augmentation: options.augment ? .standard : .none,
                            scaling: scaling, validation: validation, layout: input.layout, directory: directory)
    }

    /// Optimizer steps in one epoch of training (the last batch may be short).
    public var batchesPerEpoch: Int { (training.trainIndices.count + batchSize - 1) / batchSize }
}
