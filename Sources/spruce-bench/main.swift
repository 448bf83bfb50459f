// spruce-bench: the Swift side of `make bench`. A small dispatcher, `spruce-bench <benchmark> args`,
// where each benchmark times Spruce and prints one JSON line; the Python scripts in Tests/Benchmarks/ time
// the peers (onnx, onnxruntime) on the same files and print the comparison tables.
import _SpruceSupport

/// A benchmark reachable as `spruce-bench <name> ...`.
struct BenchmarkCommand: Sendable {
    let name: String
    let usage: String
    let run: @Sendable ([String]) throws -> String
}

/// Every benchmark, in the order `spruce-bench` lists them.
enum BenchmarkList {
    static let all: [BenchmarkCommand] = [
        BenchmarkCommand(name: "import", usage: ImportBenchmark.usage, run: ImportBenchmark.run),
        BenchmarkCommand(name: "runtime", usage: RuntimeBenchmark.usage, run: RuntimeBenchmark.run),
        BenchmarkCommand(name: "pack", usage: PackBenchmark.usage, run: PackBenchmark.run),
        BenchmarkCommand(name: "train", usage: TrainBenchmark.usage, run: TrainBenchmark.run),
    ]
}

/// Writes `text` to standard error (stdio's `stderr` global is not concurrency-safe in Swift 6).
func printError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first, let benchmark = BenchmarkList.all.first(where: { $0.name == name }) else {
    printError("usage: spruce-bench <benchmark> [args]\nbenchmarks:\n"
        + BenchmarkList.all.map { "  \($0.usage)\n" }.joined())
    exit(2)
}
do {
    print(try benchmark.run(Array(arguments.dropFirst())))
} catch {
    printError("spruce-bench \(name): \(error)\n")
    exit(1)
}
