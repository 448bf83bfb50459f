// Synchronised BatchNorm and gradient averaging checked in one process: two "ranks" run on two
// threads over an in-memory communicator, and their summed gradients and updated weights are
// compared with one session on the whole batch (no MPI needed, so this runs everywhere).

import Foundation
import Testing
import SpruceCore
@testable import SpruceTrain

/// An in-memory communicator for `size` threads: every collective waits for all of them and sums
/// the contributions in rank order.
final class ThreadGroup: @unchecked Sendable {
    // @unchecked: all state is guarded by `condition`.
    let size: Int
    private let condition = NSCondition()
    private var parts: [[Float]?]
    private var result: [Float] = []
    private var generation = 0
    private var taken = 0

    init(size: Int) {
        self.size = size
        parts = Array(repeating: nil, count: size)
    }

    func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, rank: Int) {
        condition.lock()
        defer { condition.unlock() }
        let myGeneration = generation
        parts[rank] = Array(buffer)
        if parts.allSatisfy({ $0 != nil }) {
            var sum = parts[0] ?? []
            for r in 1..<size { for i in sum.indices { sum[i] += parts[r]?[i] ?? 0 } }
            result = sum
            parts = Array(repeating: nil, count: size)
            generation += 1
            condition.broadcast()
        } else {
            while generation == myGeneration { condition.wait() }
        }
        for i in 0..<buffer.count { buffer[i] = result[i] }
    }
}

struct ThreadRank: Communicator {
    let group: ThreadGroup
    let rank: Int
    var size: Int { group.size }
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { group.allreduce(buffer, rank: rank) }
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {}
    func barrier() throws {}
    func abort(code: Int32) -> Never { fatalError("abort \(code)") }
    func finalize() throws {}
}

@Suite struct DistributedSyncBatchNormTests {
    static func batch(_ n: Int, seed: UInt64) -> Tensor {
        var state = seed
        let data = (0..<(n * 3 * 32 * 32)).map { _ -> Float in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Float((z ^ (z >> 31)) >> 40) / Float(1 << 24)
        }
        return Tensor(shape: [n, 3, 32, 32], data: data)
    }

    /// Gradients of one backward on `images` rows `rows` (weighted rows/total), summed over ranks.
    @Test("ranks with synced BN take the whole batch's SGD step (1 rank: the kernels' step)", arguments: [(4, 1), (6, 2), (5, 2), (7, 3)])
    func gradientsMatch(total: Int, ranks: Int) throws {
        // A network without tiny maps: MobileNet v2 at 32×32 normalises 1×1 maps over 4–7 images,
        // where a channel constant over the batch makes ReLU masks depend on summation-order noise
        // (Tests/Benchmarks/MPI.md), which no tolerance separates from a real error.
        let model = MPIFixtures.smallCNNModel(seed: 9)
        let images = Self.batch(total, seed: 4)
        let labels: [Float] = (0..<total).map { Float($0 % 2) }
        let options = TrainingOptions(threads: 1)
        // SGD makes the update linear in the gradient, so weights compare as gradients do.
        let optimizer = OptimizerConfiguration.sgd(learningRate: 1e-3, momentum: 0)
        let whole = try TrainingSession(model: model, optimizer: optimizer, options: options, seed: 1)
        let group = ThreadGroup(size: ranks)
        let sessions = try (0..<ranks).map { _ in try TrainingSession(model: model, optimizer: optimizer, options: options, seed: 1) }
        for (r, s) in sessions.enumerated() { s.executor.batchNormGroup = ThreadRank(group: group, rank: r) }
        do {
            let expected = try whole.step(inputs: images, labels: labels)
            let shared = Shared(sessions: sessions)
            let errors = ErrorBox()
            // One thread per rank (concurrentPerform may run fewer threads than ranks, and a
            // rank waiting in a collective would then wait forever).
            let done = DispatchGroup()
            for r in 0..<ranks {
                done.enter()
                Thread {
                    defer { done.leave() }
                    do {
                    let rows = GradientSync.rows(count: total, rank: r, size: ranks)
                    let sync = GradientSync(communicator: ThreadRank(group: group, rank: r))
                    shared.losses[r] = try shared.sessions[r].step(inputs: GradientSync.slice(images, rows: rows),
                                                     labels: Array(labels[rows]), sync: sync, globalRows: total)
                    } catch { errors.set("\(error)") }
                }.start()
            }
            #expect(done.wait(timeout: .now() + 300) == .success, "a rank did not finish")
            #expect(errors.message == nil)
            for r in 0..<ranks { #expect(abs(shared.losses[r] - expected) <= 1e-4 * max(1, abs(expected))) }
        }
        // One SGD step: weight change = −lr·gradient, within 0.1% of the largest change of
        // each tensor (a chaotic multi-step comparison would only measure float noise growth).
        let before = model.graph.initializers
        let reference = whole.model.graph.initializers
        for s in sessions {
            let got = s.model.graph.initializers
            for (name, t) in reference {
                let u = try #require(got[name]), w0 = try #require(before[name])
                let da = zip(t.data, w0.data).map { $0 - $1 }, db = zip(u.data, w0.data).map { $0 - $1 }
                let scale = da.map(abs).max() ?? 0
                let worst = zip(da, db).map { abs($0 - $1) }.max() ?? 0
                // Plus two ulps of the weights themselves: the change is read back from them.
                let ulp = 2.5e-7 * max(w0.data.map(abs).max() ?? 0, t.data.map(abs).max() ?? 0)
                #expect(worst <= 1e-3 * scale + ulp + 1e-7, "\(name): change differs by \(worst) of \(scale)")
            }
        }
    }
}

final class Shared: @unchecked Sendable {
    let sessions: [TrainingSession]
    let losses: UnsafeMutableBufferPointer<Float>
    init(sessions: [TrainingSession]) {
        self.sessions = sessions
        losses = .allocate(capacity: sessions.count)
        losses.initialize(repeating: 0)
    }
    deinit { losses.deallocate() }
}

final class ErrorBox: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var text: String?
    func set(_ s: String) { lock.lock(); text = s; lock.unlock() }
    var message: String? { lock.lock(); defer { lock.unlock() }; return text }
}
