// A small persistent pool of POSIX threads that splits one plan step's output channels among
// the caller and `threads - 1` workers. Threads are created once when the engine loads and
// sleep on a condition variable between steps; dispatching a step allocates nothing.
// Not a general task system: one step at a time, driven by one engine on one calling thread.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The unit range part `part` of `parts` gets when `units` are split in chunks of `granularity`.
@inline(__always)
func splitUnits(_ units: Int, part: Int, of parts: Int, granularity: Int) -> Range<Int> {
    let chunk = roundUp((units + parts - 1) / parts, max(1, granularity))
    let lo = min(units, part * chunk)
    return lo..<min(units, lo + chunk)
}

/// Worker threads that run parts of a step; the calling thread runs part 0.
/// Every mutable field is read and written under `mutex` only, hence `@unchecked Sendable`.
final class WorkerPool: @unchecked Sendable {
    /// Participants per step, the caller included.
    let parts: Int
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>
    private let done: UnsafeMutablePointer<pthread_cond_t>
    private var threads: [pthread_t] = []
    private var generation = 0
    private var pending = 0
    private var stopping = false
    private var step: (any PlanStep)?
    private var buffers: Buffers?
    /// One workspace per participant, each `workspaceStride` bytes.
    private let workspaces: UnsafeMutableRawPointer
    private let workspaceStride: Int

    /// Starts `parts - 1` threads; returns nil when a thread cannot be created (the engine then
    /// runs single-threaded).
    init?(parts: Int, workspaces: UnsafeMutableRawPointer, workspaceStride: Int) {
        self.parts = parts
        self.workspaces = workspaces
        self.workspaceStride = workspaceStride
        mutex = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        done = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
        for index in 1..<max(1, parts) {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { raw in
                #if canImport(Darwin)
                let context = Unmanaged<WorkerContext>.fromOpaque(raw).takeRetainedValue()
                #else
                let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                #endif
                context.pool.workerLoop(index: context.index)
                return nil
            }, context)
            guard status == 0 else {
                Unmanaged<WorkerContext>.fromOpaque(context).release()
                shutdown()
                return nil
            }
            threads.append(thread)
        }
    }

    /// Stops and joins the workers; the engine calls it before releasing the pool (the threads
    /// reference the pool unowned).
    func shutdown() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for t in threads { pthread_join(t, nil) }
        threads = []
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_cond_destroy(done)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        done.deallocate()
        mutex.deallocate()
    }

    /// Buffers of participant `part`: the shared arena with that participant's own workspace.
    @inline(__always)
    private func buffers(_ shared: Buffers, part: Int) -> Buffers {
        Buffers(arena: shared.arena, offsets: shared.offsets, workspace: workspaces + part * workspaceStride)
    }

    /// Runs `step` split `parts` ways and returns when every part is done.
    func run(_ step: any PlanStep, _ shared: Buffers) {
        pthread_mutex_lock(mutex)
        self.step = step
        self.buffers = shared
        pending = parts - 1
        generation &+= 1
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        step.run(buffers(shared, part: 0),
                 units: splitUnits(step.parallelUnits, part: 0, of: parts, granularity: step.parallelGranularity))
        pthread_mutex_lock(mutex)
        while pending > 0 { pthread_cond_wait(done, mutex) }
        self.step = nil
        self.buffers = nil
        pthread_mutex_unlock(mutex)
    }

    private func workerLoop(index: Int) {
        var seen = 0
        pthread_mutex_lock(mutex)
        while true {
            while generation == seen && !stopping { pthread_cond_wait(wake, mutex) }
            if stopping { break }
            seen = generation
            if let step, let shared = buffers {
                pthread_mutex_unlock(mutex)
                step.run(buffers(shared, part: index),
                         units: splitUnits(step.parallelUnits, part: index, of: parts, granularity: step.parallelGranularity))
                pthread_mutex_lock(mutex)
            }
            pending -= 1
            if pending == 0 { pthread_cond_signal(done) }
        }
        pthread_mutex_unlock(mutex)
    }
}

/// What a worker thread needs to find its pool and its part.
private final class WorkerContext {
    unowned(unsafe) let pool: WorkerPool
    let index: Int
    init(pool: WorkerPool, index: Int) {
        self.pool = pool
        self.index = index
    }
}
