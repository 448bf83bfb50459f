// Data-parallel training: the row partition of global batches, the single-process path of the
// distributed step, and end to end under `mpirun -np 2` (the built `spruce` binary via Process):
// same weights as one rank, --resume on another rank count, a killed rank failing the job.
// The mpirun tests are disabled only when mpirun is not installed (CI installs Open MPI).

import Foundation
import Testing
import SpruceCore
import SpruceONNX
@testable import SpruceTrain

enum MPIFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static var images: String { root + "/fixtures/images" }

    static var spruce: String {
        var directory = Bundle.main.bundleURL
        if directory.pathExtension == "xctest" { directory.deleteLastPathComponent() }
        let beside = directory.appendingPathComponent("spruce").path
        return FileManager.default.isExecutableFile(atPath: beside) ? beside : root + "/.build/debug/spruce"
    }

    /// mpirun on PATH, nil when Open MPI is not installed.
    static let mpirun: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { $0 + "/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    static func launch(ranks: Int, _ arguments: [String], log: String) throws -> Process {
        let process = Process()
        if ranks == 0 {
            process.executableURL = URL(fileURLWithPath: spruce)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: try #require(mpirun))
            process.arguments = ["--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)", spruce] + arguments
        }
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// Runs `spruce` directly (`ranks` 0) or under mpirun; returns the exit status and output.
    /// A run past `limit` seconds is killed and reported as status -1.
    static func run(ranks: Int, _ arguments: [String], log: String, limit: Double = 300) throws -> (Int32, String) {
        let process = try launch(ranks: ranks, arguments, log: log)
        let status = wait(process, limit: limit)
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    static func wait(_ process: Process, limit: Double) -> Int32 {
        let deadline = Date().addingTimeInterval(limit)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            return -1
        }
        return process.terminationStatus
    }

    static func train(_ output: String, epochs: Int = 1, extra: [String] = []) -> [String] {
        ["train", "--model", "mobilenetv2", "--width", "0.35", "--size", "32", "--epochs", "\(epochs)", "--batch", "4",
         "--seed", "3", "--threads", "1", "--data", images, "-o", output] + extra
    }

    /// The last epoch's weights from a run's checkpoint.
    static func weights(_ output: String) throws -> [String: Tensor] {
        try TrainingCheckpoint.read(path: Trainer.checkpointPath(in: String(output.dropLast(5)) + ".checkpoint")).weights
    }

    static func maxDifference(_ a: [String: Tensor], _ b: [String: Tensor], where keep: (String) -> Bool = { _ in true })
        -> Float {
        var worst: Float = 0
        for (name, t) in a where keep(name) {
            guard let u = b[name], u.shape == t.shape else { return .infinity }
            for (x, y) in zip(t.data, u.data) { worst = max(worst, abs(x - y)) }
        }
        return worst
    }

    /// A small CNN with trainable BatchNorm (conv-BN-ReLU twice, GAP, dense, sigmoid) at 32×32,
    /// He-initialised from `seed`, written as ONNX. Unlike MobileNet v2 at a few pixels per map,
    /// no BatchNorm here normalises a (nearly) constant channel, whose ReLU mask would then be
    /// decided by float noise and differ between any two summation orders.
    static func smallCNN(_ path: String, seed: UInt64 = 1) throws {
        try ONNXExporter.write(smallCNNModel(seed: seed), to: path)
    }

    /// The model `smallCNN` writes.
    static func smallCNNModel(seed: UInt64 = 1) -> Model {
        var state = seed
        func normal() -> Float {
            func uniform() -> Double {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return (Double((z ^ (z >> 31)) >> 11) + 0.5) / Double(1 << 53)
            }
            return Float((-2 * Foundation.log(uniform())).squareRoot() * Foundation.cos(2 * Double.pi * uniform()))
        }
        func he(_ shape: [Int]) -> Tensor {
            let fanIn = shape.dropFirst().reduce(1, *)
            let std = (2 / Float(fanIn)).squareRoot()
            return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in normal() * std })
        }
        var g = Graph()
        g.inputs = [ValueInfo(name: "x", shape: [nil, 3, 32, 32])]
        g.outputs = [ValueInfo(name: "y", shape: [nil, 1])]
        let conv = ConvAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])
        g.initializers = ["w1": he([8, 3, 3, 3]), "w2": he([16, 8, 3, 3]), "fc": he([1, 16]),
                          "fcb": Tensor(shape: [1], repeating: 0)]
        for (name, c) in [("1", 8), ("2", 16)] {
            g.initializers["g" + name] = Tensor(shape: [c], repeating: 1)
            g.initializers["b" + name] = Tensor(shape: [c], repeating: 0)
            g.initializers["m" + name] = Tensor(shape: [c], repeating: 0)
            g.initializers["v" + name] = Tensor(shape: [c], repeating: 1)
        }
        g.nodes = [
            Node(name: "conv1", op: .conv(conv), inputs: ["x", "w1"], outputs: ["c1"]),
            Node(name: "bn1", op: .batchNormalization(epsilon: 1e-3), inputs: ["c1", "g1", "b1", "m1", "v1"], outputs: ["n1"]),
            Node(name: "relu1", op: .relu, inputs: ["n1"], outputs: ["a1"]),
            Node(name: "conv2", op: .conv(conv), inputs: ["a1", "w2"], outputs: ["c2"]),
            Node(name: "bn2", op: .batchNormalization(epsilon: 1e-3), inputs: ["c2", "g2", "b2", "m2", "v2"], outputs: ["n2"]),
            Node(name: "relu2", op: .relu, inputs: ["n2"], outputs: ["a2"]),
            Node(name: "gap", op: .globalAveragePool, inputs: ["a2"], outputs: ["p"]),
            Node(name: "flat", op: .flatten(axis: 1), inputs: ["p"], outputs: ["f"]),
            Node(name: "fc", op: .gemm(GemmAttributes(transB: true)), inputs: ["f", "fc", "fcb"], outputs: ["logit"]),
            Node(name: "sigmoid", op: .sigmoid, inputs: ["logit"], outputs: ["y"]),
        ]
        return Model(graph: g, producer: "spruce tests")
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "spruce-mpi-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

