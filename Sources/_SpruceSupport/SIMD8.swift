// SIMD8<Float> helpers every vector loop of the trainer's and the runtime's kernels uses:
// unaligned loads and stores through typed pointers, and a multiply-add that fuses only where
// the build guarantees an FMA instruction. `@inlinable` and always inlined, so across the module
// boundary they compile exactly as the module-internal copies they replace. No kernels here.

/// Eight floats from `p` (any alignment).
@inlinable @inline(__always)
public func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// Eight floats from `p` (any alignment).
@inlinable @inline(__always)
public func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// Stores eight floats at `p` (any alignment).
@inlinable @inline(__always)
public func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// `acc + a·b`, fused on arm64 or with `-DSPRUCE_FMA` (release builds for an FMA-capable
/// `-target-cpu`); elsewhere Swift would lower the fused form to one `fmaf` call per lane.
/// The condition is decided when this module compiles, so the flags must reach every target
/// (`-Xswiftc` does).
@inlinable @inline(__always)
public func multiplyAdd(_ acc: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    #if arch(arm64) || SPRUCE_FMA
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

/// The same for narrower vectors (SIMD4, SIMD2), fused under the same condition.
@inlinable @inline(__always)
public func multiplyAdd<V: SIMD>(_ acc: V, _ a: V, _ b: V) -> V where V.Scalar == Float {
    #if arch(arm64) || SPRUCE_FMA
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}
