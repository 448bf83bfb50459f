// The layer vocabulary the zoo's architectures are written in: Keras-style layers (Conv2D with
// 'same'/'valid'/explicit padding, BatchNormalization, ReLU/ReLU6, pooling, Add, Concatenate,
// ZeroPadding2D) appended as IR nodes, with shapes tracked so 'same' resolves to explicit pads
// the way TensorFlow splits them (the odd pixel goes at the end). Each layer's node and output
// value carry the layer's name; weights are `<layer>/kernel`, `/bias`, `/gamma`, `/beta`, ...
// It builds graphs only; it neither verifies (ModelZoo's tests do) nor trains.

import SpruceCore

/// Keras padding modes, resolved against the tracked input size.
enum KerasPadding {
    /// No padding.
    case valid
    /// TensorFlow SAME: output = ceil(input / stride), extra pad at the end.
    case same
    /// Zero padding [top, left, bottom, right] folded in from a preceding ZeroPadding2D.
    case explicit([Int])
}

/// Appends Keras-like layers to an IR graph, tracking [C, H, W] of every value.
struct ZooGraphBuilder {
    private(set) var nodes: [Node] = []
    private(set) var initializers: [String: Tensor] = [:]
    /// [C, H, W] of each value (the batch dimension is dynamic and never tracked).
    private var shapes: [String: [Int]] = [:]
    /// How many layers of each Keras class got an automatic name so far.
    private var autoNames: [String: Int] = [:]
    let inputName: String
    let inputSize: Int
    let seed: UInt64

    init(inputName: String, inputSize: Int, seed: UInt64) {
        self.inputName = inputName
        self.inputSize = inputSize
        self.seed = seed
        shapes[inputName] = [3, inputSize, inputSize]
    }

    /// [C, H, W] of `value`.
    func shape(_ value: String) -> [Int] { shapes[value] ?? [0, 0, 0] }

    /// Channels of `value`.
    func channels(_ value: String) -> Int { shape(value)[0] }

    /// Keras's automatic layer name: `base`, then `base_1`, `base_2`, ...
    mutating func autoName(_ base: String) -> String {
        let k = autoNames[base, default: 0]
        autoNames[base] = k + 1
        return k == 0 ? base : "\(base)_\(k)"
    }

    private mutating func append(_ name: String, _ op: Op, _ inputs: [String], shape: [Int]) -> String {
        nodes.append(Node(name: name, op: op, inputs: inputs, outputs: [name]))
        shapes[name] = shape
        return name
    }

    /// Output size and [begin, end] pads along one axis.
    private func window(_ size: Int, kernel: Int, stride: Int, padding: KerasPadding, axis: Int,
                        layer: String) throws -> (out: Int, begin: Int, end: Int) {
        var begin = 0, end = 0
        switch padding {
        case .valid: break
        case .same:
            let out = (size + stride - 1) / stride
            let total = max(0, (out - 1) * stride + kernel - size)
            begin = total / 2
            end = total - begin
        case .explicit(let pads):
            begin = pads[axis]
            end = pads[axis + 2]
        }
        let span = size + begin + end - kernel
        guard span >= 0 else {
            throw ZooError.layerDoesNotFit(layer: layer, size: inputSize)
        }
        return (span / stride + 1, begin, end)
    }

    /// Conv2D (or DepthwiseConv2D when `depthwise`), He-normal kernel, optional zero bias.
    mutating func conv(_ x: String, name: String, filters: Int, kernel: (Int, Int), stride: Int = 1,
                       padding: KerasPadding, bias: Bool, depthwise: Bool = false) throws -> String {
        let s = shape(x)
        let cIn = s[0]
        let cOut = depthwise ? cIn : filters
        let rows = try window(s[1], kernel: kernel.0, stride: stride, padding: padding, axis: 0, layer: name)
        let cols = try window(s[2], kernel: kernel.1, stride: stride, padding: padding, axis: 1, layer: name)
        let attributes = ConvAttributes(
            kernelShape: [kernel.0, kernel.1], strides: [stride, stride],
            pads: [rows.begin, cols.begin, rows.end, cols.end], groups: depthwise ? cIn : 1)
        let perGroup = depthwise ? 1 : cIn
        let weightName = name + (depthwise ? "/depthwise_kernel" : "/kernel")
        initializers[weightName] = Tensor.heNormal(
            shape: [cOut, perGroup, kernel.0, kernel.1], fanIn: perGroup * kernel.0 * kernel.1, seed: seed, name: weightName)
        var inputs = [x, weightName]
        if bias {
            initializers[name + "/bias"] = Tensor(shape: [cOut], repeating: 0)
            inputs.append(name + "/bias")
        }
        return append(name, .conv(attributes), inputs, shape: [cOut, rows.out, cols.out])
    }

