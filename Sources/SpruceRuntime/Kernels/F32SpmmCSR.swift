// f32-spmm-csr and its qc8w twin (int8 values, one f32 scale per row applied after accumulation):
// 1×1 convolution (and batch-1 Gemm) as sparse × dense: W in CSR [M × K] times X [K × N],
// vectorized over N (the spatial dimension), 32 outputs per register block.
// Not a dense kernel: an all-zero row costs nothing but its bias. Shared machinery: SparseRows.swift.

/// Y[rows, 0..<n] = clamp(W · X + bias) for the output rows in `outputChannels`; X is [K × n] row-major.
/// `rowPointers` has M + 1 entries; column indices are widened to UInt32 by the plan and must be < K.
public func f32SpmmCSR(
        m: Int, k: Int, n: Int, rowPointers: UnsafePointer<UInt32>, columnIndices: UnsafePointer<UInt32>,
        values: UnsafePointer<Float>,
        x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        y: UnsafeMutablePointer<Float>, outputChannels: Range<Int>,
        workspace: UnsafeMutableRawPointer) {
    sparseSpmm(.csr(rowPointers: rowPointers, columnIndices: columnIndices), .f32(values), m: m, k: k, n: n, x: x, bias: bias, bounds: bounds, y: y, rows: outputChannels, workspace: workspace)
}

/// Reference twin of `f32SpmmCSR`: plain loops over the stored non-zeros.
public func f32SpmmCSRReference(
        m: Int, k: Int, n: Int, rowPointers: UnsafePointer<UInt32>, columnIndices: UnsafePointer<UInt32>,
        values: UnsafePointer<Float>,
        x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        y: UnsafeMutablePointer<Float>, outputChannels: Range<Int>) {
    sparseSpmmReference(.csr(rowPointers: rowPointers, columnIndices: columnIndices), .f32(values), m: m, k: k, n: n, x: x, bias: bias, bounds: bounds, y: y, rows: outputChannels)
}

/// Y[rows, 0..<n] = clamp(scale · W · X + bias) for the output rows in `outputChannels`; X is [K × n] row-major.
/// `rowPointers` has M + 1 entries; column indices are widened to UInt32 by the plan and must be < K.
public func f32QC8WSpmmCSR(
        m: Int, k: Int, n: Int, rowPointers: UnsafePointer<UInt32>, columnIndices: UnsafePointer<UInt32>,
        values: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
        x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        y: UnsafeMutablePointer<Float>, outputChannels: Range<Int>,
        workspace: UnsafeMutableRawPointer) {
    sparseSpmm(.csr(rowPointers: rowPointers, columnIndices: columnIndices), .qc8w(values, scales: scales), m: m, k: k, n: n, x: x, bias: bias, bounds: bounds, y: y, rows: outputChannels, workspace: workspace)
}

/// Reference twin of `f32QC8WSpmmCSR`: plain loops over the stored non-zeros.
public func f32QC8WSpmmCSRReference(
        m: Int, k: Int, n: Int, rowPointers: UnsafePointer<UInt32>, columnIndices: UnsafePointer<UInt32>,
        values: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
        x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        y: UnsafeMutablePointer<Float>, outputChannels: Range<Int>) {
    sparseSpmmReference(.csr(rowPointers: rowPointers, columnIndices: columnIndices), .qc8w(values, scales: scales), m: m, k: k, n: n, x: x, bias: bias, bounds: bounds, y: y, rows: outputChannels)
}

/// Workspace bytes `f32SpmmCSR` and `f32QC8WSpmmCSR` need for K columns.
public func f32SpmmCSRWorkspaceBytes(k: Int) -> Int { sparseSpmmWorkspaceBytes(k: k) }
