// The runtime's kernel families and the decisions behind them (documentation only, no code).
// Every family file holds a fast kernel and a plain `...Reference` twin; all are free functions
// over raw buffers, batch 1, NCHW, and take an output-channel range so the engine can split a
// layer across threads. Workspaces are raw bytes sized by `...WorkspaceBytes`, owned by the caller.
//
// | family                 | file                     | notes |
// |------------------------|--------------------------|-------|
// | f32-gemm               | F32Gemm.swift            | 6×16 register tile, A packed at plan time, B packed per KC×16 block (from a matrix, or from plane runs by row offsets); strips of ≤ 4 columns column-wise, same sums in the same order |
// | f32-conv-dense         | F32ConvDense.swift       | implicit im2col (phase planes, B packed from their runs, wide output compacted) where K ≥ 64 and wide rows waste ≤ 25 %, else im2col + gemm per group; 1×1/s1/p0 reads the input as B directly |
// | f32-dwconv             | F32DWConv.swift          | zero-bordered planes for 3×3/5×5 s1/s2; eight channels per vector on outputs narrower than 8; 3×3 unrolled on phase planes; general fallback |
// | f32(-qc8w/qcNw)-spmm-csr    | F32SpmmCSR.swift         | Y[M×N] = W·X, SIMD over N (spatial), 32 outputs per register block |
// | f32(-qc8w/qcNw)-spmm-bitmask| F32SpmmBitmask.swift     | same, columns from mask bits (tzcnt), values used as stored |
// | f32(-qc8w/qcNw)-spconv-csr  | F32SpconvCSR.swift       | direct k×k: one contiguous phase-plane run per non-zero, no im2col |
// | f32(-qc8w/qcNw)-spconv-bitmask | F32SpconvBitmask.swift | same, mask-driven |
// | f32-maxpool / avgpool / gap / add / mul / concat / clip / hardsigmoid+hardswish / softmax / gemm-dense | one file each | max pools of stride 1 that keep the size: two flat separable passes |
// | f32-gemm-rows          | F32Gemm.swift            | a dense f32 Linear over many rows (tokens): the rows are the GEMM's A, packed 96 at a time; B [K × N] is the weight; bias per column after |
// | f32-sigmoid / swish      | F32Sigmoid.swift         | exp on eight lanes (n·ln 2 split off, degree-6 polynomial, 2^n in the exponent bits); the plan fuses Sigmoid → Mul by its input into one Swish step |
// | f32-layernorm          | F32LayerNorm.swift       | rows of the trailing axes: sum, squared deviations, normalize + scale + bias; SIMD over the row |
// | f32-erf / gelu         | F32Erf.swift             | erf as x·P(x²)/Q(x²) fitted on [0, 3.9], SIMD; exact GELU on it (the plan fuses torch's Div/Erf/Add/Mul/Mul), tanh GELU scalar |
// | f32-binary-scalar      | F32BinaryScalar.swift    | Add/Sub/Mul/Div of a tensor and one value, either side; bit-identical to the scalar loop |
// | f32(-qc8w)-vecmat-kn   | F32VecMat.swift          | y = x·W with W stored [K × N] (MatMul Linear weights, Gemm without transB): CSR, bitmask or dense int8 rows scaled by their input and added into y; dense f32 is transposed at plan time for gemm-dense instead |
// | f32(-qc8w)-vecmat-rows  | F32VecMat.swift          | the same over many rows, eight at a time: inputs transposed into eight-lane vectors, one multiply-add per stored entry for eight rows, outputs transposed back |
// | f32-pad (reflect, edge) | F32Pad.swift             | per-axis input offset tables built at plan time; each row's unpadded middle is one memcpy, its borders are read through the table (constant Pad is PadStep's fill and row copies) |
// | f32-slice              | F32Slice.swift           | Slice and each Split output: trivial axes dropped, contiguous ones merged at plan time, then one memcpy (or strided loop) per run |
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
// - qcNw (2–7-bit values, format 2.0): the sparse row kernels keep them packed as the file stores
//   them and unpack a row's values into the decode workspace (f32) once per row and call, then run
//   the f32 row; the cost is O(non-zeros) per call against O(non-zeros × outputs) of multiply-adds.
//   The vecmat kernels (Linear weights [K × N]) and dense rows get them widened to int8 at load.
// - Phase planes (PhasePlanes.swift): the padded input split by stride phase, so every kernel tap
//   of a strided, dilated, padded convolution reads one contiguous run; outputs are computed on a
//   "wide" grid of pitch Wq and compacted.
// - FMA: `multiplyAdd` fuses only on arm64 or when built with `-DSPRUCE_FMA` (and a `-target-cpu`
//   that has FMA); an x86 baseline build would otherwise call `fmaf` per lane.
// - ISA dispatch (ISADispatch.swift): a build for baseline x86-64 (a dependent package's plain
//   `swift build -c release`; SwiftPM forbids -target-cpu there) runs the GEMM tile, the sparse
//   row and the 3×3 depthwise row from CSpruceKernels, compiled for AVX2 + FMA by a per-function
//   target attribute, when the CPU has both; otherwise their Swift twins. Those three held ~60 %
//   of a plain build's time on MobileNet v2 90 % + int8; the rest (phase planes, row decode) is
//   memory-bound and ran no slower in the plain build.
// - Threads (Engine, WorkerPool.swift): a step is split only when it has ≥ 150k multiply-adds.
//   Sparse and depthwise convs split by output channel; im2col convs with ≥ 8 output rows split by
//   output rows (each thread builds only its rows' im2col, or the phase planes whole for an
//   implicit one), other dense convs by channel in
//   multiples of the GEMM panel height. Every output element is computed by the same code in the
//   same order whatever the split, so thread counts give bit-identical outputs.
// - Sparse or dense per layer (ConvCostModel.swift): at plan time each sparse-stored conv is
//   priced both ways; where the dense GEMM is predicted faster (small maps at moderate sparsity)
//   its weights are expanded once into packed panels. A speed choice only: both compute the same
//   sums. `KernelChoice.stored` keeps every sparse layer sparse.
// - Channel pitch: phase planes (and pointwise inputs otherwise read in place) whose channel size
//   is a multiple of 2 KiB get one spare cache line per channel; without it the runs of successive
//   channels share a few L1 sets and sparse 1×1 convs on 32×32 / 64×64 maps ran 4-5× slower.
// - Conv steps absorb what follows them when only they feed it (Plan.swift, `fusing…`): a
//   residual Add and a ReLU/Clip after it (one pass over the output), a HardSwish or a Swish
//   (Sigmoid + Mul) applied in place, and for depthwise steps a GlobalAveragePool as per-channel
//   means, computed chunk by chunk while the chunk is in cache (squeeze-and-excitation).
// - A zero Pad of H/W that only feeds convs is merged into their pads at plan time.
// - A constant [N] Add right after a Gemm or MatMul without bias becomes that step's bias (a Linear
//   layer exported as MatMul + Add is one step).
// - Sparse loop order: rows outer, 32-wide pixel blocks inner. Pixel blocks outer with every row
//   decoded once into (run offset, weight) lists was tried (XNNPACK's order) and measured no
//   better here once the channel pitch fix above was in, so the simpler order stays.
// - AVX-512: a 6×32 SIMD16 GEMM tile was tried on this Zen 4 CPU (AVX-512 executed as two 256-bit
//   halves) and measured no faster than the 6×16 SIMD8 tile, so the portable tile stays.
// - Vector types: SIMD8<Float> (and SIMD16) only in hot loops. Swift's SIMD32<Float> arithmetic and
//   SIMD16/32 `addingProduct` were compiled lane by lane through the stack (~100× slower), so wide
//   blocks are several SIMD8 accumulators.
