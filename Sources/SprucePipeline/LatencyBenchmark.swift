// `spruce bench` as a library call: times batch-1 inferences of one session on a seeded random
// input and reads the process's peak resident memory. It measures; it does not compare against
// other engines (`make bench` does) and is not used by any test that checks numbers.
import Foundation
import SpruceCore

/// Latency statistics of repeated runs and the process's peak memory.
public struct BenchmarkResult: Sendable, Equatable, Encodable {
    /// Timed runs.
    public var runs: Int
    /// Untimed runs before them.
    public var warmup: Int
    /// Threads requested.
    public var threads: Int
    /// What ran the model (`runtime (1 thread)`, `reference executor`, …).
    public var engine: String
    /// Shapes fed, by input name.
    public var inputShapes: [String: [Int]]
    public var medianMs: Double
    public var p90Ms: Double
    public var minMs: Double
    public var meanMs: Double
    /// Time to read and plan the model.
    public var loadMs: Double
    /// Peak resident set size of the whole process (getrusage `ru_maxrss`), in bytes: it includes
    /// the tool itself, the loaded model and every run, not the model alone.
    public var peakMemoryBytes: Int

    enum CodingKeys: String, CodingKey {
        case runs, warmup, threads, engine, inputShapes = "input_shapes", medianMs = "median_ms", p90Ms = "p90_ms"
        case minMs = "min_ms", meanMs = "mean_ms", loadMs = "load_ms", peakMemoryBytes = "peak_memory_bytes"
    }
}

/// Times inferences of one model.
public enum LatencyBenchmark {
    /// The `q`-quantile (0…1) of `samples` by linear interpolation between closest ranks.
    public static func quantile(_ samples: [Double], _ q: Double) -> Double {
        guard !samples.isEmpty else { return 0 }
        let s = samples.sorted()
        let position = q * Double(s.count - 1)
        let low = Int(position.rounded(.down)), high = min(low + 1, s.count - 1)
        return s[low] + (s[high] - s[low]) * (position - Double(low))
    }

    /// Batch-1 feeds for `inputs`: a dynamic first dimension becomes 1, values uniform in [0, 1)
    /// from a fixed seed. Throws when another dimension is dynamic.
    public static func randomFeeds(for inputs: [ValueInfo], seed: UInt64 = 0x5EED) throws -> [String: Tensor] {
        var state = seed
        var feeds: [String: Tensor] = [:]
        for input in inputs {
            var shape: [Int] = []
            for (i, d) in input.shape.enumerated() {
                if let d { shape.append(d) } else if i == 0 { shape.append(1) } else {
                    throw PipelineError.invalidModel(path: input.name, reason: "input '\(input.name)' of shape \(formatShape(input.shape)) has a dynamic dimension besides the batch; bench needs fixed sizes")
                }
            }
            let count = shape.reduce(1, *)
            var data = [Float](repeating: 0, count: count)
            for i in 0..<count {
                // SplitMix64: fixed seeds make runs comparable.
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                data[i] = Float(z >> 40) / Float(1 << 24)
            }
            feeds[input.name] = Tensor(shape: shape, data: data)
        }
        return feeds
    }

    /// Peak resident set size of this process in bytes (Linux reports `ru_maxrss` in KiB).
    public static func peakResidentBytes() -> Int {
        var usage = rusage()
        #if os(Linux)
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss) * 1024
        #else
        guard getrusage(RUSAGE_SELF, &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss)  // bytes on Darwin
        #endif
    }

    /// Opens `path`, runs `warmup` untimed and `runs` timed batch-1 inferences.
    public static func run(path: String, threads: Int, runs: Int, warmup: Int) throws -> BenchmarkResult {
        let loadStart = DispatchTime.now().uptimeNanoseconds
        let session = try ModelFile.openSession(path: path, options: SessionOptions(threads: threads))
        let loadMs = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e6
        let feeds = try randomFeeds(for: session.inputs)
        for _ in 0..<warmup { _ = try session.run(feeds) }
        var times: [Double] = []
        times.reserveCapacity(runs)
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try session.run(feeds)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let engine: String = if let a = session as? ArtifactSession { a.engine.description } else { "reference executor" }
        return BenchmarkResult(
            runs: runs, warmup: warmup, threads: threads, engine: engine, inputShapes: feeds.mapValues(\.shape),
            medianMs: quantile(times, 0.5), p90Ms: quantile(times, 0.9), minMs: times.min() ?? 0,
            meanMs: times.isEmpty ? 0 : times.reduce(0, +) / Double(times.count), loadMs: loadMs,
            peakMemoryBytes: peakResidentBytes())
    }
}
