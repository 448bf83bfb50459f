// Small SIMD8 helpers shared by the training kernels: unaligned loads and stores through raw
// pointers, and a multiply-add that fuses only where the build guarantees an FMA instruction.
// No kernels live here.

/// Eight floats from `p` (any alignment).
@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// Eight floats from `p` (any alignment).
@inline(__always)
func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// Stores eight floats at `p` (any alignment).
@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// `acc + a·b`, fused on arm64 or with `-DSPRUCE_FMA` (release builds for an FMA-capable
/// `-target-cpu`); elsewhere Swift would lower the fused form to one `fmaf` call per lane.
@inline(__always)
func fma8(_ acc: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    #if arch(arm64) || SPRUCE_FMA
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

/// dst[0..<count] = src[0..<count] (non-overlapping). Rows of small planes are a few floats
/// long, where a `memmove` call costs more than the copy; the plain loop vectorizes in release.
@inline(__always)
func copyFloats(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ count: Int) {
    guard count >= 64 else {
        for i in 0..<count { dst[i] = src[i] }
        return
    }
    dst.update(from: src, count: count)
}
