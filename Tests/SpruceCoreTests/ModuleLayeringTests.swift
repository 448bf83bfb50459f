// The module layering of DESIGN.md, checked against the sources: every `import` in a target's
// Swift files is one its layer allows (dependencies point one way; the runtime, format and core
// stay Foundation-free; only `_SpruceSupport` names the platform's C library) and one that
// Package.swift declares for that target, not one it reaches through another target.
// Each violation is reported as one line naming the file, the line and the import.

import Testing

@Suite struct ModuleLayeringTests {
    /// Package modules each target may import: the targets below it in DESIGN.md's module table.
    static let layers: [String: Set<String>] = {
        let support: Set = ["_SpruceSupport"]
        let core = support.union(["SpruceCore"])
        let format = core.union(["CZstd", "CSpruceProto"])
        let runtime = core.union(["SpruceFormat", "CSpruceKernels"])
        let onnx = core.union(["CSpruceProto"])
        let train = core.union(["COpenBLAS", "CTurboJPEG", "CPNG"])
        let pipeline = format.union(runtime).union(onnx).union(train).union(["SpruceRuntime", "SpruceONNX", "SpruceTrain"])
        return [
            "_SpruceSupport": [],
            "SpruceCore": support,
            "SpruceFormat": format,
            "SpruceRuntime": runtime,
            "SpruceONNX": onnx,
            "SpruceTrain": train,
            "SprucePipeline": pipeline,
            "spruce": pipeline.union(["SprucePipeline", "ArgumentParser"]),
            "spruce-bench": pipeline.union(["SprucePipeline"]),
        ]
    }()

    /// Targets that may import Foundation (and Dispatch); all others are Foundation-free, so an
    /// app embedding the runtime links nothing heavier than libzstd and libprotobuf-c.
    static let foundationTargets: Set = ["SpruceTrain", "SprucePipeline", "spruce", "spruce-bench"]

    /// The C library's module on each platform: only `_SpruceSupport` imports it.
    static let platformModules: Set = ["Glibc", "Musl", "Android", "Bionic", "Darwin", "WinSDK", "ucrt", "CRT"]
    /// Foundation and its parts, and Dispatch.
    static let foundationModules: Set = [
        "Foundation", "FoundationEssentials", "FoundationInternationalization", "FoundationNetworking",
        "FoundationXML", "CoreFoundation", "Dispatch",
    ]
    /// Parts of the standard library any target may import.
    static let standardModules: Set = ["Swift", "_Concurrency", "_StringProcessing", "Synchronization"]
    /// Test frameworks, for test targets only.
    static let testModules: Set = ["Testing", "XCTest"]

    /// Why `target` may not import `module`, or nil when it may. Test targets may import any
    /// module of the package (they test across layers), Foundation and the test frameworks.
    static func violation(of module: String, in target: DeclaredTarget, packageModules: Set<String>) -> String? {
        if standardModules.contains(module) { return nil }
        if platformModules.contains(module) {
            return target.name == "_SpruceSupport" ? nil : "only _SpruceSupport imports the platform's C library"
        }
        if target.kind == .testTarget {
            if foundationModules.contains(module) || testModules.contains(module) || packageModules.contains(module) {
                return nil
            }
            return "a module this package does not provide"
        }
        guard let allowed = layers[target.name] else { return "\(target.name) has no layer in ModuleLayeringTests.layers" }
        if foundationModules.contains(module) {
            return foundationTargets.contains(target.name) ? nil : "\(target.name) is Foundation-free"
        }
        if testModules.contains(module) { return "a test framework, for test targets only" }
        if allowed.contains(module) { return nil }
        let list = allowed.isEmpty ? "nothing" : allowed.sorted().joined(separator: ", ")
        return "\(target.name)'s layer allows only \(list)"
    }

    @Test func importsStayInTheirLayer() throws {
        let targets = try PackageSourceScanner.declaredTargets()
        let packageModules = PackageSourceScanner.moduleNames(targets)
        for target in targets where target.kind != .systemLibrary {
            for found in try PackageSourceScanner.imports(under: target.directory) {
                if let reason = Self.violation(of: found.module, in: target, packageModules: packageModules) {
                    Issue.record("\(found.file):\(found.line): imports \(found.module), forbidden: \(reason)")
                }
            }
        }
    }

    @Test func importsAreDeclaredInPackageSwift() throws {
        let targets = try PackageSourceScanner.declaredTargets()
        let packageModules = PackageSourceScanner.moduleNames(targets)
        for target in targets where target.kind != .systemLibrary {
            for found in try PackageSourceScanner.imports(under: target.directory)
            where packageModules.contains(found.module) && !target.dependencies.contains(found.module) {
                Issue.record(
                    "\(found.file):\(found.line): imports \(found.module), which Package.swift does not declare for \(target.name)")
            }
        }
    }

    @Test func everyTargetHasALayer() throws {
        let targets = try PackageSourceScanner.declaredTargets()
        #expect(targets.count > 10, "Package.swift: found only \(targets.map(\.name)); has its form changed?")
        for target in targets where target.kind == .target || target.kind == .executableTarget {
            // A C target (protoc-c output) holds no Swift, so it needs no row in the table.
            if try PackageSourceScanner.swiftFiles(under: target.directory).isEmpty { continue }
            if Self.layers[target.name] == nil {
                Issue.record("Package.swift: target \(target.name) has no layer in ModuleLayeringTests.layers (DESIGN.md's module table)")
            }
        }
    }

    @Test(arguments: [
        ("import Foundation", "Foundation"),
        ("@testable import SpruceCore", "SpruceCore"),
        ("@_implementationOnly import CZstd // why", "CZstd"),
        ("@_exported import Glibc", "Glibc"),
        ("public import struct SpruceCore.Tensor", "SpruceCore"),
        ("internal import _SpruceSupport", "_SpruceSupport"),
    ])
    func recognisesImportForms(line: String, module: String) {
        #expect(PackageSourceScanner.importedModule(line) == module)
    }

    @Test func ignoresWhatIsNotAnImport() {
        #expect(PackageSourceScanner.importedModule("// import Foundation") == nil)
        #expect(PackageSourceScanner.importedModule("let important = 1") == nil)
        let text = "let script = \"\"\"\nimport numpy\n\"\"\"\n/*\nimport Foundation\n*/\nimport Testing\n"
        #expect(PackageSourceScanner.importedModules(in: text).map(\.1) == ["Testing"])
    }
}
