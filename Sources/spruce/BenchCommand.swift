// `spruce bench`: batch-1 latency (median, p90, min over timed runs after warm-up) and the
// process's peak resident memory for one model. It times one engine; comparisons with other
// engines are `make bench`'s job.
import ArgumentParser
import Foundation
import SprucePipeline

/// `spruce bench MODEL [--threads N] [--runs N] [--warmup N] [--json]`
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time batch-1 inference of a model and report peak memory.",
        discussion: """
            Feeds a fixed-seed random input of the model's declared shape (batch 1) and times \
            each run with a monotonic clock. A .spruce artifact runs on the Spruce runtime with \
            its stored (sparse, int8) weights; if the runtime cannot run one of its operators, \
            the reference executor runs it instead and the report says so. A .onnx model runs \
            on the reference executor (plain loops, not fast; single-threaded). Peak memory is the \
            peak resident set size of the whole spruce process (getrusage ru_maxrss, in bytes), \
            so it includes the tool and the loaded model. --json prints median_ms, p90_ms, \
            min_ms, mean_ms, load_ms, peak_memory_bytes, runs, warmup, threads, engine and \
            input_shapes.

            Examples:
              spruce bench model.spruce
              spruce bench model.spruce --threads 2 --runs 50 --json
            """)

    @OptionGroup var options: ModelOptions

    @Option(help: ArgumentHelp("Threads for the runtime.", valueName: "N"))
    var threads = 1

    @Option(help: ArgumentHelp("Timed runs.", valueName: "N"))
    var runs = 20

    @Option(help: ArgumentHelp("Untimed runs first.", valueName: "N"))
    var warmup = 3

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1, got \(runs)") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be at least 0, got \(warmup)") }
    }

    func run() throws {
        let r = try LatencyBenchmark.run(path: options.model, threads: threads, runs: runs, warmup: warmup)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(r), as: UTF8.self))
            return
        }
        let shapes = r.inputShapes.sorted { $0.key < $1.key }.map { "\($0.key) \(formatShape($0.value.map { Optional($0) }))" }
        print("""
            model: \(options.model)
            engine: \(r.engine)
            input: \(shapes.joined(separator: ", "))
            load: \(String(format: "%.2f", r.loadMs)) ms
            latency (batch 1, \(r.runs) runs after \(r.warmup) warm-up): median \(String(format: "%.3f", r.medianMs)) ms, \
            p90 \(String(format: "%.3f", r.p90Ms)) ms, min \(String(format: "%.3f", r.minMs)) ms
            peak memory: \(r.peakMemoryBytes) bytes (process peak RSS)
            """)
    }
}
