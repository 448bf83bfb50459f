// f32-spmm-bitmask and its qc8w twin (int8 values, one f32 scale per row applied after accumulation):
// 1×1 convolution as sparse × dense with W stored as a bitmask + packed values [M × K];
// the mask is walked word by word (trailing-zero count), never expanded to a dense matrix.
// Not a dense kernel: an all-zero row costs nothing but its bias. Shared machinery: SparseRows.swift.

/// Y[rows, 0..<n] = clamp(W · X + bias) for the output rows in `outputChannels`; X is [K × n] row-major.
/// Each row owns ceil(K/64) UInt64 mask words (bit b of word w = column 64w+b, bits ≥ K zero); `rowValueOffsets` (M + 1, see `bitmaskRowValueOffsets`) locates each row's values.
public func f32SpmmBitmask(
        m: Int, k: Int, n: Int, maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>,
        values: UnsafePointer<Float>,
        x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        y: UnsafeMutablePointer<Float>, outputChannels: Range<Int>,
        workspace: UnsafeMutableRawPointer) {
    sparseSpmm(.bitmask(words: maskWords, wordsPerRow: (k + 63) / 64, rowValueOffsets: rowValueOffsets), .f32(values), m: m, k: k, n: n, x: x, bias: bias, bounds: bounds, y: y, rows: outputChannels, workspace: workspace)
}

/// Reference twin of `f32SpmmBitmask`: plain loops over the stored non-zeros.
public func f32SpmmBitmaskReference(
        m: Int, k: Int, n: Int, maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>,
        values: UnsafePointer<Float>,
        x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        y: UnsafeMutablePointer<Float>, outputChannels: Range<Int>) {
    sparseSpmmReference(.bitmask(words: maskWords, wordsPerRow: (k + 63) / 64, rowValueOffsets: rowValueOffsets), .f32(values), m: m, k: k, n: n, x: x, bias: bias, bounds: bounds, y: y, rows: outputChannels)
}

/// Y[rows, 0..<n] = clamp(scale · W · X + bias) for the output rows in `outputChannels`; X is [K × n] row-major.
/// Each row owns ceil(K/64) UInt64 mask words (bit b of word w = column 64w+b, bits ≥ K zero); `rowValueOffsets` (M + 1, see `bitmaskRowValueOffsets`) locates each row's values.
public func f32QC8WSpmmBitmask(
        m: Int, k: Int, n: Int, maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>,
        values: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
        x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        y: UnsafeMutablePointer<Float>, outputChannels: Range<Int>,
        workspace: UnsafeMutableRawPointer) {
    sparseSpmm(.bitmask(words: maskWords, wordsPerRow: (k + 63) / 64, rowValueOffsets: rowValueOffsets), .qc8w(values, scales: scales), m: m, k: k, n: n, x: x, bias: bias, bounds: bounds, y: y, rows: outputChannels, workspace: workspace)
}

/// Reference twin of `f32QC8WSpmmBitmask`: plain loops over the stored non-zeros.
public func f32QC8WSpmmBitmaskReference(
        m: Int, k: Int, n: Int, maskWords: UnsafePointer<UInt64>, rowValueOffsets: UnsafePointer<UInt32>,
        values: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
        x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, bounds: ActivationBounds,
        y: UnsafeMutablePointer<Float>, outputChannels: Range<Int>) {
    sparseSpmmReference(.bitmask(words: maskWords, wordsPerRow: (k + 63) / 64, rowValueOffsets: rowValueOffsets), .qc8w(values, scales: scales), m: m, k: k, n: n, x: x, bias: bias, bounds: bounds, y: y, rows: outputChannels)
}

/// Workspace bytes `f32SpmmBitmask` and `f32QC8WSpmmBitmask` need for K columns.
public func f32SpmmBitmaskWorkspaceBytes(k: Int) -> Int { sparseSpmmWorkspaceBytes(k: k) }
