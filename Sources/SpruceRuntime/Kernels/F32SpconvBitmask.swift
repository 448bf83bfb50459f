// f32-spconv-bitmask and its qc8w twin (int8 values, one f32 scale per row applied after accumulation):
// k×k direct sparse convolution with weights as a bitmask + packed values
// [M × (C/groups·kH·kW)]; same scheme as f32-spconv-csr, columns come from the mask bits.
// Not a dense kernel: an all-zero row costs nothing but its bias. Shared machinery: SparseRows.swift.

/// Output channels in `outputChannels` of clamp(conv(input, W) + bias), NCHW, batch 1.
/// Each row owns ceil(K/64) UInt64 mask words (bit b of word w = column 64w+b, bits ≥ K zero); `rowValueOffsets` (M + 1, see `bitmaskRowValueOffsets`) locates each row's values.
public func f32SpconvBitmask(
        _ g: ConvGeometry, maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>,
        values: UnsafePointer<Float>,
        input: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>,
        workspace: UnsafeMutableRawPointer) {
    sparseSpconv(g, .bitmask(words: maskWords, wordsPerRow: (g.reduction + 63) / 64, rowValueOffsets: rowValueOffsets), .f32(values), input: input, bias: bias, bounds: bounds, output: output, outputChannels: outputChannels, workspace: workspace)
}

/// Reference twin of `f32SpconvBitmask`: plain loops over the stored non-zeros.
public func f32SpconvBitmaskReference(
        _ g: ConvGeometry, maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>,
        values: UnsafePointer<Float>,
        input: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>) {
    sparseSpconvReference(g, .bitmask(words: maskWords, wordsPerRow: (g.reduction + 63) / 64, rowValueOffsets: rowValueOffsets), .f32(values), input: input, bias: bias, bounds: bounds, output: output, outputChannels: outputChannels)
}

/// Output channels in `outputChannels` of clamp(conv(input, scale · W) + bias), NCHW, batch 1.
/// Each row owns ceil(K/64) UInt64 mask words (bit b of word w = column 64w+b, bits ≥ K zero); `rowValueOffsets` (M + 1, see `bitmaskRowValueOffsets`) locates each row's values.
public func f32QC8WSpconvBitmask(
        _ g: ConvGeometry, maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>,
        values: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
        input: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>,
        workspace: UnsafeMutableRawPointer) {
    sparseSpconv(g, .bitmask(words: maskWords, wordsPerRow: (g.reduction + 63) / 64, rowValueOffsets: rowValueOffsets), .qc8w(values, scales: scales), input: input, bias: bias, bounds: bounds, output: output, outputChannels: outputChannels, workspace: workspace)
}

/// Reference twin of `f32QC8WSpconvBitmask`: plain loops over the stored non-zeros.
public func f32QC8WSpconvBitmaskReference(
        _ g: ConvGeometry, maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>,
        values: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
        input: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        output: UnsafeMutablePointer<Float>, outputChannels: Range<Int>) {
    sparseSpconvReference(g, .bitmask(words: maskWords, wordsPerRow: (g.reduction + 63) / 64, rowValueOffsets: rowValueOffsets), .qc8w(values, scales: scales), input: input, bias: bias, bounds: bounds, output: output, outputChannels: outputChannels)
}

/// Workspace bytes `f32SpconvBitmask` and `f32QC8WSpconvBitmask` need for `g` (phase planes, row decode, wide row).
public func f32SpconvBitmaskWorkspaceBytes(_ g: ConvGeometry) -> Int { sparseSpconvWorkspaceBytes(g) }