@Suite struct DistributedUnitTests {
    @Test("global batch rows split contiguously, in rank order, sizes within one", arguments: [
        (16, 2), (16, 3), (7, 2), (2, 2), (1, 2), (5, 4),
    ])
    func rowPartition(count: Int, size: Int) {
        let parts = (0..<size).map { GradientSync.rows(count: count, rank: $0, size: size) }
        #expect(parts.first?.lowerBound == 0)
        #expect(parts.last?.upperBound == count)
        for (a, b) in zip(parts, parts.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
        let sizes = parts.map(\.count)
        #expect((sizes.max() ?? 0) - (sizes.min() ?? 0) <= 1)
    }

    @Test("--sync-bn needs a row of every batch, the last one included, on every rank")
    func syncBatchNormRows() throws {
        try GradientSync.checkEveryRankHasRows(images: 14, batch: 4, size: 2)
        #expect(throws: DistributedError.batchTooSmall(rows: 1, ranks: 2)) {
            try GradientSync.checkEveryRankHasRows(images: 13, batch: 4, size: 2)
        }
        #expect(throws: DistributedError.batchTooSmall(rows: 2, ranks: 3)) {
            try GradientSync.checkEveryRankHasRows(images: 2, batch: 16, size: 3)
        }
    }

    @Test("without mpirun's environment the communicator is the single process")
    func singleProcessOutsideMPI() throws {
        let c = try Distributed.communicator(environment: ["PATH": "/usr/bin"])
        #expect(c.size == 1 && c.rank == 0 && c.isRoot)
        #expect(Distributed.defaultThreads(environment: [:]) == nil)
        #expect(Distributed.defaultThreads(environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "1000000"]) == 1)
    }

    @Test("a batch slice keeps the rows asked for")
    func slice() {
        let t = Tensor(shape: [3, 2], data: [0, 1, 2, 3, 4, 5])
        let s = GradientSync.slice(t, rows: 1..<3)
        #expect(s.shape == [2, 2] && s.data == [2, 3, 4, 5])
    }

    @Test("the distributed step on one rank updates exactly like the ordinary step")
    func distributedStepOnOneRank() throws {
        let model = try ModelZoo.build(.mobileNetV2, inputSize: 32, width: 0.35, seed: 5)
        var rng: UInt64 = 11
        func next() -> Float {
            rng &+= 0x9E37_79B9_7F4A_7C15
            var z = rng
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Float((z ^ (z >> 31)) >> 40) / Float(1 << 24)
        }
        let images = Tensor(shape: [4, 3, 32, 32], data: (0..<(4 * 3 * 32 * 32)).map { _ in next() })
        let labels: [Float] = [0, 1, 1, 0]
        let options = TrainingOptions(threads: 1)
        let plain = try TrainingSession(model: model, options: options, seed: 1)
        let viaSync = try TrainingSession(model: model, options: options, seed: 1)
        let sync = GradientSync(communicator: SingleProcess())
        for _ in 0..<2 {
            let a = try plain.step(inputs: images, labels: labels)
            let b = try viaSync.step(inputs: images, labels: labels, sync: sync, globalRows: 4)
            #expect(a == b)
        }
        #expect(sync.allreduceCalls == 2)
        let pa = plain.model.graph.initializers, pb = viaSync.model.graph.initializers
        #expect(MPIFixtures.maxDifference(pa, pb) == 0)
        try sync.checkReplicas(viaSync)  // one rank: trivially consistent
    }
}

