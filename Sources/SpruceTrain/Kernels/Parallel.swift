// Splits kernel work over the machine's cores with Dispatch (no thread pool of our own): images
// of a batch, channels, or row/column blocks of a GEMM (OpenBLAS itself runs single-threaded,
// see TrainingExecutor.init). Chunks are contiguous ranges so each writes disjoint memory.

import SpruceCore

import Dispatch

/// Runs `body` over `0..<count` split into at most `threads` contiguous chunks in parallel.
@inline(__always)
func parallelChunks(_ count: Int, threads: Int, minimumPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    parallelChunks(count, threads: threads, minimumPerChunk: minimumPerChunk) { _, range in body(range) }
}

/// Chunks per thread. With exactly one chunk per core, a core taken by another process for a
/// moment stalls the whole fork-join (the other chunk waits); smaller chunks let the free core
/// take over the work. (Chosen by that reasoning; the shared machine was too noisy to measure
/// the difference reliably.)
let chunksPerThread = 4

/// The number of chunks `parallelChunks` uses for these arguments.
func chunkCount(_ count: Int, threads: Int, minimumPerChunk: Int = 1) -> Int {
    threads <= 1 ? 1 : max(1, min(threads * chunksPerThread, count / max(1, minimumPerChunk)))
}

/// Like `parallelChunks`, also passing each chunk's index in 0..<chunkCount(…).
func parallelChunks(_ count: Int, threads: Int, minimumPerChunk: Int = 1, _ body: (Int, Range<Int>) -> Void) {
    let chunks = chunkCount(count, threads: threads, minimumPerChunk: minimumPerChunk)
    if chunks == 1 {
        if count > 0 { body(0, 0..<count) }
        return
    }
    withoutActuallyEscaping(body) { escapable in
        let work = ChunkWork(run: escapable)
        DispatchQueue.concurrentPerform(iterations: chunks) { i in
            let lo = i * count / chunks, hi = (i + 1) * count / chunks
            if lo < hi { work.run(i, lo..<hi) }
        }
    }
}

/// Carries a chunk body into Dispatch's `@Sendable` closure. Unchecked because the kernels'
/// chunks write disjoint ranges and only read shared inputs, which the compiler cannot see.
private struct ChunkWork: @unchecked Sendable {
    let run: (Int, Range<Int>) -> Void
}
