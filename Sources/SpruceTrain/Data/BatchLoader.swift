// Batches for training and evaluation from an ImageCache: per-epoch shuffle seeded by (seed, epoch),
// augmentation seeded per image, scaling, NCHW tensors. `epoch(_:)` prepares batches ahead on a
// background thread into a bounded queue; batch k of an epoch is the same whatever the timing,
// because every batch is a pure function of (options, epoch, k). It does no decoding (ImageCache does).
import Foundation
import SpruceCore

/// One batch: images `[B, 3, H, W]`, labels (class index as Float), and the dataset indices used.
public struct Batch: Sendable, Equatable {
    /// Images, NCHW.
    public var images: Tensor
    /// One label per image (0/1 for binary tasks).
    public var labels: [Float]
    /// Indices into the cache's `dataset.samples`, in batch order.
    public var indices: [Int]
}

/// Settings of a `BatchLoader`.
public struct BatchLoaderOptions: Sendable, Equatable {
    /// Images per batch (the study used 16).
    public var batchSize: Int
    /// Reshuffle the images every epoch (training); off keeps the given order (evaluation).
    public var shuffle: Bool
    /// Drop a last batch smaller than `batchSize`.
    public var dropLast: Bool
    /// Random transforms (training only; `.none` for evaluation).
    public var augmentation: Augmentation
    /// Byte-to-float mapping.
    public var scaling: PixelScaling
    /// Seed of shuffling and augmentation.
    public var seed: UInt64
    /// Batches prepared ahead of the consumer (≥ 1).
    public var prefetch: Int

    /// Training defaults: batch 16, shuffled, no augmentation, [0, 1], 4 batches ahead.
    public init(batchSize: Int = 16, shuffle: Bool = true, dropLast: Bool = false, augmentation: Augmentation = .none,
                scaling: PixelScaling = .unit, seed: UInt64 = 0, prefetch: Int = 4) {
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.dropLast = dropLast
        self.augmentation = augmentation
        self.scaling = scaling
        self.seed = seed
        self.prefetch = prefetch
    }

    /// Evaluation: fixed order, no augmentation, every image.
    public static func evaluation(batchSize: Int = 16, scaling: PixelScaling = .unit) -> BatchLoaderOptions {
        BatchLoaderOptions(batchSize: batchSize, shuffle: false, augmentation: .none, scaling: scaling)
    }
}

/// Deterministic batches over a subset of an image cache.
///
/// ```swift
/// let loader = try BatchLoader(cache: cache, indices: split.indices(of: .train, in: cache.dataset),
///                              options: BatchLoaderOptions(augmentation: .standard, seed: 1))
/// for batch in loader.epoch(0) { ... }   // prepared ahead on a background thread
/// ```
public struct BatchLoader: Sendable {
    /// The decoded images.
    public let cache: ImageCache
    /// The images this loader serves (indices into `cache.dataset.samples`).
    public let indices: [Int]
    /// Batch size, shuffling, augmentation, scaling, seed.
    public let options: BatchLoaderOptions
    private let scale: [Float]
    private let bias: [Float]

    /// A loader over `indices` of `cache`; validates every option and index.
    public init(cache: ImageCache, indices: [Int], options: BatchLoaderOptions = BatchLoaderOptions()) throws {
        guard options.batchSize > 0 else { throw DatasetError.invalidOption("batch size \(options.batchSize) must be positive") }
        guard options.prefetch > 0 else { throw DatasetError.invalidOption("prefetch \(options.prefetch) must be positive") }
        try options.augmentation.validate()
        if let bad = indices.first(where: { $0 < 0 || $0 >= cache.count }) {
            throw DatasetError.invalidOption("image index \(bad) is outside the \(cache.count) cached images")
        }
        (scale, bias) = try options.scaling.coefficients()
        self.cache = cache
        self.indices = indices
        self.options = options
    }

    /// A loader over every cached image.
    public init(cache: ImageCache, options: BatchLoaderOptions = BatchLoaderOptions()) throws {
        try self.init(cache: cache, indices: Array(0..<cache.count), options: options)
    }

    /// Number of batches in one epoch.
    public var batchesPerEpoch: Int {
        options.dropLast ? indices.count / options.batchSize : (indices.count + options.batchSize - 1) / options.batchSize
    }

