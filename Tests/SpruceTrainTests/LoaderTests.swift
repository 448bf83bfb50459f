// Tests of BatchLoader: batch shapes and labels, per-epoch seeded order, augmentation keeping
// shapes and labels, and the background stream yielding exactly the synchronous batches whatever
// the prefetch depth or consumer pace; early release does not hang.
import Foundation
import Testing
@testable import SpruceCore
@testable import SpruceTrain

struct LoaderTests {
    /// A cache of `count` random 6×6 images with labels alternating 0/1 every three images.
    func cache(count: Int) throws -> ImageCache {
        var rng = SplitMix64(state: 77)
        let samples = (0..<count).map {
            DatasetSample(imageID: "img\($0)", path: "", label: ($0 / 3) % 2, group: "g\($0)")
        }
        let pixels = (0..<(count * 6 * 6 * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        return try ImageCache(dataset: Dataset(root: "mem", samples: samples, classNames: ["0", "1"]), height: 6, width: 6, pixels: pixels)
    }

    @Test("shapes and labels", arguments: [(false, [4, 4, 2]), (true, [4, 4])])
    func shapesAndLabels(dropLast: Bool, sizes: [Int]) throws {
        let c = try cache(count: 10)
        let loader = try BatchLoader(cache: c, options: BatchLoaderOptions(batchSize: 4, dropLast: dropLast, seed: 3))
        #expect(loader.batchesPerEpoch == sizes.count)
        let batches = Array(loader.epoch(0))
        #expect(batches.map { $0.images.shape } == sizes.map { [$0, 3, 6, 6] })
        for b in batches {
            #expect(b.labels == b.indices.map { Float(c.dataset.samples[$0].label) })
        }
        let served = batches.flatMap(\.indices)
        #expect(dropLast ? Set(served).count == 8 : served.sorted() == Array(0..<10))
    }

    @Test func evaluationOrderAndPixels() throws {
        let c = try cache(count: 5)
        let loader = try BatchLoader(cache: c, indices: [4, 1, 2], options: .evaluation(batchSize: 2))
        let batches = Array(loader.epoch(9))
        #expect(batches.map(\.indices) == [[4, 1], [2]])
        // Sample 4, channel 1, pixel (2, 3) is byte (2*6+3)*3+1 of its slot, over 255.
        let expected = Float(c.pixels[4 * c.bytesPerImage + (2 * 6 + 3) * 3 + 1]) / 255
        #expect(abs(batches[0].images[[0, 1, 2, 3]] - expected) < 1e-6)
    }

    @Test func shuffleIsSeededByEpoch() throws {
        let c = try cache(count: 40)
        let loader = try BatchLoader(cache: c, options: BatchLoaderOptions(batchSize: 8, seed: 5))
        let same = try BatchLoader(cache: c, options: BatchLoaderOptions(batchSize: 8, seed: 5))
        let otherSeed = try BatchLoader(cache: c, options: BatchLoaderOptions(batchSize: 8, seed: 6))
        #expect(loader.order(epoch: 0) == same.order(epoch: 0))
        #expect(loader.order(epoch: 0) != loader.order(epoch: 1))
        #expect(loader.order(epoch: 0) != otherSeed.order(epoch: 0))
        #expect(loader.order(epoch: 3).sorted() == Array(0..<40))
    }

    @Test func augmentedBatchesKeepShapesAndLabels() throws {
        let c = try cache(count: 12)
        let loader = try BatchLoader(cache: c, options: BatchLoaderOptions(batchSize: 5, augmentation: .standard, seed: 1))
        let plain = try BatchLoader(cache: c, options: BatchLoaderOptions(batchSize: 5, seed: 1))
        for epoch in 0..<2 {
            let a = Array(loader.epoch(epoch)), p = Array(plain.epoch(epoch))
            #expect(a.map(\.indices) == p.map(\.indices))
            #expect(a.map(\.labels) == p.map(\.labels))
            #expect(a.map(\.images.shape) == p.map(\.images.shape))
            #expect(a.map(\.images) != p.map(\.images))
            #expect(a.allSatisfy { $0.images.data.allSatisfy { $0 >= 0 && $0 <= 1 } })
        }
        #expect(Array(loader.epoch(0)) == Array(loader.epoch(0)))
        #expect(Array(loader.epoch(0)).map(\.images) != Array(loader.epoch(1)).map(\.images))
    }

    @Test("stream equals synchronous batches", arguments: [1, 2, 8])
    func streamIsIndependentOfTiming(prefetch: Int) throws {
        let c = try cache(count: 37)
        let loader = try BatchLoader(cache: c, options: BatchLoaderOptions(batchSize: 4, augmentation: .standard, seed: 9, prefetch: prefetch))
        let expected = (0..<loader.batchesPerEpoch).map { loader.batch($0, epoch: 2) }
        // A consumer that does uneven work between batches sees exactly the same sequence.
        var received: [Batch] = []
        var sink: UInt64 = 0
        for (k, batch) in loader.epoch(2).enumerated() {
            received.append(batch)
            var rng = SplitMix64(state: UInt64(k))
            for _ in 0..<((k % 3) * 20_000) { sink &+= rng.next() }
        }
        #expect(sink != 1)
        #expect(received == expected)
    }

    @Test func earlyStopDoesNotHang() throws {
        let c = try cache(count: 64)
        let loader = try BatchLoader(cache: c, options: BatchLoaderOptions(batchSize: 2, prefetch: 1))
        do {
            let stream = loader.epoch(0)
            #expect(stream.next() != nil)
        }  // released with the producer blocked on a full queue
        let stream = loader.epoch(1)
        #expect(stream.next()?.indices == loader.batch(0, epoch: 1).indices)
        stream.cancel()
        #expect(stream.next() == nil)
        #expect(Array(loader.epoch(0)).count == 32)
    }

    @Test func invalidOptions() throws {
        let c = try cache(count: 3)
        #expect(throws: DatasetError.self) { try BatchLoader(cache: c, options: BatchLoaderOptions(batchSize: 0)) }
        #expect(throws: DatasetError.self) { try BatchLoader(cache: c, options: BatchLoaderOptions(prefetch: 0)) }
        #expect(throws: DatasetError.self) { try BatchLoader(cache: c, indices: [0, 3]) }
        #expect(throws: DatasetError.self) { try BatchLoader(cache: c, options: BatchLoaderOptions(scaling: .meanStd(mean: [0], std: [1]))) }
        #expect(throws: DatasetError.self) { try ImageCache(dataset: c.dataset, height: 6, width: 6, pixels: [1, 2]) }
    }
}
