// The plan-time choice between computing a sparse convolution sparsely (f32-spconv / f32-spmm,
// O(non-zeros)) and expanding its weights once into packed dense GEMM panels (f32-conv-dense).
// The sparse kernels vectorize over the output plane, so on tiny maps (4×4) each non-zero feeds
// few lanes and a dense GEMM at moderate sparsity wins; at high sparsity or on large maps the
// sparse kernel wins. Constants were measured on an AVX2+FMA x86 core (release, -target-cpu native);
// a wrong guess costs speed only, never accuracy (both forms compute the same sums).
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

/// Predicted nanoseconds of one layer under each kernel family: SIMD8 multiply-adds issued times
/// a measured cost per multiply-add that depends on the output run length (short runs amortize
/// the per-row and per-tile overheads worse). The costs are medians over the 1×1 and k×k layers of
/// MobileNet v2 and ResNet50 v2 at 128×128 (50–90 % sparse), each layer timed both ways; they
/// include im2col and the phase-plane copy. They were measured before the 64-wide register
/// blocks and the gathered small-map path (the dense ones after the GEMM began packing 256
/// columns at a time); the vector counts follow the current kernels.
enum ConvCostModel {
    /// Nanoseconds per SIMD8 multiply-add of the sparse row kernel for output runs of `length`.
    static func sparseVectorNs(length: Int, pointwise: Bool) -> Double {
        length < 32 ? 0.75 : length < 128 ? 0.62 : pointwise ? 0.53 : 0.37
    }

    /// Nanoseconds per SIMD8 multiply-add of the packed GEMM for N = `columns` output positions.
    static func denseVectorNs(columns: Int) -> Double {
        columns < 32 ? 0.25 : columns < 128 ? 0.18 : 0.20
    }

    /// Nanoseconds per SIMD8 multiply-add of the depthwise kernel.
    static let depthwiseVectorNs = 0.3

    /// SIMD8 multiply-adds the sparse row kernel issues per non-zero for an output run of `length`:
    /// whole vectors in 64-wide blocks and one block for the rest (rows shorter than 64 that are
    /// not a multiple of 8 take one more 8-wide pass); scalar lanes below 8.
    static func sparseVectorsPerNonZero(_ length: Int) -> Int {
        if length < 8 { return length }
        if length < 64 && length % 8 != 0 { return length / 8 + 1 }
        return (length + 7) / 8
    }

    /// Predicted nanoseconds of the sparse kernel (runs of OH·OW when it gathers an im2col
    /// matrix, else of the wide phase-plane rows).
    static func sparseNs(_ g: ConvGeometry, nonZeros: Int) -> Double {
        let length = max(8, sparseGathers(g) ? g.outPlane : PhaseLayout(g).wideLength(g))
        let vectors = Double(sparseVectorsPerNonZero(length))
        let perRow = Double(g.outChannels) * vectors * 0.5  // epilogue: bias, clamp, store
        return (Double(nonZeros) * vectors + perRow) * sparseVectorNs(length: length, pointwise: g.isPointwise)
    }

    /// Predicted nanoseconds of the dense kernel (GEMM after im2col; depthwise kernel when depthwise).
    static func denseNs(_ g: ConvGeometry) -> Double {
        if g.groups == g.inChannels && g.inChannelsPerGroup == 1 {
            let length = PhaseLayout(g).wideLength(g)
            return Double(g.outChannels * g.kernelArea * ((length + 7) / 8)) * depthwiseVectorNs
        }
        let mPadded = Double(roundUp(g.outChannelsPerGroup, f32GemmMR) * g.groups)
        let nPadded = Double(roundUp(g.outPlane, f32GemmNR))
        return mPadded * Double(g.reduction) * nPadded / 8 * denseVectorNs(columns: g.outPlane)
    }

    /// Whether expanding this layer's sparse weights to dense is predicted to be faster.
    static func densePays(_ g: ConvGeometry, nonZeros: Int) -> Bool {
        denseNs(g) < sparseNs(g, nonZeros: nonZeros)
    }
}