@Suite(.serialized, .enabled(if: MPIFixtures.mpirun != nil, "mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)"))
struct DistributedMPITests {
    @Test("2 ranks give 1 rank's weights when BatchNorm is frozen (per-rank BN is then exact)")
    func frozenBatchNormMatches() throws {
        let dir = try MPIFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // '*/*a' freezes every BatchNorm gamma and beta: frozen BN runs in inference mode, so no
        // batch statistics exist and the data-parallel step is exactly the global-batch step.
        // SGD, not Adam: Adam's early steps are about lr·sign(g), so a gradient at float-noise level
        // could move a weight by ±lr depending on summation order; SGD moves it by lr·g.
        let freeze = ["--freeze", "*/*a", "--optimizer", "sgd"]
        let (s1, log1) = try MPIFixtures.run(ranks: 0, MPIFixtures.train(dir + "/one.onnx", extra: freeze), log: dir + "/one.log")
        #expect(s1 == 0, "\(log1)")
        let (s2, log2) = try MPIFixtures.run(ranks: 2, MPIFixtures.train(dir + "/two.onnx", extra: freeze), log: dir + "/two.log")
        #expect(s2 == 0, "\(log2)")
        let a = try MPIFixtures.weights(dir + "/one.onnx"), b = try MPIFixtures.weights(dir + "/two.onnx")
        #expect(a.count == b.count)
        #expect(MPIFixtures.maxDifference(a, b) < 1e-4)
        // Only rank 0 wrote: one set of outputs, one progress stream.
        #expect(log2.components(separatedBy: "wrote ").count == 2)
    }

    @Test("2 ranks with --sync-bn give 1 rank's weights after 7 SGD steps with BatchNorm training")
    func syncBatchNormMatchesOverSeveralSteps() throws {
        let dir = try MPIFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = dir + "/cnn.onnx"
        try MPIFixtures.smallCNN(model)
        // 14 training images at global batch 2: 7 SGD steps, one image per rank per step.
        func train(_ output: String, ranks: Int, extra: [String] = []) throws -> [String: Tensor] {
            let args = ["train", "--model", model, "--epochs", "1", "--batch", "2", "--lr", "0.01", "--optimizer", "sgd", "--seed", "3",
                        "--threads", "1", "--data", MPIFixtures.images, "-o", output] + extra
            let (status, log) = try MPIFixtures.run(ranks: ranks, args, log: output + ".log")
            #expect(status == 0, "\(log)")
            return try MPIFixtures.weights(output)
        }
        let one = try train(dir + "/one.onnx", ranks: 0)
        let synced = try train(dir + "/two.onnx", ranks: 2, extra: ["--sync-bn"])
        let perRank = try train(dir + "/rank.onnx", ranks: 2)
        #expect(one.count == 12 && synced.count == one.count)
        // Every parameter and running statistic, after 7 steps: float tolerance (3e-8 to 6e-8
        // measured under four OpenBLAS kernels).
        #expect(MPIFixtures.maxDifference(one, synced) < 1e-4)
        // Per-rank BN (one image per rank) is a different algorithm, and the check sees it (0.017).
        #expect(MPIFixtures.maxDifference(one, perRank) > 1e-3)
    }

