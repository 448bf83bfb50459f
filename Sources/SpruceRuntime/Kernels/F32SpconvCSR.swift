// f32-spconv-csr and its qc8w twin (int8 values, one f32 scale per row applied after accumulation):
// k×k direct sparse convolution with CSR weights [M × (C/groups·kH·kW)]: each non-zero
// (c, ky, kx) adds one shifted run of the zero-padded, stride-decomposed input. No im2col.
// Not a dense kernel: an all-zero row costs nothing but its bias. Shared machinery: SparseRows.swift.

/// Output channels in `outputChannels` of clamp(conv(input, W) + bias), NCHW, batch 1.
/// `rowPointers` has M + 1 entries; column indices are widened to UInt32 by the plan and must be < K.
public func f32SpconvCSR(
        _ g: ConvGeometry, rowPointers: UnsafePointer<UInt32>, columnIndices: UnsafePointer<UInt32>,
        values: UnsafePointer<Float>,
        input: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>,
        workspace: UnsafeMutableRawPointer) {
    sparseSpconv(g, .csr(rowPointers: rowPointers, columnIndices: columnIndices), .f32(values), input: input, bias: bias, bounds: bounds, output: output, outputChannels: outputChannels, workspace: workspace)
}

/// Reference twin of `f32SpconvCSR`: plain loops over the stored non-zeros.
public func f32SpconvCSRReference(
        _ g: ConvGeometry, rowPointers: UnsafePointer<UInt32>, columnIndices: UnsafePointer<UInt32>,
        values: UnsafePointer<Float>,
        input: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>) {
    sparseSpconvReference(g, .csr(rowPointers: rowPointers, columnIndices: columnIndices), .f32(values), input: input, bias: bias, bounds: bounds, output: output, outputChannels: outputChannels)
}

/// Output channels in `outputChannels` of clamp(conv(input, scale · W) + bias), NCHW, batch 1.
/// `rowPointers` has M + 1 entries; column indices are widened to UInt32 by the plan and must be < K.
public func f32QC8WSpconvCSR(
        _ g: ConvGeometry, rowPointers: UnsafePointer<UInt32>, columnIndices: UnsafePointer<UInt32>,
        values: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
        input: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>,
        workspace: UnsafeMutableRawPointer) {
    sparseSpconv(g, .csr(rowPointers: rowPointers, columnIndices: columnIndices), .qc8w(values, scales: scales), input: input, bias: bias, bounds: bounds, output: output, outputChannels: outputChannels, workspace: workspace)
}

/// Reference twin of `f32QC8WSpconvCSR`: plain loops over the stored non-zeros.
public func f32QC8WSpconvCSRReference(
        _ g: ConvGeometry, rowPointers: UnsafePointer<UInt32>, columnIndices: UnsafePointer<UInt32>,
        values: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
        input: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>) {
    sparseSpconvReference(g, .csr(rowPointers: rowPointers, columnIndices: columnIndices), .qc8w(values, scales: scales), input: input, bias: bias, bounds: bounds, output: output, outputChannels: outputChannels)
}

/// Workspace bytes `f32SpconvCSR` and `f32QC8WSpconvCSR` need for `g` (phase planes, row decode, wide row).
public func f32SpconvCSRWorkspaceBytes(_ g: ConvGeometry) -> Int { sparseSpconvWorkspaceBytes(g) }
