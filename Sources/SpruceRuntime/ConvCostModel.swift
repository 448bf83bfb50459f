// The plan-time choice between computing a sparse convolution sparsely (f32-spconv / f32-spmm,
// O(non-zeros)) and expanding its weights once into packed dense GEMM panels (f32-conv-dense).
// The sparse kernels vectorize over the output plane, so on tiny maps (4×4) each non-zero feeds
// few lanes and a dense GEMM at moderate sparsity wins; at high sparsity or on large maps the
// sparse kernel wins. Constants were measured on an AVX2+FMA x86 core (release, -target-cpu native).
import SpruceFormat

/// How the plan computes convolutions whose weights are stored sparse.
public enum KernelChoice: String, Sendable, Equatable, CaseIterable {
    /// Per layer, whichever of sparse or dense the cost model predicts faster (the default).
    case automatic
    /// Always the sparse kernels, with the weights as stored.
    case stored
    /// Always dense kernels, weights expanded at plan time (for comparison and tests).
    case dense
}

/// Predicted nanoseconds of one layer under each kernel family.
enum ConvCostModel {
    /// Nanoseconds per SIMD8 multiply-add of the sparse row kernel (gathered runs, broadcast weight).
    static let sparseVectorNs = 0.45
    /// Nanoseconds per SIMD8 multiply-add of the packed 6×16 GEMM micro-kernel.
    static let denseVectorNs = 0.16
    /// Nanoseconds per float written by im2col or the phase-plane copy.
    static let copyNs = 0.25
    /// Nanoseconds per SIMD8 multiply-add of the depthwise kernel.
    static let depthwiseVectorNs = 0.2

    /// SIMD8 multiply-adds the sparse row kernel issues per non-zero for an output run of `length`.
    static func sparseVectorsPerNonZero(_ length: Int) -> Int {
        if length >= 32 { return (length + 31) / 32 * 4 }
        if length >= 16 { return 4 }
        if length >= 8 { return 2 }
        return length  // scalar lanes
    }

    /// Predicted nanoseconds of the sparse kernel.
    static func sparseNs(_ g: ConvGeometry, nonZeros: Int) -> Double {
        let layout = PhaseLayout(g)
        let length = max(8, layout.wideLength(g))
        let vectors = Double(sparseVectorsPerNonZero(length))
        let perRow = Double(g.outChannels) * vectors * 0.5  // epilogue: bias, clamp, store
        let planes = Double(layout.bufferCount(channels: g.inChannels)) * copyNs
        return Double(nonZeros) * vectors * sparseVectorNs + perRow + planes
    }

    /// Predicted nanoseconds of the dense kernel (GEMM after im2col; depthwise kernel when depthwise).
    static func denseNs(_ g: ConvGeometry) -> Double {
        if g.groups == g.inChannels && g.inChannelsPerGroup == 1 {
            let length = PhaseLayout(g).wideLength(g)
            return Double(g.outChannels * g.kernelArea * ((length + 7) / 8)) * depthwiseVectorNs
        }
        let mPadded = Double(roundUp(g.outChannelsPerGroup, f32GemmMR) * g.groups)
        let nPadded = Double(roundUp(g.outPlane, f32GemmNR))
        let vectors = mPadded * Double(g.reduction) * nPadded / 8
        let im2col = g.isPointwise ? 0 : Double(g.reduction * g.outPlane * g.groups) * copyNs
        return vectors * denseVectorNs + im2col
    }

    /// Whether expanding this layer's sparse weights to dense is predicted to be faster.
    static func densePays(_ g: ConvGeometry, nonZeros: Int) -> Bool {
        denseNs(g) < sparseNs(g, nonZeros: nonZeros)
    }
}

extension StoredTensor {
    /// Values the encoding stores (every element for dense encodings).
    var storedNonZeros: Int {
        switch self {
        case .dense(let t): t.data.count
        case .denseInt8(_, let q): q.values.count
        case .csr(_, let m): m.values.count
        case .csrInt8(_, let m): m.values.values.count
        case .bitmask(_, let m): m.values.count
        case .bitmaskInt8(_, let m): m.values.values.count
        }
    }
}
