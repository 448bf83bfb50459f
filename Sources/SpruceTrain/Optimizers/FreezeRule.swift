// Which parameters a training run leaves untouched: the first N layers (the study froze the
// bottom of a network in one experiment), names matching a glob pattern, or an explicit list.
// It only selects parameter indices; the executor and optimizer honour the selection.

import SpruceCore

/// A rule selecting parameters to freeze.
public enum FreezeRule: Sendable, Equatable {
    /// The trainable parameters of the first `n` layers, a layer being a node that first uses
    /// a trainable initializer, counted in graph (topological) order.
    case firstLayers(Int)
    /// Parameters whose name matches a glob (`*` any run, `?` one character), e.g. `"conv1*"`.
    case namePattern(String)
    /// Exactly these parameter names.
    case names(Set<String>)

    /// Indices into `names` that the rule selects.
    func select(names: [String], layers: [[Int]]) -> [Int] {
        switch self {
        case .firstLayers(let n):
            return layers.prefix(max(0, n)).flatMap { $0 }
        case .namePattern(let pattern):
            let p = Array(pattern.unicodeScalars)
            return names.indices.filter { FreezeRule.glob(p, Array(names[$0].unicodeScalars)) }
        case .names(let set):
            return names.indices.filter { set.contains(names[$0]) }
        }
    }

    /// Glob match with `*` and `?` by dynamic programming over positions (no backtracking blow-up).
    static func glob(_ p: [Unicode.Scalar], _ s: [Unicode.Scalar]) -> Bool {
        var row = [Bool](repeating: false, count: s.count + 1)
        row[0] = true
        for c in p {
            var next = [Bool](repeating: false, count: s.count + 1)
            if c == "*" {
                var any = false
                for j in 0...s.count {
                    any = any || row[j]
                    next[j] = any
                }
            } else {
                for j in 0..<s.count where row[j] && (c == "?" || c == s[j]) { next[j + 1] = true }
            }
            row = next
        }
        return row[s.count]
    }
}
