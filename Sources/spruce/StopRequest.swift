// Ctrl-C and SIGTERM for the long commands (train, compress, study): the first asks the run to
// stop at the next step, a second exits at once. Outputs are written atomically at the end, so
// either way nothing is left half-written. It does not stop anything by itself; runs poll it.
import Dispatch
import Foundation
import SprucePipeline

/// The stop request of a long command, as a cancellation flag the pipeline and trainer poll.
final class StopRequest: @unchecked Sendable {
    // @unchecked: `sources` is only touched on creation and in `install`, on the main thread.
    /// Set by the first Ctrl-C or SIGTERM.
    let flag = CancellationFlag()
    private var sources: [DispatchSourceSignal] = []

    /// Whether a stop was asked for.
    var requested: Bool { flag.isCancelled }

    /// Starts listening; until then the signals keep their default action.
    func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [flag] in
                if flag.isCancelled { Foundation.exit(130) }
                flag.cancel()
                let lead = isatty(2) != 0 ? "\n" : ""  // below a progress bar on a terminal
                FileHandle.standardError.write(Data((lead + "stopping after the current step (Ctrl-C again to quit now)\n").utf8))
            }
            source.resume()
            sources.append(source)
        }
    }
}
