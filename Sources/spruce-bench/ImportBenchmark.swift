// `spruce-bench import MODEL.onnx`: best-of-N wall time of `ONNXImporter.load` next to the time
// of reading the same file's bytes (the floor an importer can approach). Prints one JSON line;
// Tests/Benchmarks/import_bench.py adds python `onnx.load` on the same file and the ratio.
import _SpruceSupport
import SpruceCore
import SpruceONNX

/// Command-line failures of spruce-bench, one line each.
enum BenchError: Error, CustomStringConvertible {
    case usage(String)
    case unreadable(path: String, reason: String)

    var description: String {
        switch self {
        case .usage(let text): "usage: spruce-bench \(text)"
        case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
        }
    }
}

/// Times ONNX import against a plain read of the file.
enum ImportBenchmark {
    static let usage = "import MODEL.onnx [--repeat N]"

    @Sendable static func run(_ arguments: [String]) throws -> String {
        var path: String?
        var repeats = 5
        var i = 0
        while i < arguments.count {
            if arguments[i] == "--repeat", i + 1 < arguments.count, let n = Int(arguments[i + 1]), n > 0 {
                repeats = n
                i += 2
            } else if path == nil, !arguments[i].hasPrefix("-") {
                path = arguments[i]
                i += 1
            } else {
                throw BenchError.usage(usage)
            }
        }
        guard let path else { throw BenchError.usage(usage) }

        var byteCount = 0
        let read = try bestOf(repeats) { byteCount = try readFile(path).count }
        var model: Model?
        let load = try bestOf(repeats) { model = try ONNXImporter.load(path: path) }
        let graph = model?.graph ?? Graph()
        return "{\"benchmark\": \"import\", \"file\": \(jsonString(path)), \"bytes\": \(byteCount), "
            + "\"repeats\": \(repeats), \"read_seconds\": \(read), \"import_seconds\": \(load), "
            + "\"nodes\": \(graph.nodes.count), \"parameters\": \(graph.parameterCount)}"
    }

    /// Smallest wall time of `repeats` runs, in seconds.
    static func bestOf(_ repeats: Int, _ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        let clock = ContinuousClock()
        for _ in 0..<repeats {
            let elapsed = try clock.measure(body)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            best = min(best, seconds)
        }
        return best
    }

    /// The whole file in one `fread` (the floor an importer can approach).
    static func readFile(_ path: String) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else {
            throw BenchError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { fclose(file) }
        fseek(file, 0, SEEK_END)
        let size = ftell(file)
        fseek(file, 0, SEEK_SET)
        guard size >= 0 else { throw BenchError.unreadable(path: path, reason: "cannot size") }
        var got = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            if size > 0, let base = buffer.baseAddress { got = fread(base, 1, size, file) }
            initialized = got
        }
        guard got == size else { throw BenchError.unreadable(path: path, reason: "short read") }
        return bytes
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
