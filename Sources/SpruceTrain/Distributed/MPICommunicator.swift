// Open MPI loaded at run time: dlopen("libmpi.so.40") and dlsym of the few functions and the
// predefined handles (in Open MPI, MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM and MPI_BYTE are addresses of
// the globals ompi_mpi_comm_world, ompi_mpi_float, ompi_mpi_op_sum, ompi_mpi_byte). So MPI is not a
// build dependency: a machine without it builds and runs single-process. Not for other MPIs (MPICH).

import Foundation
import _SpruceSupport

/// A communicator over MPI_COMM_WORLD of the Open MPI library found at run time.
///
/// `@unchecked Sendable`: its stored properties are immutable function pointers and handles; the
/// MPI calls themselves are made from one thread at a time (MPI_THREAD_SERIALIZED).
public final class MPICommunicator: Communicator, @unchecked Sendable {
    typealias InitThread = @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?, Int32,
                                           UnsafeMutablePointer<Int32>?) -> Int32
    typealias CommQuery = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<Int32>?) -> Int32
    typealias Allreduce = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, UnsafeMutableRawPointer?,
                                          UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32
    typealias Bcast = @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafeMutableRawPointer?, Int32,
                                      UnsafeMutableRawPointer?) -> Int32
    typealias CommOnly = @convention(c) (UnsafeMutableRawPointer?) -> Int32
    typealias Abort = @convention(c) (UnsafeMutableRawPointer?, Int32) -> Int32
    typealias NoArguments = @convention(c) () -> Int32
    typealias Flag = @convention(c) (UnsafeMutablePointer<Int32>?) -> Int32

    /// The library file looked for (Open MPI 4/5 keep soname 40).
    public static let libraryName = "libmpi.so.40"
    /// Open MPI's MPI_IN_PLACE is the address 1.
    private static var inPlace: UnsafeRawPointer? { UnsafeRawPointer(bitPattern: 1) }

    public let rank: Int
    public let size: Int
    private let world, floatType, byteType, sumOp: UnsafeMutableRawPointer
    private let allreduce: Allreduce
    private let bcast: Bcast
    private let barrierCall: CommOnly
    private let abortCall: Abort
    private let finalizeCall: NoArguments

    /// Loads Open MPI and initialises it (MPI_THREAD_SERIALIZED); throws `DistributedError`.
    public init() throws {
        let name = Self.libraryName
        // RTLD_GLOBAL: Open MPI's plugins (mca_*.so) resolve libmpi's symbols through the global scope.
        guard let handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL) else {
            throw DistributedError.libraryUnavailable(library: name, reason: dlerror().map { String(cString: $0) } ?? "dlopen failed")
        }
        func symbol(_ s: String) throws -> UnsafeMutableRawPointer {
            guard let p = dlsym(handle, s) else { throw DistributedError.missingSymbol(library: name, symbol: s) }
            return p
        }
        func function<F>(_ s: String, as type: F.Type) throws -> F { unsafeBitCast(try symbol(s), to: type) }
        world = try symbol("ompi_mpi_comm_world")
        floatType = try symbol("ompi_mpi_float")
        byteType = try symbol("ompi_mpi_byte")
        sumOp = try symbol("ompi_mpi_op_sum")
        allreduce = try function("MPI_Allreduce", as: Allreduce.self)
        bcast = try function("MPI_Bcast", as: Bcast.self)
        barrierCall = try function("MPI_Barrier", as: CommOnly.self)
        abortCall = try function("MPI_Abort", as: Abort.self)
        finalizeCall = try function("MPI_Finalize", as: NoArguments.self)
        let initialized = try function("MPI_Initialized", as: Flag.self)
        let initThread = try function("MPI_Init_thread", as: InitThread.self)
        let commRank = try function("MPI_Comm_rank", as: CommQuery.self)
        let commSize = try function("MPI_Comm_size", as: CommQuery.self)

        var already: Int32 = 0
        try Self.check(initialized(&already), "MPI_Initialized")
        if already == 0 {
            var provided: Int32 = 0
            try Self.check(initThread(nil, nil, 2 /* MPI_THREAD_SERIALIZED */, &provided), "MPI_Init_thread")
        }
        var r: Int32 = 0, n: Int32 = 0
        try Self.check(commRank(world, &r), "MPI_Comm_rank")
        try Self.check(commSize(world, &n), "MPI_Comm_size")
        rank = Int(r)
        size = Int(n)
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard var base = buffer.baseAddress else { return }
        var left = buffer.count
        while left > 0 {
            let n = min(left, Int(Int32.max))
            try Self.check(allreduce(Self.inPlace, base, Int32(n), floatType, sumOp, world), "MPI_Allreduce")
            base += n
            left -= n
        }
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard var base = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = min(left, Int(Int32.max))
            try Self.check(bcast(base, Int32(n), byteType, Int32(root), world), "MPI_Bcast")
            base += n
            left -= n
        }
    }

    public func barrier() throws { try Self.check(barrierCall(world), "MPI_Barrier") }

    public func abort(code: Int32) -> Never {
        _ = abortCall(world, code)
        exit(code)  // MPI_Abort does not return in Open MPI; this only satisfies the type.
    }

    public func finalize() throws { try Self.check(finalizeCall(), "MPI_Finalize") }

    private static func check(_ code: Int32, _ function: String) throws {
        guard code == 0 else { throw DistributedError.callFailed(function: function, code: code) }
    }
}
