// Decodes every image of a dataset once, resized to the training size, and keeps the 8-bit pixels
// in memory (HAM10000 at 96×96: 10,015 × 27,648 bytes ≈ 277 MB). Decoding runs on all cores.
// It does not augment or normalise: `BatchLoader` does that per batch from these bytes.
import Dispatch
import Foundation

/// A dataset's images decoded and resized once, as 8-bit interleaved RGB (HWC) per sample.
public struct ImageCache: Sendable {
    /// The samples the pixels belong to, in order (images skipped while decoding are removed and
    /// listed in `dataset.skipped`).
    public let dataset: Dataset
    /// Cached image height.
    public let height: Int
    /// Cached image width.
    public let width: Int
    /// `dataset.count * height * width * 3` bytes; sample `i` starts at `i * bytesPerImage`.
    public let pixels: [UInt8]

    /// Bytes of one cached image.
    public var bytesPerImage: Int { height * width * 3 }
    /// Number of cached images.
    public var count: Int { dataset.count }

    /// A cache from already-decoded pixels (tests, synthetic data); sizes must agree.
    public init(dataset: Dataset, height: Int, width: Int, pixels: [UInt8]) throws {
        guard height > 0, width > 0 else { throw DatasetError.invalidOption("image size \(height)x\(width): both must be positive") }
        guard pixels.count == dataset.count * height * width * 3 else {
            throw DatasetError.invalidOption("\(pixels.count) pixel bytes for \(dataset.count) images of \(height)x\(width)")
        }
        self.dataset = dataset
        self.height = height
        self.width = width
        self.pixels = pixels
    }
}

extension Dataset {
    /// Decodes every sample's image and resizes it (bilinear, as `ImageLoader`) to `height`×`width`.
    /// A missing or corrupt file is a `.badImage` error naming it, or with `skipBadImages` the
    /// sample is dropped and listed in `skipped`. `threads` nil uses every core.
    public func decodeImages(height: Int, width: Int, skipBadImages: Bool = false, threads: Int? = nil) throws -> ImageCache {
        guard height > 0, width > 0 else { throw DatasetError.invalidOption("image size \(height)x\(width): both must be positive") }
        let stride = height * width * 3
        let n = samples.count
        let failures = FailureSlots(count: n)
        let workers = max(1, min(threads ?? ProcessInfo.processInfo.activeProcessorCount, n))
        var kept: [Int] = []
        let pixels = [UInt8](unsafeUninitializedCapacity: n * stride) { buffer, initialized in
            let base = buffer.baseAddress
            // Each worker writes only the slots of its own samples, so the shared buffer has no races.
            let slots = SlotWriter(base: base)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var i = worker
                while i < n {
                    do {
                        let image = try ImageLoader.loadImage(path: samples[i].path)
                        slots.write(resizeToBytes(image, height: height, width: width), at: i * stride)
                    } catch {
                        failures.set(i, "\(error)")
                        // Zero the slot so the buffer is fully initialised even when we fail.
                        slots.zero(count: stride, at: i * stride)
                    }
                    i += workers
                }
            }
            var filled = 0
            for i in 0..<n where failures[i] == nil {
                if filled != i, let base { (base + filled * stride).update(from: base + i * stride, count: stride) }
                kept.append(i)
                filled += 1
            }
            initialized = filled * stride
        }
        var skippedNow: [SkippedImage] = []
        for i in 0..<n {
            guard let detail = failures[i] else { continue }
            guard skipBadImages else { throw DatasetError.badImage(path: samples[i].path, detail: detail) }
            skippedNow.append(SkippedImage(imageID: samples[i].imageID, path: samples[i].path, reason: detail))
        }
        var result = subset(kept)
        result.skipped += skippedNow
        guard !result.samples.isEmpty else { throw DatasetError.noImages(path: root) }
        return try ImageCache(dataset: result, height: height, width: width, pixels: pixels)
    }

    private func resizeToBytes(_ image: RGBImage, height: Int, width: Int) -> [UInt8] {
        if image.height == height && image.width == width { return image.pixels }
        let floats = ImageLoader.resizeBilinear(image, height: height, width: width)
        // Round half up by hand: `.rounded()` in a map cost ten times the resize itself.
        return [UInt8](unsafeUninitializedCapacity: floats.count) { out, initialized in
            floats.withUnsafeBufferPointer { src in
                for i in 0..<src.count { out[i] = UInt8(min(max(src[i] * 255 + 0.5, 0), 255)) }
            }
            initialized = floats.count
        }
    }
}

/// Per-sample failure messages written by decode workers; each index is written by one worker only
/// and read after all workers have finished, which is why unchecked Sendable is sound here.
private final class FailureSlots: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<String?>
    private let count: Int
    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: max(count, 1))
        slots.initialize(repeating: nil, count: count)
    }
    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }
    func set(_ index: Int, _ message: String) { slots[index] = message }
    subscript(index: Int) -> String? { slots[index] }
}

/// The cache buffer as seen by the workers: disjoint byte ranges per sample (see `decodeImages`).
private struct SlotWriter: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt8>?
    func write(_ bytes: [UInt8], at offset: Int) {
        guard let base else { return }
        bytes.withUnsafeBufferPointer { (base + offset).initialize(from: $0.baseAddress!, count: $0.count) }
    }
    func zero(count: Int, at offset: Int) {
        (base.map { $0 + offset })?.initialize(repeating: 0, count: count)
    }
}