    /// The order images are served in `epoch`: shuffled by (seed, epoch) when shuffling is on.
    public func order(epoch: Int) -> [Int] {
        var order = indices
        if options.shuffle {
            var rng = DataRNG(seed: options.seed, keys: 4, UInt64(truncatingIfNeeded: epoch))
            rng.shuffle(&order)
        }
        return order
    }

    /// Batch `number` of `epoch`, computed on the calling thread.
    public func batch(_ number: Int, epoch: Int) -> Batch {
        makeBatch(number, epoch: epoch, order: order(epoch: epoch))
    }

    /// Every batch of `epoch`, prepared ahead on a background thread (`options.prefetch` deep).
    /// Stopping early is fine: the stream's thread ends when the stream is released or cancelled.
    public func epoch(_ epoch: Int) -> BatchStream {
        let queue = PrefetchQueue(capacity: options.prefetch)
        let order = order(epoch: epoch)
        let count = batchesPerEpoch
        let loader = self
        let thread = Thread {
            for k in 0..<count {
                if !queue.push(loader.makeBatch(k, epoch: epoch, order: order)) { return }
            }
            queue.finish()
        }
        thread.name = "spruce.batch-loader"
        thread.start()
        return BatchStream(queue: queue, count: count)
    }

    private func makeBatch(_ number: Int, epoch: Int, order: [Int]) -> Batch {
        let start = number * options.batchSize
        let members = Array(order[min(start, order.count)..<min(start + options.batchSize, order.count)])
        let (h, w) = (cache.height, cache.width)
        let perImage = 3 * h * w
        var data = [Float](repeating: 0, count: members.count * perImage)
        let samples = cache.dataset.samples
        var scratch = [Float](repeating: 0, count: perImage)
        cache.pixels.withUnsafeBufferPointer { pixels in
            data.withUnsafeMutableBufferPointer { out in
                scratch.withUnsafeMutableBufferPointer { scratch in
                    guard let src = pixels.baseAddress, let dst = out.baseAddress, let tmp = scratch.baseAddress else { return }
                    for (b, index) in members.enumerated() {
                        let transform = options.augmentation.transform(
                            seed: options.seed, epoch: epoch, imageID: samples[index].imageID, height: h, width: w)
                        transform.render(src + index * cache.bytesPerImage, height: h, width: w,
                                         scale: scale, bias: bias, scratch: tmp, into: dst + b * perImage)
                    }
                }
            }
        }
        return Batch(images: Tensor(shape: [members.count, 3, h, w], data: data),
                     labels: members.map { Float(samples[$0].label) }, indices: members)
    }
}

/// The batches of one epoch, in order, as the background thread prepares them.
public final class BatchStream: Sequence, IteratorProtocol {
    private let queue: PrefetchQueue
    /// Number of batches the epoch has.
    public let count: Int

    init(queue: PrefetchQueue, count: Int) {
        self.queue = queue
        self.count = count
    }

    deinit { queue.cancel() }

    /// The next batch, waiting for it if needed; nil after the last one or after `cancel()`.
    public func next() -> Batch? { queue.pop() }

    /// Stops the background thread; later `next()` calls return nil.
    public func cancel() { queue.cancel() }
}

/// A bounded FIFO between one producer thread and one consumer. All state is guarded by
/// `condition`, which is why it may be shared across threads (unchecked Sendable).
final class PrefetchQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Batch] = []
    private var finished = false
    private var cancelled = false
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Appends `batch`, waiting while the queue is full; false once cancelled.
    func push(_ batch: Batch) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !cancelled { condition.wait() }
        guard !cancelled else { return false }
        items.append(batch)
        condition.broadcast()
        return true
    }

    /// Marks the end of the epoch.
    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Drops pending batches and wakes both sides.
    func cancel() {
        condition.lock()
        cancelled = true
        items.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    /// The oldest batch, waiting for one; nil when finished and drained, or cancelled.
    func pop() -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !finished && !cancelled { condition.wait() }
        guard !cancelled, !items.isEmpty else { return nil }
        // At most `capacity` items are queued, so removing the first is cheap.
        let batch = items.removeFirst()
        condition.broadcast()
        return batch
    }
}