    @Test("compress on 2 ranks prunes exactly the weights 1 rank prunes (polynomial schedule, fine-tuned)")
    func compressMasksMatch() throws {
        let dir = try MPIFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = dir + "/cnn.onnx"
        try MPIFixtures.smallCNN(model)
        // 2 epochs at batch 2: 14 SGD steps; the polynomial schedule recomputes the masks from the
        // fine-tuned weights at every step up to step 9. With SGD the two runs' weights differ by
        // float noise (6e-8 measured), far below the gaps between neighbouring magnitudes,
        // so the masks agree whatever the summation order; Adam could turn noise into ±lr steps.
        func compress(_ stem: String, ranks: Int, extra: [String] = []) throws -> [String: Tensor] {
            let args = ["compress", model, "--data", MPIFixtures.images, "--sparsity", "0.5", "--prune-all",
                        "--finetune-epochs", "2", "--batch", "2", "--lr", "0.01", "--optimizer", "sgd", "--seed", "3",
                        "-o", stem + ".spruce"] + extra
            let (status, log) = try MPIFixtures.run(ranks: ranks, args, log: stem + ".log")
            #expect(status == 0, "\(log)")
            let (exported, exportLog) = try MPIFixtures.run(ranks: 0, ["export", stem + ".spruce", "-o", stem + ".onnx"],
                                                            log: stem + ".export.log")
            #expect(exported == 0, "\(exportLog)")
            return try ONNXImporter.load(path: stem + ".onnx").graph.initializers.filter { $0.value.shape.count >= 2 }
        }
        let one = try compress(dir + "/one", ranks: 0)
        let two = try compress(dir + "/two", ranks: 2, extra: ["--sync-bn"])
        #expect(one.count == 3 && two.count == 3)
        var pruned = 0, differing = 0
        for (name, t) in one {
            let u = try #require(two[name])
            pruned += t.data.filter { $0 == 0 }.count
            differing += zip(t.data, u.data).filter { ($0 == 0) != ($1 == 0) }.count
        }
        #expect(pruned >= 600)  // half of the 1,384 conv and dense weights
        #expect(differing == 0)
        #expect(MPIFixtures.maxDifference(one, two) < 1e-4)
    }

    @Test("one step on 2 ranks with --sync-bn matches 1 rank far better than per-rank BN")
    func syncBatchNormMatches() throws {
        let dir = try MPIFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Batch 14 = every training image: one Adam step. Adam's first step is lr·sign(g), so
        // elements whose gradient is float noise flip; per-rank BN changes most gradients. Measured
        // under four OpenBLAS kernels: 0.05–0.16 % of the conv weights differ synced, 54 % per rank.
        let oneStep = ["--batch", "14"]
        let (s1, log1) = try MPIFixtures.run(ranks: 0, MPIFixtures.train(dir + "/one.onnx", extra: oneStep), log: dir + "/one.log")
        #expect(s1 == 0, "\(log1)")
        let (s2, log2) = try MPIFixtures.run(ranks: 2, MPIFixtures.train(dir + "/two.onnx", extra: oneStep + ["--sync-bn"]),
                                             log: dir + "/two.log")
        #expect(s2 == 0, "\(log2)")
        let (s3, log3) = try MPIFixtures.run(ranks: 2, MPIFixtures.train(dir + "/rank.onnx", extra: oneStep), log: dir + "/rank.log")
        #expect(s3 == 0, "\(log3)")
        let one = try MPIFixtures.weights(dir + "/one.onnx")
        func differing(_ other: [String: Tensor]) -> Double {
            var count = 0, total = 0
            for (name, t) in one where name.hasSuffix("kernel") {
                guard let u = other[name] else { return 1 }
                count += zip(t.data, u.data).filter { abs($0 - $1) > 1e-5 }.count
                total += t.count
            }
            return Double(count) / Double(max(total, 1))
        }
        let synced = differing(try MPIFixtures.weights(dir + "/two.onnx"))
        let perRank = differing(try MPIFixtures.weights(dir + "/rank.onnx"))
        #expect(synced < 0.05, "synced BN: \(synced) of the conv weights differ")
        #expect(perRank > 4 * synced, "per-rank BN \(perRank) vs synced \(synced)")
    }

