// IR → ONNX export: opset 17, IR version 8 (opset 20, IR version 9 for a model with Gelu, which
// opset 20 introduced), float weights as little-endian raw_data, the IR's folded attributes
// (Reshape shape, axes, pads, Clip bounds, Slice lists, Split sizes) written back as int64/float
// initializers the way the opset wants them. Fused conv activations become a separate Relu/Clip.
// Output is deterministic (initializers and metadata sorted by name); files are written atomically.
import CSpruceProto
import SpruceCore
import _SpruceSupport

/// Writes Spruce models as ONNX files that onnxruntime and the ONNX checker accept.
///
/// ```swift
/// try ONNXExporter.write(model, to: "pruned.onnx", sparseInitializers: true)
/// ```
public enum ONNXExporter {
    /// Operator set version written into every exported model without Gelu.
    public static let opsetVersion = 17
    /// ONNX IR version written into every exported model without Gelu.
    public static let irVersion = 8
    /// Operator set and IR version of a model with Gelu (an opset 20 operator; ReduceMean and
    /// Split then take their opset 18 forms).
    public static let geluVersions = (opset: 20, ir: 9)

    /// The (opset, IR) versions `model` is written with.
    public static func versions(for model: Model) -> (opset: Int, ir: Int) {
        model.graph.nodes.contains { if case .gelu = $0.op { true } else { false } } ? geluVersions : (opsetVersion, irVersion)
    }

    /// Serializes `model`; with `sparseInitializers`, conv and gemm weights that contain zeros are
    /// stored as `sparse_initializer` (float values, linear int64 indices).
    public static func encode(_ model: Model, sparseInitializers: Bool = false) throws -> [UInt8] {
        var builder = ExportBuilder(model: model, sparseInitializers: sparseInitializers)
        return try builder.encode()
    }

    /// Serializes `model` to `path` through a temporary file and a rename.
    public static func write(_ model: Model, to path: String, sparseInitializers: Bool = false) throws {
        let bytes = try encode(model, sparseInitializers: sparseInitializers)
        do { try FileAccess.writeAtomically(bytes, to: path) } catch {
            throw ONNXError.writeFailed(path: path, reason: error.reason)
        }
    }
}

/// Builds the protobuf-c messages of one export.
struct ExportBuilder {
    let model: Model
    let sparseInitializers: Bool
    let arena = ProtoArena()
    /// The operator set written (see `ONNXExporter.versions(for:)`).
    let opset: Int
    /// Every value and node name in use, so helper tensors and nodes get fresh names.
    var takenNames: Set<String> = []
    var nodes: [UnsafeMutablePointer<Onnx__NodeProto>] = []
    var extraInitializers: [UnsafeMutablePointer<Onnx__TensorProto>] = []

    init(model: Model, sparseInitializers: Bool) {
        self.model = model
        self.sparseInitializers = sparseInitializers
        opset = ONNXExporter.versions(for: model).opset
        let g = model.graph
        takenNames.formUnion(g.initializers.keys)
        takenNames.formUnion(g.inputs.map(\.name))
        takenNames.formUnion(g.outputs.map(\.name))
        for node in g.nodes {
            takenNames.insert(node.name)
            takenNames.formUnion(node.outputs)
        }
    }

    /// `base`, or `base_1`, `base_2`… if taken.
    mutating func freshName(_ base: String) -> String {
        var name = base
        var suffix = 1
        while takenNames.contains(name) {
            name = "\(base)_\(suffix)"
            suffix += 1
        }
        takenNames.insert(name)
        return name
    }

    mutating func int64Initializer(_ base: String, _ values: [Int]) -> String {
        let name = freshName(base)
        extraInitializers.append(arena.int64Tensor(name: name, shape: [values.count], values: values))
        return name
    }

    mutating func floatScalarInitializer(_ base: String, _ value: Float) -> String {
        let name = freshName(base)
        extraInitializers.append(arena.floatTensor(name: name, shape: [], data: [value]))
        return name
    }

