// The collective operations data-parallel training needs (rank, size, sum-allreduce, broadcast,
// barrier, abort, finalize) behind one protocol, the single-process implementation, and the
// launch detection that picks MPI only under mpirun (or when asked). It holds no training logic;
// GradientSync does the gradient averaging and MPICommunicator the Open MPI calls.

import Foundation

/// Collective operations over the processes of one training job.
///
/// Calls are collective: every rank makes the same calls in the same order, from one thread at a time.
public protocol Communicator: Sendable {
    /// This process's 0-based rank.
    var rank: Int { get }
    /// Number of processes in the job.
    var size: Int { get }
    /// Replaces `buffer` on every rank with the element-wise sum over all ranks.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// Replaces `bytes` on every rank with rank `root`'s (every rank passes the same count).
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws
    /// Returns once every rank has called it.
    func barrier() throws
    /// Ends the whole job at once with `code` (used when this rank cannot go on).
    func abort(code: Int32) -> Never
    /// Leaves the job cleanly; call once on every rank after the last collective.
    func finalize() throws
}

extension Communicator {
    /// Whether this rank writes files and prints progress (rank 0 only).
    public var isRoot: Bool { rank == 0 }
}

/// The communicator of an ordinary run: one rank, every collective is a no-op.
public struct SingleProcess: Communicator {
    /// The single-process communicator.
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {}
    public func barrier() throws {}
    public func abort(code: Int32) -> Never { exit(code) }
    public func finalize() throws {}
}

/// Failures of distributed runs.
public enum DistributedError: Error, CustomStringConvertible, Equatable {
    /// The job was launched under mpirun (or --distributed) but Open MPI's library did not load.
    case libraryUnavailable(library: String, reason: String)
    /// A function Spruce needs is missing from the loaded library.
    case missingSymbol(library: String, symbol: String)
    /// An MPI call returned an error code.
    case callFailed(function: String, code: Int32)
    /// Ranks hold different weights or masks where they must be identical.
    case ranksDiverged(detail: String)
    /// Synchronised BatchNorm needs at least one row of every batch on every rank.
    case batchTooSmall(rows: Int, ranks: Int)

    public var description: String {
        switch self {
        case .libraryUnavailable(let library, let reason):
            "distributed run requested but \(library) cannot be loaded (\(reason)); install Open MPI "
                + "(apt-get install openmpi-bin libopenmpi-dev) or run without mpirun/--distributed"
        case .missingSymbol(let library, let symbol):
            "\(library) has no symbol '\(symbol)'; Spruce needs Open MPI 4 or later (libmpi.so.40)"
        case .callFailed(let function, let code):
            "\(function) failed with MPI error code \(code)"
        case .ranksDiverged(let detail):
            "ranks diverged: \(detail)"
        case .batchTooSmall(let rows, let ranks):
            "a batch of \(rows) images cannot give each of \(ranks) ranks a row (needed by --sync-bn); "
                + "use a larger batch or fewer ranks"
        }
    }
}

/// Picks the communicator of this process.
public enum Distributed {
    /// Environment variable Open MPI's launcher sets in every rank.
    public static let launcherVariable = "OMPI_COMM_WORLD_SIZE"

    /// Whether this process was started by Open MPI's mpirun/mpiexec.
    public static func launchedByMPI(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        environment[launcherVariable] != nil
    }

    /// MPI when launched under mpirun or when `force` is set (e.g. `--distributed` for a singleton
    /// MPI run), the single process otherwise. Never touches libmpi in an ordinary run.
    public static func communicator(force: Bool = false,
                                    environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> any Communicator {
        guard force || launchedByMPI(environment: environment) else { return SingleProcess() }
        return try MPICommunicator()
    }

    /// Kernel threads per rank when the user gave none: the cores shared by the ranks on this
    /// machine (Open MPI tells how many run here), at least 1; nil outside MPI (every core).
    public static func defaultThreads(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        guard let local = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init), local > 1 else { return nil }
        return max(1, ProcessInfo.processInfo.activeProcessorCount / local)
    }
}
