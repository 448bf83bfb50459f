// `spruce-bench train --model mobilenetv2|resnet50v2 [--size 96] [--batch 16] [--steps N]`:
// training throughput (images per second) of a zoo model with the study's recipe (Adam 1e-3,
// binary cross-entropy) on seeded random images, after warm-up steps. Prints one JSON line;
// Tests/Benchmarks/train_bench.py times tf.keras on the same architecture and batch and prints the ratio.
import _SpruceSupport
import SpruceCore
import SpruceTrain

/// Times `TrainingSession.step` on random batches.
enum TrainBenchmark {
    static let usage = "train --model mobilenetv2|resnet50v2 [--size 96] [--width 1.0] [--batch 16] [--steps 20] [--warmup 3] [--threads N] [--profile]"

    @Sendable static func run(_ arguments: [String]) throws -> String {
        var name = "mobilenetv2"
        var size = 96, batch = 16, steps = 20, warmup = 3
        var width: Float = 1
        var threads: Int?
        var profile = false
        var i = 0
        func value(_ flag: String) throws -> String {
            guard i + 1 < arguments.count else { throw BenchError.usage(usage) }
            return arguments[i + 1]
        }
        while i < arguments.count {
            let flag = arguments[i]
            if flag == "--profile" {
                profile = true
                i += 1
                continue
            }
            let text = try value(flag)
            switch flag {
            case "--model": name = text
            case "--size": size = try positive(text)
            case "--batch": batch = try positive(text)
            case "--steps": steps = try positive(text)
            case "--warmup": warmup = try nonNegative(text)
            case "--threads": threads = try positive(text)
            case "--width":
                guard let w = Float(text), w > 0 else { throw BenchError.usage(usage) }
                width = w
            default: throw BenchError.usage(usage)
            }
            i += 2
        }
        let architecture = try ZooModel(name: name)
        let model = try ModelZoo.build(architecture, inputSize: size, width: width, seed: 1)
        var options = TrainingOptions(batchNormMomentum: architecture.batchNormMomentum, threads: threads)
        options.profile = profile
        let session = try TrainingSession(model: model, optimizer: .adam(learningRate: 1e-3), options: options, seed: 1)

        // Random images in [0, 1) and balanced labels, the same every run.
        var state: UInt64 = 0x5EED
        func next() -> Float {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Float((z ^ (z >> 31)) >> 40) / Float(1 << 24)
        }
        let batches = (0..<2).map { _ in Tensor(shape: [batch, 3, size, size], data: (0..<(batch * 3 * size * size)).map { _ in next() }) }
        let labels = (0..<batch).map { Float($0 % 2) }

        var loss: Float = 0
        for k in 0..<warmup { loss = try session.step(inputs: batches[k % 2], labels: labels) }
        let before = session.executor.profile
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            for k in 0..<steps { loss = try session.step(inputs: batches[k % 2], labels: labels) }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        if profile { printProfile(session.executor.profile, minus: before, seconds: seconds, steps: steps) }
        return "{\"benchmark\": \"train\", \"model\": \"\(architecture.rawValue)\", \"size\": \(size), \"width\": \(width), "
            + "\"batch\": \(batch), \"steps\": \(steps), \"warmup\": \(warmup), \"threads\": \(session.executor.options.threads), "
            + "\"seconds\": \(seconds), \"images_per_second\": \(Double(steps * batch) / seconds), \"last_loss\": \(loss)}"
    }

    /// Per-operator milliseconds per step of the timed steps, largest first, on stderr (stdout
    /// stays one JSON line); "other" is the step time outside the operators (loss, optimizer, glue).
    private static func printProfile(_ after: [String: Double], minus before: [String: Double], seconds: Double, steps: Int) {
        let entries = after.map { ($0.key, $0.value - (before[$0.key] ?? 0)) }.sorted { $0.1 > $1.1 }
        let covered = entries.reduce(0) { $0 + $1.1 }
        var lines = ["per-operator ms/step over \(steps) steps (total \(format(seconds * 1000 / Double(steps))) ms/step):"]
        for (key, value) in entries + [("other (loss, optimizer, glue)", seconds - covered)] {
            lines.append("  " + key + String(repeating: " ", count: max(0, 32 - key.count)) + " " + format(value * 1000 / Double(steps))
                + "  " + format(100 * value / seconds) + " %")
        }
        printError(lines.joined(separator: "\n") + "\n")
    }

    private static func format(_ x: Double) -> String {
        let r = (x * 10).rounded() / 10
        return "\(r)"
    }

    private static func positive(_ text: String) throws -> Int {
        guard let n = Int(text), n > 0 else { throw BenchError.usage(usage) }
        return n
    }

    private static func nonNegative(_ text: String) throws -> Int {
        guard let n = Int(text), n >= 0 else { throw BenchError.usage(usage) }
        return n
    }
}
