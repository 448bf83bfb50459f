// A dense float32 tensor with value semantics: the one numeric container of the IR.
// Layout is row-major (the last dimension varies fastest), NCHW for images.
// It is not a lazy or device tensor; sparse storage lives in the encodings, not here.

/// A row-major float32 tensor: a shape and its elements.
///
/// ```swift
/// var t = Tensor(shape: [2, 3], repeating: 0)
/// t[[1, 2]] = 5
/// ```
public struct Tensor: Sendable, Equatable, Hashable {
    /// Dimensions, outermost first. A scalar has an empty shape and one element.
    public var shape: [Int]
    /// Elements in row-major order; `data.count == shape.product`.
    public var data: [Float]

    /// Wraps `data` as a tensor of `shape`; the counts must agree.
    public init(shape: [Int], data: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.elementCount == data.count, "shape \(shape) needs \(shape.elementCount) elements, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    /// A tensor of `shape` with every element equal to `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape, data: [Float](repeating: value, count: shape.elementCount))
    }

    /// A rank-0 tensor holding `value`.
    public init(scalar value: Float) {
        self.init(shape: [], data: [value])
    }

    /// Number of elements.
    public var count: Int { data.count }

    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// Row-major strides of `shape`, in elements.
    public var strides: [Int] { shape.rowMajorStrides }

    /// Element at a full multi-index.
    public subscript(index: [Int]) -> Float {
        get { data[offset(of: index)] }
        set { data[offset(of: index)] = newValue }
    }

    private func offset(of index: [Int]) -> Int {
        precondition(index.count == shape.count, "index rank \(index.count) for shape \(shape)")
        var offset = 0
        for (i, d) in zip(index, shape) {
            precondition(i >= 0 && i < d, "index \(index) out of bounds for shape \(shape)")
            offset = offset * d + i
        }
        return offset
    }

    /// The same elements under another shape with equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// Fraction of elements that are exactly zero (0 for an empty tensor).
    public var sparsity: Double {
        guard !data.isEmpty else { return 0 }
        var zeros = 0
        for v in data where v == 0 { zeros += 1 }
        return Double(zeros) / Double(data.count)
    }
}

extension Array where Element == Int {
    /// Product of the dimensions (1 for an empty shape).
    public var elementCount: Int { reduce(1, *) }

    /// Row-major strides in elements.
    public var rowMajorStrides: [Int] {
        var strides = [Int](repeating: 1, count: count)
        var s = 1
        for i in stride(from: count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= self[i]
        }
        return strides
    }

    /// Strides of this shape seen inside the broadcast shape `target` (0 on repeated or missing
    /// axes), for numpy-style broadcasting loops in the reference executor and the trainer.
    package func broadcastStrides(to target: [Int]) -> [Int] {
        let own = rowMajorStrides
        let lead = target.count - count
        return (0..<target.count).map { i in i < lead || self[i - lead] == 1 ? 0 : own[i - lead] }
    }
}