    /// The piece sizes of an equal Split that does not divide its axis evenly, when shape
    /// inference (dynamic dims as 1) knows that axis; nil for an exact or unknown split.
    func unevenSplitSizes(_ node: Node, axis: Int) -> [Int]? {
        let g = model.graph
        var inputShapes: [String: [Int]] = [:]
        for info in g.inputs { inputShapes[info.name] = info.shape.map { $0 ?? 1 } }
        guard let shapes = try? g.inferShapes(inputShapes: inputShapes), let input = shapes[node.inputs.first ?? ""],
              let resolved = try? Graph.splitSizes(node, axis: axis, sizes: [], outputs: node.outputs.count, input: input),
              Set(resolved.sizes).count > 1 else { return nil }
        return resolved.sizes
    }

    /// ONNX requires BatchNormalization's scale; the IR's omitted scale (fixed at 1) becomes an
    /// all-ones initializer sized like the bias, mean or variance, whichever is an initializer.
    mutating func onesScaleInitializer(for node: Node) throws -> String {
        let initializers = model.graph.initializers
        guard let channels = node.inputs.dropFirst(2).compactMap({ initializers[$0] }).first?.count else {
            throw ONNXError.unexportable(
                node: node.name, detail: "omitted BatchNormalization scale needs its bias, mean or variance as an initializer")
        }
        let name = freshName(node.name + "_scale")
        extraInitializers.append(arena.floatTensor(name: name, shape: [channels],
                                                   data: [Float](repeating: 1, count: channels)))
        return name
    }

    mutating func addNode(name: String, opType: String, inputs: [String], outputs: [String],
                          attributes: [UnsafeMutablePointer<Onnx__AttributeProto>]) {
        let n = arena.message(onnx__node_proto__init)
        n.pointee.name = arena.string(name)
        n.pointee.op_type = arena.string(opType)
        n.pointee.n_input = inputs.count
        n.pointee.input = arena.pointers(inputs.map { arena.string($0) })
        n.pointee.n_output = outputs.count
        n.pointee.output = arena.pointers(outputs.map { arena.string($0) })
        n.pointee.n_attribute = attributes.count
        n.pointee.attribute = arena.pointers(attributes)
        nodes.append(n)
    }

