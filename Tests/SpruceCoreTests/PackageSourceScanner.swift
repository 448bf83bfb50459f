// Reads the package's own text for ModuleLayeringTests: the `import` lines of every Swift file
// of a target, and each target's declared `dependencies` in Package.swift. Deliberately minimal
// text scanning (the manifest is not evaluated); it knows the few forms this package writes.
// Not a Swift parser: an `import` inside a `#if` counts whether or not the branch compiles.

import Foundation

/// One `import` declaration: the file (relative to the package root), its line and the module.
struct ImportLine: Equatable {
    var file: String
    var line: Int
    var module: String
}

/// A target as Package.swift declares it.
struct DeclaredTarget: Equatable {
    enum Kind: String { case target, executableTarget, testTarget, systemLibrary }
    var kind: Kind
    var name: String
    /// Target and product names from `dependencies: [...]` (products by their `name:`).
    var dependencies: Set<String>

    /// Where its sources live, relative to the package root (the SwiftPM default path).
    var directory: String { (kind == .testTarget ? "Tests/" : "Sources/") + name }
}

enum PackageSourceScanner {
    /// The package root: three levels above this file (Tests/SpruceCoreTests/<file>).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// Names a target may import from the package: its targets and the products it depends on.
    static func moduleNames(_ targets: [DeclaredTarget]) -> Set<String> {
        Set(targets.map(\.name)).union(targets.flatMap(\.dependencies))
    }

    /// The Swift files below `directory` (relative to the root), relative to the root, sorted.
    static func swiftFiles(under directory: String) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root + "/" + directory) else { return [] }
        var files: [String] = []
        while let next = walker.nextObject() as? String {
            if next.hasSuffix(".swift") { files.append(directory + "/" + next) }
        }
        return files.sorted()
    }

    /// Every `import` in the Swift files below `directory` (relative to the root), in path order.
    static func imports(under directory: String) throws -> [ImportLine] {
        var found: [ImportLine] = []
        for file in try swiftFiles(under: directory) {
            let text = try String(contentsOfFile: root + "/" + file, encoding: .utf8)
            for (line, module) in importedModules(in: text) {
                found.append(ImportLine(file: file, line: line, module: module))
            }
        }
        return found
    }

    /// (1-based line, module) of each import declaration in `text`, skipping block comments and
    /// multi-line string literals (a test may hold Python or Swift source as text).
    static func importedModules(in text: String) -> [(Int, String)] {
        var result: [(Int, String)] = []
        var inString = false, inComment = false
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            let quotes = line.components(separatedBy: "\"\"\"").count - 1
            defer { if quotes % 2 == 1 { inString.toggle() } }
            if inString { continue }
            if inComment {
                if line.contains("*/") { inComment = false }
                continue
            }
            if line.hasPrefix("/*") && !line.contains("*/") {
                inComment = true
                continue
            }
            if let module = importedModule(line) { result.append((index + 1, module)) }
        }
        return result
    }

    /// The module of one trimmed line if it is an import declaration, with any attributes
    /// (`@testable`, `@_exported`, `@_implementationOnly`, `@preconcurrency`), access level and
    /// declaration kind (`import struct X.Y`).
    static func importedModule(_ line: String) -> String? {
        let code = line.components(separatedBy: "//")[0]
        var words = code.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        while let first = words.first, first.hasPrefix("@") { words.removeFirst() }
        let accessLevels: Set = ["public", "package", "internal", "fileprivate", "private"]
        if let first = words.first, accessLevels.contains(first) { words.removeFirst() }
        guard words.first == "import", words.count >= 2 else { return nil }
        words.removeFirst()
        let kinds: Set = ["typealias", "struct", "class", "enum", "protocol", "let", "var", "func"]
        if words.count >= 2, kinds.contains(words[0]) { words.removeFirst() }
        return words[0].split(separator: ".").first.map(String.init)
    }

    /// The targets Package.swift declares, in order.
    static func declaredTargets() throws -> [DeclaredTarget] {
        let manifest = withoutComments(try String(contentsOfFile: root + "/Package.swift", encoding: .utf8))
        var targets: [DeclaredTarget] = []
        var position = manifest.startIndex
        // Top-level calls only: the search resumes after each call's closing parenthesis, so a
        // `.target(name:)` dependency inside a `dependencies` array is not taken for a target.
        while let (kind, open) = nextTargetCall(in: manifest, from: position) {
            guard let close = matching(manifest, open, "(", ")") else { break }
            let call = String(manifest[open...close])
            if let name = firstStringLiteral(after: "name:", in: call) {
                targets.append(DeclaredTarget(kind: kind, name: name, dependencies: dependencies(in: call)))
            }
            position = manifest.index(after: close)
        }
        return targets
    }

    /// The earliest `.<kind>(` at or after `start`, with the index of its parenthesis.
    private static func nextTargetCall(in text: String, from start: String.Index)
        -> (DeclaredTarget.Kind, String.Index)?
    {
        let kinds: [DeclaredTarget.Kind] = [.target, .executableTarget, .testTarget, .systemLibrary]
        let hits = kinds.compactMap { kind -> (DeclaredTarget.Kind, String.Index)? in
            guard let range = text.range(of: "." + kind.rawValue + "(", range: start..<text.endIndex) else { return nil }
            return (kind, text.index(before: range.upperBound))
        }
        return hits.min { $0.1 < $1.1 }
    }

    /// Names in the call's `dependencies: [...]`: each entry's first string literal.
    private static func dependencies(in call: String) -> Set<String> {
        guard let label = call.range(of: "dependencies:"),
              let open = call[label.upperBound...].firstIndex(of: "["),
              let close = matching(call, open, "[", "]") else { return [] }
        var names: Set<String> = []
        var depth = 0, entry = ""
        for character in call[call.index(after: open)..<close] {
            if character == "(" || character == "[" { depth += 1 }
            if character == ")" || character == "]" { depth -= 1 }
            if character == "," && depth == 0 {
                if let name = firstStringLiteral(after: "", in: entry) { names.insert(name) }
                entry = ""
            } else {
                entry.append(character)
            }
        }
        if let name = firstStringLiteral(after: "", in: entry) { names.insert(name) }
        return names
    }

    /// The index of the bracket closing the one at `open`.
    private static func matching(_ text: String, _ open: String.Index, _ opening: Character, _ closing: Character)
        -> String.Index?
    {
        var depth = 0
        var index = open
        while index < text.endIndex {
            if text[index] == opening { depth += 1 }
            if text[index] == closing {
                depth -= 1
                if depth == 0 { return index }
            }
            index = text.index(after: index)
        }
        return nil
    }

    /// The contents of the first "…" literal after `label` in `text`.
    private static func firstStringLiteral(after label: String, in text: String) -> String? {
        let start = label.isEmpty ? text.startIndex : (text.range(of: label)?.upperBound ?? text.endIndex)
        guard let open = text[start...].firstIndex(of: "\"") else { return nil }
        let rest = text[text.index(after: open)...]
        guard let close = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<close])
    }

    /// `text` with `//` comments removed (a `//` inside a string literal, as in a URL, is kept).
    private static func withoutComments(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            var inString = false
            var previous: Character = " "
            for index in line.indices {
                let character = line[index]
                if character == "\"" { inString.toggle() }
                if !inString && character == "/" && previous == "/" {
                    return String(line[..<line.index(before: index)])
                }
                previous = character
            }
            return String(line)
        }.joined(separator: "\n")
    }
}