    @Test("study under mpirun: data-parallel cells, rank 0 alone writes and reports, a rerun skips every cell")
    func studyOnTwoRanks() throws {
        let dir = try MPIFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let args = ["study", "--data", MPIFixtures.images, "--models", "mobilenetv2", "--width", "0.35", "--size", "32",
                    "--epochs", "1", "--lr", "1e-3", "--finetune-epochs", "1", "--sparsities", "0,0.5", "--sync-bn",
                    "-o", dir + "/study"]
        let (status, log) = try MPIFixtures.run(ranks: 2, args, log: dir + "/a.log")
        #expect(status == 0, "\(log)")
        #expect(log.components(separatedBy: "wrote ").count == 2, "\(log)")  // one rank reports
        for file in ["results.json", "report.html", "cells/mobilenetv2-0.00.json", "cells/mobilenetv2-0.50.json"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/study/" + file), "\(file) missing")
        }
        let (again, log2) = try MPIFixtures.run(ranks: 2, args, log: dir + "/b.log")
        #expect(again == 0, "\(log2)")
        #expect(log2.components(separatedBy: "skipped").count == 4, "\(log2)")  // dense + 2 cells
    }

    @Test("a checkpoint written by 2 ranks resumes on 1")
    func resumeOnOtherRankCount() throws {
        let dir = try MPIFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let output = dir + "/r.onnx"
        let (s1, log1) = try MPIFixtures.run(ranks: 2, MPIFixtures.train(output, epochs: 1, extra: ["--sync-bn"]),
                                             log: dir + "/a.log")
        #expect(s1 == 0, "\(log1)")
        let (s2, log2) = try MPIFixtures.run(ranks: 0, MPIFixtures.train(output, epochs: 2, extra: ["--resume"]),
                                             log: dir + "/b.log")
        #expect(s2 == 0, "\(log2)")
        #expect(log2.contains("resuming at epoch 2 of 2"))
    }

    @Test("a killed rank makes mpirun fail with a message instead of hanging")
    func killedRankFailsTheJob() throws {
        let dir = try MPIFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let output = dir + "/k.onnx"
        let log = dir + "/k.log"
        let process = try MPIFixtures.launch(ranks: 2, MPIFixtures.train(output, epochs: 500), log: log)
        // Wait (bounded) for the first checkpoint: both ranks are then inside the epoch loop.
        let checkpoint = Trainer.checkpointPath(in: dir + "/k.checkpoint")
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: checkpoint) && process.isRunning && Date() < deadline { usleep(50_000) }
        #expect(process.isRunning, "the job ended before a rank could be killed")
        let victim = try #require(Self.rankProcess(1, marker: output), "no process with OMPI_COMM_WORLD_RANK=1 found")
        kill(victim, SIGKILL)
        let status = MPIFixtures.wait(process, limit: 60)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status != -1, "mpirun still running 60 s after a rank was killed")
        #expect(status != 0)
        #expect(text.contains("rank 1") || text.contains("exited on signal"), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    /// The pid of the spruce process with Open MPI rank `rank` and `marker` in its arguments, from /proc.
    static func rankProcess(_ rank: Int, marker: String) -> pid_t? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for entry in entries {
            guard let pid = pid_t(entry), pid != getpid(),
                  let environ = FileManager.default.contents(atPath: "/proc/\(entry)/environ"),
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let args = String(decoding: cmdline, as: UTF8.self)
            let variables = String(decoding: environ, as: UTF8.self).split(separator: "\0")
            if args.hasPrefix(MPIFixtures.spruce) && args.contains(marker)
                && variables.contains(Substring("OMPI_COMM_WORLD_RANK=\(rank)")) { return pid }
        }
        return nil
    }
}