    /// Appends the ONNX node(s) for one IR node.
    mutating func export(_ node: Node) throws {
        let a = arena
        var inputs = node.inputs
        var attributes: [UnsafeMutablePointer<Onnx__AttributeProto>] = []
        var outputs = node.outputs
        var activation: FusedActivation = .none

        func windowAttributes(kernel: [Int], strides: [Int], pads: [Int], autoPad: AutoPad) {
            attributes.append(a.attribute("kernel_shape", ints: kernel))
            attributes.append(a.attribute("strides", ints: strides))
            if autoPad == .notSet {
                attributes.append(a.attribute("pads", ints: pads))
            } else {
                attributes.append(a.attribute("auto_pad", string: autoPad.rawValue))
            }
        }

        switch node.op {
        case .conv(let c):
            windowAttributes(kernel: c.kernelShape, strides: c.strides, pads: c.pads, autoPad: c.autoPad)
            attributes.append(a.attribute("dilations", ints: c.dilations))
            attributes.append(a.attribute("group", int: c.groups))
            activation = c.activation
        case .batchNormalization(let epsilon):
            attributes.append(a.attribute("epsilon", float: epsilon))
            if inputs.count > 1 && inputs[1].isEmpty {
                inputs[1] = try onesScaleInitializer(for: node)
            }
        case .clip(let low, let high):
            inputs = [node.inputs.first ?? "",
                      low == -.infinity ? "" : floatScalarInitializer(node.name + "_min", low),
                      high == .infinity ? "" : floatScalarInitializer(node.name + "_max", high)]
        case .reduceMean(let axes, let keepDims):
            if !axes.isEmpty {
                // ReduceMean-18 takes its axes as an input.
                if opset >= 18 {
                    inputs = [node.inputs.first ?? "", int64Initializer(node.name + "_axes", axes)]
                } else {
                    attributes.append(a.attribute("axes", ints: axes))
                }
            }
            attributes.append(a.attribute("keepdims", int: keepDims ? 1 : 0))
        case .maxPool(let p):
            windowAttributes(kernel: p.kernelShape, strides: p.strides, pads: p.pads, autoPad: p.autoPad)
            attributes.append(a.attribute("dilations", ints: p.dilations))
            attributes.append(a.attribute("ceil_mode", int: p.ceilMode ? 1 : 0))
        case .averagePool(let p):
            guard p.dilations.allSatisfy({ $0 == 1 }) else {
                throw ONNXError.unexportable(node: node.name, detail: "AveragePool dilations \(p.dilations) need opset 19")
            }
            windowAttributes(kernel: p.kernelShape, strides: p.strides, pads: p.pads, autoPad: p.autoPad)
            attributes.append(a.attribute("ceil_mode", int: p.ceilMode ? 1 : 0))
            attributes.append(a.attribute("count_include_pad", int: p.countIncludePad ? 1 : 0))
        case .gemm(let g):
            attributes.append(a.attribute("alpha", float: g.alpha))
            attributes.append(a.attribute("beta", float: g.beta))
            attributes.append(a.attribute("transA", int: g.transA ? 1 : 0))
            attributes.append(a.attribute("transB", int: g.transB ? 1 : 0))
        case .flatten(let axis):
            attributes.append(a.attribute("axis", int: axis))
        case .reshape(let shape, let allowZero):
            inputs = [node.inputs.first ?? "", int64Initializer(node.name + "_shape", shape)]
            if allowZero { attributes.append(a.attribute("allowzero", int: 1)) }
        case .squeeze(let axes):
            if let axes { inputs = [node.inputs.first ?? "", int64Initializer(node.name + "_axes", axes)] }
        case .unsqueeze(let axes):
            inputs = [node.inputs.first ?? "", int64Initializer(node.name + "_axes", axes)]
        case .transpose(let perm):
            if let perm { attributes.append(a.attribute("perm", ints: perm)) }
        case .concat(let axis):
            attributes.append(a.attribute("axis", int: axis))
        case .softmax(let axis):
            attributes.append(a.attribute("axis", int: axis))
        case .pad(let pads, let value, let mode):
            inputs = [node.inputs.first ?? "", int64Initializer(node.name + "_pads", pads)]
            if value != 0 && mode == .constant { inputs.append(floatScalarInitializer(node.name + "_value", value)) }
            attributes.append(a.attribute("mode", string: mode.rawValue))
        case .hardSigmoid(let alpha, let beta):
            attributes.append(a.attribute("alpha", float: alpha))
            attributes.append(a.attribute("beta", float: beta))
        case .slice(let starts, let ends, let axes, let steps):
            inputs = [node.inputs.first ?? "", int64Initializer(node.name + "_starts", starts),
                      int64Initializer(node.name + "_ends", ends), int64Initializer(node.name + "_axes", axes),
                      int64Initializer(node.name + "_steps", steps)]
        case .split(let axis, let sizes):
            attributes.append(a.attribute("axis", int: axis))
            // Split-13 without sizes needs an exact split; an uneven one (Split-18's rule) is
            // written out piece by piece when the axis size is known.
            let written = sizes.isEmpty ? unevenSplitSizes(node, axis: axis) : sizes
            if let written {
                inputs = [node.inputs.first ?? "", int64Initializer(node.name + "_split", written)]
            } else if opset >= 18 {
                // Split-18 needs either sizes or the number of pieces.
                attributes.append(a.attribute("num_outputs", int: node.outputs.count))
            }
        case .layerNormalization(let axis, let epsilon):
            attributes.append(a.attribute("axis", int: axis))
            attributes.append(a.attribute("epsilon", float: epsilon))
        case .gelu(let tanhApproximation):
            attributes.append(a.attribute("approximate", string: tanhApproximation ? "tanh" : "none"))
        case .relu, .add, .sub, .mul, .div, .sum, .globalAveragePool, .matMul, .sigmoid, .hardSwish, .identity, .dropout,
             .erf:
            break
        }
        while let last = inputs.last, last.isEmpty { inputs.removeLast() }

        guard activation != .none, let finalOutput = node.outputs.first else {
            addNode(name: node.name, opType: node.op.onnxName, inputs: inputs, outputs: outputs, attributes: attributes)
            return
        }
        // Lowered conv+activation: ONNX has no fused form, so emit Conv then Relu/Clip.
        let preActivation = freshName(finalOutput + "_preact")
        outputs[0] = preActivation
        addNode(name: node.name, opType: "Conv", inputs: inputs, outputs: outputs, attributes: attributes)
        switch activation {
        case .none:
            break
        case .relu:
            addNode(name: freshName(node.name + "_relu"), opType: "Relu", inputs: [preActivation],
                    outputs: [finalOutput], attributes: [])
        case .clip(let low, let high):
            var clipInputs = [preActivation,
                              low == -.infinity ? "" : floatScalarInitializer(node.name + "_min", low),
                              high == .infinity ? "" : floatScalarInitializer(node.name + "_max", high)]
            while let last = clipInputs.last, last.isEmpty { clipInputs.removeLast() }
            addNode(name: freshName(node.name + "_clip"), opType: "Clip", inputs: clipInputs,
                    outputs: [finalOutput], attributes: [])
        }
    }

