// The runtime's kernel families and the decisions behind them (documentation only, no code).
// Every family file holds a fast kernel and a plain `...Reference` twin; all are free functions
// over raw buffers, batch 1, NCHW, and take an output-channel range so the engine can split a
// layer across threads. Workspaces are raw bytes sized by `...WorkspaceBytes`, owned by the caller.
//
// | family                 | file                     | notes |
// |------------------------|--------------------------|-------|
// | f32-gemm               | F32Gemm.swift            | 6×16 register tile, A packed at plan time, B packed per KC×16 block |
// | f32-conv-dense         | F32ConvDense.swift       | im2col + gemm per group; 1×1/s1/p0 reads the input as B directly |
// | f32-dwconv             | F32DWConv.swift          | 3×3 unrolled fast path, general fallback; phase planes, no bounds checks |
// | f32(-qc8w)-spmm-csr    | F32SpmmCSR.swift         | Y[M×N] = W·X, SIMD over N (spatial), 32 outputs per register block |
// | f32(-qc8w)-spmm-bitmask| F32SpmmBitmask.swift     | same, columns from mask bits (tzcnt), values used as stored |
// | f32(-qc8w)-spconv-csr  | F32SpconvCSR.swift       | direct k×k: one contiguous phase-plane run per non-zero, no im2col |
// | f32(-qc8w)-spconv-bitmask | F32SpconvBitmask.swift | same, mask-driven |
// | f32-maxpool / avgpool / gap / add / concat / clip / sigmoid / softmax / gemm-dense | one file each | |
//
// Decisions:
// - Index widths: sparse kernels read UInt32 row pointers and UInt32 column indices only. The plan
//   widens narrower stored columns (UInt8/UInt16, deltas) into one UInt32 buffer at load time:
//   one concrete kernel per family instead of one per width, and no per-non-zero width dispatch.
// - Bitmask: computed directly from the mask and the stored values (no CSR conversion, no
//   densifying). The kernel wants ceil(K/64) UInt64 words per row, LSB first, bits past K zero,
//   plus M+1 row value offsets (`bitmaskRowValueOffsets`); the plan re-lays the stored mask bits
//   into that form if the file packs them differently (still one bit per weight).
// - qc8w: int8 values are converted to f32 per row (O(non-zeros)), accumulated in f32 against f32
//   activations, and the row sum is multiplied by the row scale once, before bias and activation.
// - Phase planes (PhasePlanes.swift): the padded input split by stride phase, so every kernel tap
//   of a strided, dilated, padded convolution reads one contiguous run; outputs are computed on a
//   "wide" grid of pitch Wq and compacted.
// - FMA: `multiplyAdd` fuses only on arm64 or when built with `-DSPRUCE_FMA` (and a `-target-cpu`
//   that has FMA); an x86 baseline build would otherwise call `fmaf` per lane.
// - Vector types: SIMD8<Float> (and SIMD16) only in hot loops. Swift's SIMD32<Float> arithmetic and
//   SIMD16/32 `addingProduct` were compiled lane by lane through the stack (~100× slower), so wide
//   blocks are several SIMD8 accumulators.
