// Keep-masks by weight magnitude for one tensor: exactly round(n·s) elements (or blocks) with the
// smallest magnitude are dropped, ties broken by position so the result is deterministic.
// Blocks (1×4, 4×1) are scored by mean |w| over the stored matrix view [rows, everything else].
// It does not decide the per-layer sparsity (allocators do) and does not touch the weights.
import SpruceCore

/// The unit pruning removes: single weights or small blocks of the stored matrix view.
public enum PruningBlock: String, Sendable, Codable, CaseIterable, Equatable {
    /// Single weights.
    case single = "1x1"
    /// One row, four consecutive columns (vectorizes along a CSR row).
    case row4 = "1x4"
    /// Four consecutive rows, one column (output channels share the index).
    case column4 = "4x1"

    /// Block height and width.
    public var size: (rows: Int, columns: Int) {
        switch self {
        case .single: (1, 1)
        case .row4: (1, 4)
        case .column4: (4, 1)
        }
    }
}

/// Magnitude masks (true = kept).
public enum MagnitudeMask {
    /// The keep-mask of `weights` viewed as `rows`×`columns` with a fraction `sparsity` dropped.
    /// Single weights: exactly round(n·s) zeros. Blocks: round(blocks·s) whole blocks (edge blocks
    /// may be partial and count their actual elements).
    public static func mask(_ weights: [Float], rows: Int, columns: Int, sparsity: Double,
                            block: PruningBlock = .single) -> [Bool] {
        let n = weights.count
        guard n > 0, sparsity > 0 else { return [Bool](repeating: true, count: n) }
        let s = min(max(sparsity, 0), 1)
        let (bh, bw) = block.size
        if bh == 1 && bw == 1 || rows * columns != n {
            return dropSmallest(scores: weights.map(magnitude), count: Int((Double(n) * s).rounded()))
        }
        let blockRows = (rows + bh - 1) / bh, blockColumns = (columns + bw - 1) / bw
        var scores = [Float](repeating: 0, count: blockRows * blockColumns)
        weights.withUnsafeBufferPointer { w in
            for br in 0..<blockRows {
                for bc in 0..<blockColumns {
                    var sum: Float = 0, count = 0
                    for r in (br * bh)..<min(rows, br * bh + bh) {
                        for c in (bc * bw)..<min(columns, bc * bw + bw) {
                            sum += magnitude(w[r * columns + c]); count += 1
                        }
                    }
                    scores[br * blockColumns + bc] = sum / Float(max(count, 1))
                }
            }
        }
        let blockMask = dropSmallest(scores: scores, count: Int((Double(scores.count) * s).rounded()))
        var out = [Bool](repeating: true, count: n)
        for r in 0..<rows {
            for c in 0..<columns where !blockMask[(r / bh) * blockColumns + c / bw] { out[r * columns + c] = false }
        }
        return out
    }

    /// A mask dropping the `count` smallest scores (ties: lower index first).
    static func dropSmallest(scores: [Float], count: Int) -> [Bool] {
        var mask = [Bool](repeating: true, count: scores.count)
        guard count > 0 else { return mask }
        // Non-negative floats order like their bit patterns; the index in the low half breaks ties,
        // so one integer sort orders (score, index) without a comparison closure.
        var keys = [UInt64](repeating: 0, count: scores.count)
        scores.withUnsafeBufferPointer { s in
            keys.withUnsafeMutableBufferPointer { k in
                for i in 0..<s.count { k[i] = UInt64(max(s[i], 0).bitPattern) << 32 | UInt64(UInt32(truncatingIfNeeded: i)) }
            }
        }
        keys.sort()
        for key in keys.prefix(count) { mask[Int(key & 0xFFFF_FFFF)] = false }
        return mask
    }

    /// |v|, with NaN ordered last so sorting stays a strict weak order.
    static func magnitude(_ v: Float) -> Float { v.isNaN ? .infinity : abs(v) }

    /// `weights` with the masked-out positions set to exactly zero.
    public static func apply(_ mask: [Bool], to tensor: Tensor) -> Tensor {
        guard mask.count == tensor.count else { return tensor }
        var out = tensor
        out.data.withUnsafeMutableBufferPointer { d in
            for i in 0..<d.count where !mask[i] { d[i] = 0 }
        }
        return out
    }
}
