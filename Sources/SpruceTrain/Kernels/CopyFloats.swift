// A copy of a few floats for the training kernels' short rows. The SIMD8 loads, stores and
// multiply-add they share with the runtime's kernels live in `_SpruceSupport` (SIMD8.swift).
// No kernels live here.

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
