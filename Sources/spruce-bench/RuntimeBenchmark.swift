// `spruce-bench pack` and `spruce-bench runtime`: the Swift side of Tests/Benchmarks/runtime_bench.py.
// `pack` is a small stand-in for `spruce pack` (import ONNX → lower → one-shot uniform per-layer
// magnitude pruning with SprucePipeline's allocator → ArtifactWriter), kept here so the benchmark
// does not depend on the CLI. `runtime` times batch-1 inference of an artifact with SpruceRuntime and prints JSON.
import _SpruceSupport
import SpruceCore
import SpruceFormat
import SpruceONNX
import SprucePipeline
import SpruceRuntime

/// Packs an ONNX model into an artifact, optionally pruned and int8.
enum PackBenchmark {
    static let usage = "pack MODEL.onnx -o OUT.spruce [--sparsity S] [--int8]"

    @Sendable static func run(_ arguments: [String]) throws -> String {
        var source: String?, destination: String?
        var sparsity = 0.0
        var int8 = false
        var i = 0
        while i < arguments.count {
            switch arguments[i] {
            case "-o" where i + 1 < arguments.count: destination = arguments[i + 1]; i += 2
            case "--sparsity" where i + 1 < arguments.count:
                guard let s = Double(arguments[i + 1]), s >= 0, s < 1 else { throw BenchError.usage(usage) }
                sparsity = s
                i += 2
            case "--int8": int8 = true; i += 1
            case let a where source == nil && !a.hasPrefix("-"): source = a; i += 1
            default: throw BenchError.usage(usage)
            }
        }
        guard let source, let destination else { throw BenchError.usage(usage) }
        let model = try ONNXImporter.load(path: source)
        var graph = try model.graph.lowered()
        let achieved = sparsity > 0 ? try prune(&graph, to: sparsity) : zeroFraction(graph)
        let packed = Model(graph: graph, metadata: ["sparsity": "\(achieved)", "pruning": "one-shot uniform per-layer magnitude (spruce-bench)"],
                           producer: model.producer)
        try ArtifactWriter(int8: int8).write(packed, to: destination)
        return "{\"benchmark\": \"pack\", \"file\": \(ImportBenchmark.jsonString(destination)), \"sparsity\": \(achieved)}"
    }

    /// Zeroes the same smallest-magnitude fraction of every pruned layer (uniform per layer, as
    /// tfmot's `prune_low_magnitude`), chosen so that `target` is the sparsity over all conv/Gemm
    /// weights (as `spruce pack --sparsity` means it); first conv, depthwise convs and classifier
    /// stay dense. Returns the achieved fraction of zeros over all conv/Gemm weights.
    static func prune(_ graph: inout Graph, to target: Double) throws -> Double {
        let options = PruningOptions(allocation: .uniform, scope: .allWeights)
        let report: PruningReport
        (graph, report) = try PruningAllocator(options: options).prune(graph, target: target)
        return report.achieved
    }

    /// Fraction of zeros over all conv and gemm weights.
    static func zeroFraction(_ graph: Graph) -> Double {
        var zeros = 0, count = 0
        for l in graph.prunableLayers() {
            let d = graph.initializers[l.tensor]!.data
            count += d.count
            zeros += d.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        }
        return count == 0 ? 0 : Double(zeros) / Double(count)
    }
}

/// Times batch-1 inference of an artifact.
enum RuntimeBenchmark {
    static let usage = "runtime MODEL.spruce [--threads T] [--runs N] [--warmup W] [--kernels automatic|stored|dense] [--profile]"

    @Sendable static func run(_ arguments: [String]) throws -> String {
        var path: String?
        var threads = 1, runs = 30, warmup = 5
        var choice = KernelChoice.automatic
        var profile = false
        var i = 0
        func intArgument() throws -> Int {
            guard i + 1 < arguments.count, let n = Int(arguments[i + 1]), n > 0 else { throw BenchError.usage(usage) }
            i += 2
            return n
        }
        while i < arguments.count {
            switch arguments[i] {
            case "--threads": threads = try intArgument()
            case "--runs": runs = try intArgument()
            case "--warmup": warmup = try intArgument()
            case "--kernels" where i + 1 < arguments.count:
                guard let c = KernelChoice(rawValue: arguments[i + 1]) else { throw BenchError.usage(usage) }
                choice = c
                i += 2
            case "--profile": profile = true; i += 1
            case let a where path == nil && !a.hasPrefix("-"): path = a; i += 1
            default: throw BenchError.usage(usage)
            }
        }
        guard let path else { throw BenchError.usage(usage) }
        let clock = ContinuousClock()
        var engine: Engine?
        let loadTime = try clock.measure { engine = try Engine(path: path, options: EngineOptions(threads: threads, kernelChoice: choice)) }
        guard let engine else { throw BenchError.usage(usage) }
        var inputs: [String: Tensor] = [:]
        var state: UInt64 = 0x5EED
        for (name, shape) in engine.inputShapes {
            let data = (0..<shape.elementCount).map { _ -> Float in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Float(state >> 40) / Float(1 << 24)
            }
            inputs[name] = Tensor(shape: shape, data: data)
        }
        for _ in 0..<warmup { _ = try engine.run(inputs) }
        var times: [Double] = []
        for _ in 0..<runs {
            let elapsed = try clock.measure { _ = try engine.run(inputs) }
            times.append(seconds(elapsed))
        }
        times.sort()
        let artifact = try ArtifactReader.load(path: path)
        let sparsity = artifact.metadata["sparsity"] ?? "null"
        var json = "{\"benchmark\": \"runtime\", \"file\": \(ImportBenchmark.jsonString(path)), \"threads\": \(threads), "
            + "\"kernels\": \"\(choice.rawValue)\", \"runs\": \(runs), \"median_ms\": \(times[times.count / 2] * 1e3), "
            + "\"p90_ms\": \(times[min(times.count - 1, times.count * 9 / 10)] * 1e3), \"min_ms\": \(times[0] * 1e3), "
            + "\"load_ms\": \(seconds(loadTime) * 1e3), \"arena_bytes\": \(engine.arenaBytes), \"sparsity\": \(Double(sparsity) ?? -1)"
        if profile {
            let steps = engine.profileSteps(runs: runs)
            json += ", \"steps\": [" + steps.map {
                "{\"node\": \(ImportBenchmark.jsonString($0.node)), \"kernel\": \"\($0.kernel)\", \"ms\": \($0.seconds * 1e3)}"
            }.joined(separator: ", ") + "]"
        }
        return json + "}"
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
