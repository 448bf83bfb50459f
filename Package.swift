// swift-tools-version: 6.0
// Spruce: sparse model compression and an embedded runtime that computes from the sparse form.
// Dependencies point one way; see ../shared/DESIGN.md and README.md for the module table.
import PackageDescription

// MARK: - System libraries (Debian -dev packages, found by pkg-config)

let systemLibraries: [Target] = [
    .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
    .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
    .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
    .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
]

// MARK: - Implementation details (not API)

let implementationDetails: [Target] = [
    // The platform shim (Glibc, Musl, Android, Darwin), file reads, the one fsync'd atomic write and
    // the shared SIMD8 helpers. Foundation-free, no dependencies; underscored because it is not API.
    .target(name: "_SpruceSupport"),
    // protoc-c output for formats/*.proto, committed; `make proto` regenerates it.
    .target(name: "CSpruceProto", dependencies: ["CProtobufC"]),
    // The runtime's innermost loops for AVX2 + FMA, chosen at run time by CPU in builds for baseline
    // x86-64 (a dependent package's plain `swift build`); each has a Swift twin. Plain C, no flags.
    .target(name: "CSpruceKernels"),
]

// MARK: - Public modules
// Every module a target imports is declared here, not reached through another target's
// dependencies (Tests/SpruceCoreTests/ModuleLayeringTests.swift checks both this and the layers).

let modules: [Target] = [
    // Tensor IR, shape inference, verifier, reference executor. Foundation-free.
    .target(name: "SpruceCore", dependencies: ["_SpruceSupport"]),
    // The .spruce artifact: layout, writer, reader, checksums. Foundation-free.
    .target(name: "SpruceFormat", dependencies: ["_SpruceSupport", "SpruceCore", "CZstd", "CSpruceProto"]),
    // Embedded inference from the stored (sparse, int8) form. No BLAS, no Foundation.
    .target(name: "SpruceRuntime", dependencies: ["_SpruceSupport", "SpruceCore", "SpruceFormat", "CSpruceKernels"]),
    // ONNX import and export.
    .target(name: "SpruceONNX", dependencies: ["_SpruceSupport", "SpruceCore", "CSpruceProto"]),
    // Training, image decoding, datasets, metrics, model zoo, checkpoints.
    .target(name: "SpruceTrain", dependencies: ["_SpruceSupport", "SpruceCore", "COpenBLAS", "CTurboJPEG", "CPNG"]),
    // Stages, recipes, reports; everything the CLI drives.
    .target(
        name: "SprucePipeline",
        dependencies: [
            "_SpruceSupport", "SpruceCore", "SpruceFormat", "SpruceRuntime", "SpruceONNX", "SpruceTrain", "COpenBLAS",
        ]),
    // Benchmark driver used by `make bench` (times Spruce; the Python peers are timed by Tests/Benchmarks/*.py).
    .executableTarget(
        name: "spruce-bench",
        dependencies: [
            "_SpruceSupport", "SpruceCore", "SpruceFormat", "SpruceRuntime", "SpruceONNX", "SpruceTrain", "SprucePipeline",
        ]),
    // The command-line tool.
    .executableTarget(
        name: "spruce",
        dependencies: [
            "SpruceCore", "SpruceFormat", "SpruceONNX", "SpruceTrain", "SprucePipeline",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
]

// MARK: - Tests

let tests: [Target] = [
    .testTarget(name: "_SpruceSupportTests", dependencies: ["_SpruceSupport"]),
    .testTarget(name: "SpruceCoreTests", dependencies: ["SpruceCore"]),
    .testTarget(
        name: "SpruceONNXTests",
        dependencies: ["_SpruceSupport", "SpruceCore", "SpruceFormat", "SpruceONNX", "SprucePipeline", "CSpruceProto"],
        resources: []),
    .testTarget(name: "SpruceFormatTests", dependencies: ["_SpruceSupport", "SpruceCore", "SpruceFormat"]),
    .testTarget(name: "SpruceRuntimeTests", dependencies: ["SpruceCore", "SpruceFormat", "SpruceRuntime", "CSpruceKernels"]),
    .testTarget(name: "SpruceTrainTests", dependencies: ["_SpruceSupport", "SpruceCore", "SpruceONNX", "SpruceTrain"]),
    .testTarget(
        name: "spruceTests",
        dependencies: ["spruce", "SpruceCore", "SpruceFormat", "SpruceONNX", "SpruceTrain", "SprucePipeline"]),
    .testTarget(name: "SprucePipelineTests", dependencies: ["SpruceCore", "SpruceFormat", "SpruceTrain", "SprucePipeline"]),
]

let package = Package(
    name: "Spruce",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "spruce", targets: ["spruce"]),
        .library(name: "SpruceCore", targets: ["SpruceCore"]),
        .library(name: "SpruceONNX", targets: ["SpruceONNX"]),
        // The runtime for Swift packages (Examples/Classify): the engine and the IR types it takes.
        .library(name: "SpruceRuntime", targets: ["SpruceRuntime", "SpruceCore"]),
        // The runtime as a shared library for C and C++ programs (header: Sources/SpruceRuntime/include/spruce.h).
        .library(name: "SpruceRuntimeC", type: .dynamic, targets: ["SpruceRuntime"]),
        .library(name: "SpruceRuntimeStatic", type: .static, targets: ["SpruceRuntime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: systemLibraries + implementationDetails + modules + tests,
    swiftLanguageModes: [.v6]
)