    /// BatchNormalization over channels: gamma 1 (or none when `scale` is false), beta 0, mean 0, variance 1.
    mutating func batchNorm(_ x: String, name: String, epsilon: Float, scale: Bool = true) -> String {
        let c = channels(x)
        var inputs = [x]
        if scale {
            initializers[name + "/gamma"] = Tensor(shape: [c], repeating: 1)
            inputs.append(name + "/gamma")
        } else {
            inputs.append("")  // Keras scale=False: gamma is fixed at 1 and is not a parameter.
        }
        for (suffix, value) in [("beta", Float(0)), ("moving_mean", 0), ("moving_variance", 1)] {
            initializers["\(name)/\(suffix)"] = Tensor(shape: [c], repeating: value)
            inputs.append("\(name)/\(suffix)")
        }
        return append(name, .batchNormalization(epsilon: epsilon), inputs, shape: shape(x))
    }

    mutating func relu(_ x: String, name: String) -> String {
        append(name, .relu, [x], shape: shape(x))
    }

    /// Keras `ReLU(6.0)` as Clip(0, 6).
    mutating func relu6(_ x: String, name: String) -> String {
        append(name, .clip(min: 0, max: 6), [x], shape: shape(x))
    }

    mutating func add(_ a: String, _ b: String, name: String) -> String {
        append(name, .add, [a, b], shape: shape(a))
    }

    /// Channel concatenation.
    mutating func concat(_ values: [String], name: String) -> String {
        var s = shape(values[0])
        s[0] = values.map(channels).reduce(0, +)
        return append(name, .concat(axis: 1), values, shape: s)
    }

    mutating func maxPool(_ x: String, name: String, kernel: Int, stride: Int) throws -> String {
        let s = shape(x)
        let rows = try window(s[1], kernel: kernel, stride: stride, padding: .valid, axis: 0, layer: name)
        let cols = try window(s[2], kernel: kernel, stride: stride, padding: .valid, axis: 1, layer: name)
        let attributes = PoolAttributes(kernelShape: [kernel, kernel], strides: [stride, stride])
        return append(name, .maxPool(attributes), [x], shape: [s[0], rows.out, cols.out])
    }

    /// AveragePooling2D with 'same' padding: padded cells do not count (TensorFlow's rule).
    mutating func averagePoolSame(_ x: String, name: String, kernel: Int, stride: Int) throws -> String {
        let s = shape(x)
        let rows = try window(s[1], kernel: kernel, stride: stride, padding: .same, axis: 0, layer: name)
        let cols = try window(s[2], kernel: kernel, stride: stride, padding: .same, axis: 1, layer: name)
        let attributes = PoolAttributes(kernelShape: [kernel, kernel], strides: [stride, stride],
                                        pads: [rows.begin, cols.begin, rows.end, cols.end], countIncludePad: false)
        return append(name, .averagePool(attributes), [x], shape: [s[0], rows.out, cols.out])
    }

    /// ZeroPadding2D as its own node (needed before max pooling, where zeros differ from -inf).
    mutating func zeroPad(_ x: String, name: String, pads: [Int]) -> String {
        let s = shape(x)
        let onnxPads = [0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]]
        return append(name, .pad(pads: onnxPads, value: 0), [x],
                      shape: [s[0], s[1] + pads[0] + pads[2], s[2] + pads[1] + pads[3]])
    }

    /// The study's head: global average pooling → dense(1) with bias → sigmoid, writing `output`.
    mutating func studyHead(_ x: String, output: String) {
        let c = channels(x)
        let pooled = append("avg_pool", .globalAveragePool, [x], shape: [c, 1, 1])
        nodes.append(Node(name: "flatten", op: .flatten(axis: 1), inputs: [pooled], outputs: ["flatten"]))
        // Stored [1, C] with transB: Keras's [C, 1] kernel has the same element order.
        initializers["predictions/kernel"] = Tensor.heNormal(shape: [1, c], fanIn: c, seed: seed, name: "predictions/kernel")
        initializers["predictions/bias"] = Tensor(shape: [1], repeating: 0)
        nodes.append(Node(name: "predictions", op: .gemm(GemmAttributes(transB: true)),
                          inputs: ["flatten", "predictions/kernel", "predictions/bias"], outputs: ["predictions"]))
        nodes.append(Node(name: "predictions_sigmoid", op: .sigmoid, inputs: ["predictions"], outputs: [output]))
    }

    /// The finished graph: dynamic batch input [N, 3, S, S], output [N, 1].
    func graph(output: String) -> Graph {
        Graph(nodes: nodes, initializers: initializers,
              inputs: [ValueInfo(name: inputName, shape: [nil, 3, inputSize, inputSize])],
              outputs: [ValueInfo(name: output, shape: [nil, 1])])
    }
}
