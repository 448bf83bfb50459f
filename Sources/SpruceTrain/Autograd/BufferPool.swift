// A free list of float buffers keyed by element count, owned by one executor. Every training
// step allocates the same activation, gradient and scratch sizes; recycling them avoids the
// allocator mapping and unmapping large blocks (and the page faults that follow) each step.
// It is not a general allocator: blocks are reused only at exactly the same size.

import Foundation

/// Recycles float blocks of equal size; holds at most `limit` pooled elements.
final class BufferPool: @unchecked Sendable {
    // @unchecked: all mutable state is guarded by `lock`; buffers may be released on any thread.
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var pooled = 0
    private let limit: Int
    private let lock = NSLock()

    /// A pool keeping up to `limit` idle elements (default 1 Gi floats; idle memory is bounded
    /// by the largest step's working set in practice).
    init(limit: Int = 1 << 30) {
        self.limit = limit
    }

    deinit {
        for (_, blocks) in free { for p in blocks { p.deallocate() } }
    }

    /// A block of at least `count` floats (uninitialized).
    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let size = max(count, 1)
        lock.lock()
        if var blocks = free[size], let p = blocks.popLast() {
            free[size] = blocks
            pooled -= size
            lock.unlock()
            return p
        }
        lock.unlock()
        return .allocate(capacity: size)
    }

    /// Returns a block from `take(count)`.
    func give(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        let size = max(count, 1)
        lock.lock()
        if pooled + size <= limit {
            free[size, default: []].append(p)
            pooled += size
            lock.unlock()
            return
        }
        lock.unlock()
        p.deallocate()
    }

    /// Frees every idle block (e.g. after the batch size changed).
    func drain() {
        lock.lock()
        let blocks = free
        free = [:]
        pooled = 0
        lock.unlock()
        for (_, list) in blocks { for p in list { p.deallocate() } }
    }
}
