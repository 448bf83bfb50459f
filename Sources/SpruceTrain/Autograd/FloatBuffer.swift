// The trainer's working storage: a reference-counted, manually allocated float buffer and a
// shaped value over it. Kernels read and write through its one pointer, so no Array
// copy-on-write or exclusivity checks happen in hot loops. Buffers are immutable once a
// value is published, except gradient accumulators held by exactly one owner.

import SpruceCore

/// A heap buffer of `count` floats, freed with its last reference.
final class FloatBuffer {
    let count: Int
    let pointer: UnsafeMutablePointer<Float>
    private let pool: BufferPool?

    /// Uninitialized storage (the producer writes every element), recycled through `pool`.
    init(count: Int, pool: BufferPool? = nil) {
        self.count = count
        self.pool = pool
        pointer = pool?.take(count) ?? .allocate(capacity: max(count, 1))
    }

    /// Storage filled with `value`.
    convenience init(count: Int, repeating value: Float) {
        self.init(count: count)
        pointer.initialize(repeating: value, count: count)
    }

    /// A copy of `data`.
    convenience init(_ data: [Float]) {
        self.init(count: data.count)
        data.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.initialize(from: base, count: data.count) }
        }
    }

    deinit {
        if let pool { pool.give(pointer, count) } else { pointer.deallocate() }
    }

    /// The elements as an array.
    var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// A shaped tensor held in a `FloatBuffer` (row-major, NCHW for images).
struct Value {
    var shape: [Int]
    var buffer: FloatBuffer

    init(shape: [Int], buffer: FloatBuffer) {
        self.shape = shape
        self.buffer = buffer
    }

    /// An uninitialized value of `shape`.
    init(shape: [Int], pool: BufferPool? = nil) {
        self.init(shape: shape, buffer: FloatBuffer(count: shape.elementCount, pool: pool))
    }

    /// A value of `shape` filled with `value`.
    init(shape: [Int], repeating value: Float) {
        self.init(shape: shape, buffer: FloatBuffer(count: shape.elementCount, repeating: value))
    }

    init(_ tensor: Tensor) {
        self.init(shape: tensor.shape, buffer: FloatBuffer(tensor.data))
    }

    var count: Int { buffer.count }
    var pointer: UnsafeMutablePointer<Float> { buffer.pointer }
    var tensor: Tensor { Tensor(shape: shape, data: buffer.array) }

    /// The same storage seen under another shape of equal element count.
    func reshaped(_ newShape: [Int]) -> Value { Value(shape: newShape, buffer: buffer) }
}
