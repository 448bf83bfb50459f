// Import-time constants: the integer (and occasional float) tensors of shape computations.
// Each is evaluated twice, with every dynamic input dimension set to 1 (`low`) and to 2
// (`high`); an element whose two values differ depends on the dynamic dimension.
// Most end up as attributes; a static float one that a run-time node reads becomes an
// initializer (`Session.materialize`); any other one read at run time is rejected.
import SpruceCore

/// An import-time constant evaluated under two assignments of the dynamic dimensions.
struct Folded {
    /// Element values under "dynamic dims = 1" and "dynamic dims = 2".
    enum Values {
        case ints(low: [Int], high: [Int])
        case floats(low: [Float], high: [Float])
    }

    var shape: [Int]
    var values: Values

    /// A static integer constant.
    init(shape: [Int], ints: [Int]) {
        self.shape = shape
        self.values = .ints(low: ints, high: ints)
    }

    /// A static float constant.
    init(shape: [Int], floats: [Float]) {
        self.shape = shape
        self.values = .floats(low: floats, high: floats)
    }

    init(shape: [Int], values: Values) {
        self.shape = shape
        self.values = values
    }

    var count: Int {
        switch values {
        case .ints(let low, _): low.count
        case .floats(let low, _): low.count
        }
    }

    var isFloat: Bool {
        if case .floats = values { return true }
        return false
    }

    /// Integer values that do not depend on dynamic dimensions; nil otherwise.
    var staticInts: [Int]? {
        if case .ints(let low, let high) = values, low == high { return low }
        return nil
    }

    /// Values as floats when they do not depend on dynamic dimensions.
    var staticFloats: [Float]? {
        switch values {
        case .ints(let low, let high): low == high ? low.map { Float($0) } : nil
        case .floats(let low, let high): low == high ? low : nil
        }
    }

    /// Values as floats under both assignments.
    var floatPair: ([Float], [Float]) {
        switch values {
        case .ints(let low, let high): (low.map { Float($0) }, high.map { Float($0) })
        case .floats(let low, let high): (low, high)
        }
    }

    /// The elements at `indices` (flat, row-major), as a constant of `shape`.
    func picking(_ indices: [Int], shape newShape: [Int]) -> Folded {
        switch values {
        case .ints(let low, let high):
            Folded(shape: newShape, values: .ints(low: indices.map { low[$0] }, high: indices.map { high[$0] }))
        case .floats(let low, let high):
            Folded(shape: newShape, values: .floats(low: indices.map { low[$0] }, high: indices.map { high[$0] }))
        }
    }

    /// The same elements under another shape.
    func reshaped(_ newShape: [Int]) -> Folded {
        Folded(shape: newShape, values: values)
    }
}

/// Multi-index helpers for small constant tensors.
enum IndexMath {
    /// For each element of `outShape`, the flat index of the element of `shape` it broadcasts from.
    static func broadcastSources(from shape: [Int], to outShape: [Int]) -> [Int] {
        let count = outShape.elementCount
        let offset = outShape.count - shape.count
        let strides = shape.rowMajorStrides
        var sources = [Int](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: outShape.count)
        for flat in 0..<count {
            var source = 0
            for axis in 0..<shape.count where shape[axis] != 1 {
                source += index[axis + offset] * strides[axis]
            }
            sources[flat] = source
            var axis = outShape.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < outShape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return sources
    }

    /// `axis` made non-negative for `rank`, or nil if out of range.
    static func normalize(_ axis: Int, rank: Int) -> Int? {
        let a = axis < 0 ? axis + rank : axis
        return a >= 0 && a < rank ? a : nil
    }
}
