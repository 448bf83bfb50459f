// Starting a POSIX thread, whose C signature differs between platforms (Darwin's `pthread_t` is
// an optional pointer and its start routine's argument is not optional; glibc, musl and bionic
// use an integer id and an optional argument). Not a thread abstraction: callers keep the
// `pthread_t`, synchronize and join it themselves.

/// Starts a joinable POSIX thread that runs `body`; nil when the system refuses (limits, memory).
public func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    #if canImport(Darwin)
    var thread: pthread_t?
    #else
    var thread = pthread_t()
    #endif
    let status = pthread_create(&thread, nil, { raw in
        #if canImport(Darwin)
        let body = Unmanaged<ThreadBody>.fromOpaque(raw).takeRetainedValue()
        #else
        let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
        #endif
        body.run()
        return nil
    }, context)
    guard status == 0 else {
        Unmanaged<ThreadBody>.fromOpaque(context).release()
        return nil
    }
    return thread
}

/// Carries the closure through the C start routine's untyped argument.
private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void

    init(_ run: @escaping @Sendable () -> Void) {
        self.run = run
    }
}
