// A small persistent pool of POSIX threads that splits one plan step's output channels among
// the caller and `threads - 1` workers, with a spin barrier between a step's shared preparation
// phase and its rows. Threads are created once when the engine loads and spin briefly, then
// sleep, between steps; dispatching a step allocates nothing.
// Not a general task system: one step at a time, driven by one engine on one calling thread.
import _SpruceSupport
import Synchronization

/// The unit range part `part` of `parts` gets when `units` are split in chunks of `granularity`.
@inline(__always)
func splitUnits(_ units: Int, part: Int, of parts: Int, granularity: Int) -> Range<Int> {
    let chunk = roundUp((units + parts - 1) / parts, max(1, granularity))
    let lo = min(units, part * chunk)
    return lo..<min(units, lo + chunk)
}

/// Worker threads that run parts of a step; the calling thread runs part 0.
///
/// A step is published by writing `step`/`buffers` and then bumping `generation` (release); a
/// worker that sees the new generation (acquire) runs its part and decrements `pending`. Workers
/// spin on `generation` for a while after each part, so the next step of the same inference
/// reaches them in well under a microsecond (a condition-variable wake-up costs tens of
/// microseconds on a VM, more than many steps take); after `spinLimit` empty polls they sleep on
/// `wake`, and `run` broadcasts only when someone sleeps. `step`/`buffers` are written only while
/// every worker is idle, hence `@unchecked Sendable`. A step with a preparation phase meets at
/// `arrived` (reset before the step is published) between `prepare` and its rows.
final class WorkerPool: @unchecked Sendable {
    /// Participants per step, the caller included.
    let parts: Int
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>
    private var threads: [pthread_t] = []
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let arrived = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private var step: (any PlanStep)?
    private var buffers: Buffers?
    /// One workspace per participant, each `workspaceStride` bytes.
    private let workspaces: UnsafeMutableRawPointer
    private let workspaceStride: Int
    /// Empty polls of `generation` before a worker goes to sleep (a few milliseconds, yields included).
    static let spinLimit = 1 << 18

    /// Starts `parts - 1` threads; returns nil when a thread cannot be created (the engine then
    /// runs single-threaded).
    init?(parts: Int, workspaces: UnsafeMutableRawPointer, workspaceStride: Int) {
        self.parts = parts
        self.workspaces = workspaces
        self.workspaceStride = workspaceStride
        mutex = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        for index in 1..<max(1, parts) {
            // Unowned: the engine shuts the pool down (joining every thread) before releasing it.
            guard let thread = startThread({ [unowned(unsafe) self] in self.workerLoop(index: index) }) else {
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
        stopping.store(true, ordering: .sequentiallyConsistent)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for t in threads { pthread_join(t, nil) }
        threads = []
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        mutex.deallocate()
    }

    /// Buffers of participant `part`: the shared arena with that participant's own workspace.
    @inline(__always)
    private func buffers(_ shared: Buffers, part: Int) -> Buffers {
        Buffers(arena: shared.arena, offsets: shared.offsets, workspace: workspaces + part * workspaceStride,
                shared: shared.shared)
    }

    /// Participant `part`'s share of `step`: its preparation units, the barrier, its rows.
    @inline(__always)
    private func runPart(_ step: any PlanStep, _ shared: Buffers, part: Int) {
        let b = buffers(shared, part: part)
        let prepare = step.prepareUnits
        if prepare > 0 {
            step.prepare(b, units: splitUnits(prepare, part: part, of: parts, granularity: 1))
            arrived.wrappingAdd(1, ordering: .acquiringAndReleasing)
            var polls = 0
            while arrived.load(ordering: .acquiring) < parts { WorkerPool.backOff(&polls) }
        }
        step.run(b, units: step.units(part: part, of: parts))
    }

    /// Runs `step` split `parts` ways and returns when every part is done.
    func run(_ step: any PlanStep, _ shared: Buffers) {
        self.step = step
        self.buffers = shared
        pending.store(parts - 1, ordering: .relaxed)
        arrived.store(0, ordering: .relaxed)
        generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
        }
        runPart(step, shared, part: 0)
        var polls = 0
        while pending.load(ordering: .acquiring) > 0 { WorkerPool.backOff(&polls) }
    }

    /// Polls before a waiting thread starts yielding its core on each further poll. With another
    /// process busy on the machine, MobileNet v2 at 2 threads measured 2.9 ms (median of rounds)
    /// yielding after 512 polls, 5.4 ms after 16k and up to 65 ms never yielding; a yield costs
    /// ~0.6 µs here, so on an idle machine it delays noticing a finished part by about that.
    static let yieldAfter = 512

    /// One poll of a spin wait: after `yieldAfter` polls the thread yields on every `every`-th
    /// poll (a power of two), so on an oversubscribed machine the thread it waits for (descheduled,
    /// maybe queued on this core) runs instead of this one burning a whole time slice.
    @inline(__always)
    static func backOff(_ polls: inout Int, every: Int = 1) {
        polls &+= 1
        if polls > yieldAfter && polls & (every &- 1) == 0 { sched_yield() }
    }

    private func workerLoop(index: Int) {
        var seen = 0  // generation at creation: a step published before this thread starts is still new
        while true {
            var polls = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen && polls < WorkerPool.spinLimit {
                WorkerPool.backOff(&polls, every: 16)
                current = generation.load(ordering: .acquiring)
            }
            if current == seen {
                // Sleep until the next step (or shutdown); `run` broadcasts when it sees a sleeper.
                pthread_mutex_lock(mutex)
                sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen
                        && !stopping.load(ordering: .sequentiallyConsistent) {
                    pthread_cond_wait(wake, mutex)
                }
                sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(mutex)
                current = generation.load(ordering: .acquiring)
            }
            if stopping.load(ordering: .acquiring) { return }
            if current == seen { continue }
            seen = current
            if let step, let shared = buffers {
                runPart(step, shared, part: index)
            }
            pending.wrappingSubtract(1, ordering: .releasing)
        }
    }
}