    /// Initializer names stored sparse: conv weights and gemm B matrices containing a zero.
    func sparseCandidates() -> Set<String> {
        guard sparseInitializers else { return [] }
        return Set(model.graph.prunableLayers().map(\.tensor).filter { model.graph.initializers[$0]?.data.contains(0) == true })
    }

    /// Builds the ModelProto and packs it.
    mutating func encode() throws -> [UInt8] {
        let g = model.graph
        for node in g.nodes { try export(node) }

        let sparse = sparseCandidates()
        var dense: [UnsafeMutablePointer<Onnx__TensorProto>] = []
        var sparseProtos: [UnsafeMutablePointer<Onnx__SparseTensorProto>] = []
        for name in g.initializers.keys.sorted() {
            guard let tensor = g.initializers[name] else { continue }
            if sparse.contains(name) {
                var values: [Float] = []
                var indices: [Int] = []
                tensor.data.withUnsafeBufferPointer { data in
                    for (i, v) in data.enumerated() where v != 0 {
                        values.append(v)
                        indices.append(i)
                    }
                }
                let s = arena.message(onnx__sparse_tensor_proto__init)
                s.pointee.values = arena.floatTensor(name: name, shape: [values.count], data: values)
                s.pointee.indices = arena.int64Tensor(name: name + "_indices", shape: [indices.count], values: indices)
                s.pointee.n_dims = tensor.shape.count
                s.pointee.dims = arena.array(tensor.shape.map { Int64($0) })
                sparseProtos.append(s)
            } else {
                dense.append(arena.floatTensor(name: name, shape: tensor.shape, data: tensor.data))
            }
        }
        dense += extraInitializers

        let graph = arena.message(onnx__graph_proto__init)
        graph.pointee.name = arena.string("spruce")
        graph.pointee.n_node = nodes.count
        graph.pointee.node = arena.pointers(nodes)
        graph.pointee.n_initializer = dense.count
        graph.pointee.initializer = arena.pointers(dense)
        graph.pointee.n_sparse_initializer = sparseProtos.count
        graph.pointee.sparse_initializer = arena.pointers(sparseProtos)
        let inputs = g.inputs.map { arena.valueInfo(name: $0.name, shape: $0.shape) }
        graph.pointee.n_input = inputs.count
        graph.pointee.input = arena.pointers(inputs)
        let outputs = g.outputs.map { arena.valueInfo(name: $0.name, shape: $0.shape) }
        graph.pointee.n_output = outputs.count
        graph.pointee.output = arena.pointers(outputs)

        let opsetID = arena.message(onnx__operator_set_id_proto__init)
        opsetID.pointee.domain = arena.string("")
        opsetID.pointee.has_version = 1
        opsetID.pointee.version = Int64(opset)

        let m = arena.message(onnx__model_proto__init)
        m.pointee.has_ir_version = 1
        m.pointee.ir_version = Int64(ONNXExporter.versions(for: model).ir)
        if !model.producer.isEmpty { m.pointee.producer_name = arena.string(model.producer) }
        m.pointee.graph = graph
        m.pointee.n_opset_import = 1
        m.pointee.opset_import = arena.pointers([opsetID])
        let metadata = model.metadata.keys.sorted().map { arena.entry($0, model.metadata[$0] ?? "") }
        m.pointee.n_metadata_props = metadata.count
        m.pointee.metadata_props = arena.pointers(metadata)

        let size = onnx__model_proto__get_packed_size(m)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            initialized = buffer.baseAddress.map { onnx__model_proto__pack(m, $0) } ?? 0
        }
    }
}
