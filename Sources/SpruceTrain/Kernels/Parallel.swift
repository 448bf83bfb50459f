// Splits kernel work over the machine's cores with Dispatch (no thread pool of our own).
// Used by the kernels OpenBLAS does not cover (depthwise, batch norm, elementwise); GEMMs are
// threaded by OpenBLAS itself. Chunks are contiguous ranges so each writes disjoint memory.

import SpruceCore

import Dispatch

/// Runs `body` over `0..<count` split into at most `threads` contiguous chunks in parallel.
@inline(__always)
func parallelChunks(_ count: Int, threads: Int, minimumPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    let chunks = max(1, min(threads, count / max(1, minimumPerChunk)))
    if chunks == 1 {
        if count > 0 { body(0..<count) }
        return
    }
    withoutActuallyEscaping(body) { escapable in
        let work = ChunkWork(run: escapable)
        DispatchQueue.concurrentPerform(iterations: chunks) { i in
            let lo = i * count / chunks, hi = (i + 1) * count / chunks
            if lo < hi { work.run(lo..<hi) }
        }
    }
}

/// Carries a chunk body into Dispatch's `@Sendable` closure. Unchecked because the kernels'
/// chunks write disjoint ranges and only read shared inputs, which the compiler cannot see.
private struct ChunkWork: @unchecked Sendable {
    let run: (Range<Int>) -> Void
}
