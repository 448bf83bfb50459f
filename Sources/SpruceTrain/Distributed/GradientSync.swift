// Data-parallel pieces of a training step: which rows of a global batch a rank trains on, the
// gradient averaging (one flat allreduce bucket holding every trainable gradient, a has-gradient
// flag per parameter and the loss) and the cross-rank weight/mask checksum. It does not run
// forward or backward (TrainingSession does) nor decide epochs (Trainer does).

import Foundation
import SpruceCore

/// Averages gradients across the ranks of a data-parallel job.
///
/// Each rank's loss is the mean over its own rows, so the loss gradient it back-propagates is
/// scaled by rows_local / rows_global first (TrainingSession does this, before backward, so that a
/// synchronised BatchNorm mixes equally scaled gradients): the sum over ranks is then the gradient
/// of the mean loss over the global batch, the one a single process computes (up to float
/// summation order).
public final class GradientSync {
    /// The job's communicator.
    public let communicator: any Communicator
    /// Seconds spent inside the gradient allreduce (for profiling the overlap decision).
    public private(set) var allreduceSeconds = 0.0
    /// Allreduce calls made.
    public private(set) var allreduceCalls = 0
    private var bucket: [Float] = []

    /// Gradient averaging over `communicator`.
    public init(communicator: any Communicator) {
        self.communicator = communicator
    }

    /// The rows of a global batch of `count` rows that `rank` of `size` trains on: contiguous,
    /// sizes differing by at most one, in rank order (so rank order = single-process order).
    public static func rows(count: Int, rank: Int, size: Int) -> Range<Int> {
        (count * rank / size)..<(count * (rank + 1) / size)
    }

    /// Throws unless every batch of an epoch over `images` gives each of `size` ranks a row.
    public static func checkEveryRankHasRows(images: Int, batch: Int, size: Int) throws {
        let last = images % batch == 0 ? batch : images % batch
        let smallest = min(batch, images, last)
        if smallest < size { throw DistributedError.batchTooSmall(rows: smallest, ranks: size) }
    }

    /// Rows `range` of an [N, …] batch tensor.
    public static func slice(_ images: Tensor, rows range: Range<Int>) -> Tensor {
        guard let n = images.shape.first, n > 0 else { return images }
        let per = images.count / n
        var shape = images.shape
        shape[0] = range.count
        return Tensor(shape: shape, data: Array(images.data[(range.lowerBound * per)..<(range.upperBound * per)]))
    }

    /// Sums `grads` (indexed like `executor.parameters`, nil = no gradient on this rank, already
    /// weighted) over the ranks in one bucket, together with `loss`; returns the loss sum. Afterwards
    /// a parameter has a gradient iff some rank had one; frozen and non-trainable ones stay nil.
    func reduce(_ grads: inout [Value?], executor: TrainingExecutor, loss: Float) throws -> Float {
        let params = executor.parameters
        let active = params.indices.filter { executor.trainable[$0] && !executor.frozen[$0] }
        let total = active.reduce(0) { $0 + params[$1].count } + active.count + 1
        if bucket.count != total { bucket = [Float](repeating: 0, count: total) }
        let started = ContinuousClock.now
        return try bucket.withUnsafeMutableBufferPointer { b in
            var offset = 0
            for i in active {
                let n = params[i].count
                if let g = grads[i] {
                    for j in 0..<n { b[offset + j] = g.pointer[j] }
                } else {
                    (b.baseAddress! + offset).update(repeating: 0, count: n)
                }
                offset += n
            }
            let flags = offset
            for (k, i) in active.enumerated() { b[flags + k] = grads[i] == nil ? 0 : 1 }
            b[total - 1] = loss
            try communicator.allreduceSum(b)
            allreduceCalls += 1
            let d = ContinuousClock.now - started
            allreduceSeconds += Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
            offset = 0
            for (k, i) in active.enumerated() {
                let n = params[i].count
                if b[flags + k] > 0 {
                    let v = Value(shape: params[i].shape)
                    v.pointer.update(from: b.baseAddress! + offset, count: n)
                    grads[i] = v
                } else {
                    grads[i] = nil
                }
                offset += n
            }
            return b[total - 1]
        }
    }

    /// Throws unless every rank holds bit-identical trainable parameters and masks (the
    /// BatchNormalization running statistics are per-rank and not compared).
    public func checkReplicas(_ session: TrainingSession) throws {
        guard communicator.size > 1 else { return }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ x: UInt64) { hash = (hash ^ x) &* 0x100_0000_01b3 }
        let executor = session.executor
        for (i, p) in executor.parameters.enumerated() where executor.trainable[i] {
            mix(UInt64(i))
            for j in 0..<p.count { mix(UInt64(p.pointer[j].bitPattern)) }
        }
        for (name, mask) in session.masks.sorted(by: { $0.key < $1.key }) {
            for byte in name.utf8 { mix(UInt64(byte)) }
            for keep in mask { mix(keep ? 1 : 2) }
        }
        var root = hash
        try withUnsafeMutableBytes(of: &root) { try communicator.broadcast($0, root: 0) }
        var differs: [Float] = [root == hash ? 0 : 1]
        try differs.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        if differs[0] > 0 {
            throw DistributedError.ranksDiverged(
                detail: "\(Int(differs[0])) of \(communicator.size) ranks hold weights or pruning masks that differ from rank 0's")
        }
    }
}
