// ONNX → IR import: parses a ModelProto with protobuf-c and walks its graph in ONNX order,
// turning each node into an IR `Node`, folding shape computations into constants, and
// attributes into typed `Op` values. Operator mapping and constant folding live in the
// `ONNXImporter+Operators` and `ONNXImporter+ConstantFolding` files. This file does not
// evaluate the graph; SpruceCore's verifier checks the result.
import CSpruceProto
import SpruceCore
import _SpruceSupport

/// Reads ONNX models (files or bytes) into Spruce's IR.
///
/// ```swift
/// let model = try ONNXImporter.load(path: "mobilenet_v2.onnx")
/// print(model.graph.nodes.count, model.graph.parameterCount)
/// ```
public enum ONNXImporter {
    /// Reads and imports the ONNX file at `path`; external data is resolved next to it.
    public static func load(path: String) throws -> Model {
        let directory = directoryPart(of: path)
        do {
            return try FileAccess.withContents(path: path) { try decode($0, baseDirectory: directory, source: path) }
        } catch let error as FileAccessError {
            throw ONNXError.unreadableFile(path: path, reason: error.reason)
        }
    }

    /// The directory part of `path` ("." when it has none), where external data files are looked up.
    static func directoryPart(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let directory = path[..<slash]
        return directory.isEmpty ? "/" : String(directory)
    }

    /// Imports a serialized ONNX model; external data paths are relative to `baseDirectory`
    /// (the current directory when nil).
    public static func decode(_ bytes: [UInt8], baseDirectory: String? = nil) throws -> Model {
        try decode(bytes, baseDirectory: baseDirectory, source: "ONNX bytes")
    }

    static func decode(_ bytes: [UInt8], baseDirectory: String?, source: String) throws -> Model {
        try bytes.withUnsafeBufferPointer { try decode($0, baseDirectory: baseDirectory, source: source) }
    }

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, baseDirectory: String?, source: String) throws -> Model {
        let unpacked = onnx__model_proto__unpack(nil, bytes.count, bytes.baseAddress)
        guard let model = unpacked else { throw ONNXError.notProtobuf(source: source, byteCount: bytes.count) }
        defer { onnx__model_proto__free_unpacked(model, nil) }

        var opset: Int?
        for entry in try cMessages(model.pointee.opset_import, model.pointee.n_opset_import, what: "opset_import") {
            let domain = cString(entry.pointee.domain)
            if domain.isEmpty || domain == "ai.onnx" {
                opset = entry.pointee.has_version != 0 ? Int(entry.pointee.version) : 1
            }
        }
        guard let graph = model.pointee.graph else { throw ONNXError.missingGraph(source: source) }
        guard let opset else { throw ONNXError.missingOpset(source: source) }

        var metadata: [String: String] = [:]
        for entry in try cMessages(model.pointee.metadata_props, model.pointee.n_metadata_props, what: "metadata_props") {
            metadata[cString(entry.pointee.key)] = cString(entry.pointee.value)
        }
        var session = Session(source: source, opset: opset, decoder: TensorDecoder(baseDirectory: baseDirectory))
        let irGraph = try session.importGraph(graph)
        return Model(graph: irGraph, metadata: metadata, producer: cString(model.pointee.producer_name))
    }
}

/// One ONNX node as read from the protobuf, with the name the IR will use.
struct ONNXNode {
    var name: String
    var opType: String
    var inputs: [String]
    var outputs: [String]
    var attributes: AttributeTable

    /// Input `i`, or "" when absent (omitted optional inputs are "" in ONNX too).
    func input(_ i: Int) -> String { i < inputs.count ? inputs[i] : "" }
}

/// Typed access to a node's attributes; a wrongly typed attribute is an error naming the node.
struct AttributeTable {
    let node: String
    let op: String
    private var byName: [String: UnsafeMutablePointer<Onnx__AttributeProto>] = [:]

    init(node: String, op: String, attributes: [UnsafeMutablePointer<Onnx__AttributeProto>]) {
        self.node = node
        self.op = op
        for attribute in attributes { byName[cString(attribute.pointee.name)] = attribute }
    }

    func has(_ name: String) -> Bool { byName[name] != nil }

    private func lookup(_ name: String, _ expected: Onnx__AttributeProto__AttributeType) throws -> Onnx__AttributeProto? {
        guard let attribute = byName[name]?.pointee else { return nil }
        if attribute.has_type != 0 && attribute.type != expected {
            throw ONNXError.unsupportedAttribute(node: node, op: op, attribute: name,
                                                 detail: "attribute type \(attribute.type.rawValue), expected \(expected.rawValue)")
        }
        return attribute
    }

    func int(_ name: String) throws -> Int? {
        guard let a = try lookup(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) else { return nil }
        return Int(a.i)
    }

    func float(_ name: String) throws -> Float? {
        guard let a = try lookup(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) else { return nil }
        return a.f
    }

    func string(_ name: String) throws -> String? {
        guard let a = try lookup(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING) else { return nil }
        let bytes = try cBytes(a.s)
        return String(decoding: bytes, as: UTF8.self)
    }

    func ints(_ name: String) throws -> [Int]? {
        guard let a = try lookup(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) else { return nil }
        return try cArray(a.ints, a.n_ints, what: "ints of attribute '\(name)'").map { Int($0) }
    }

    func floats(_ name: String) throws -> [Float]? {
        guard let a = try lookup(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS) else { return nil }
        return Array(try cArray(a.floats, a.n_floats, what: "floats of attribute '\(name)'"))
    }

    func tensor(_ name: String) throws -> UnsafeMutablePointer<Onnx__TensorProto>? {
        guard let a = try lookup(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR) else { return nil }
        guard let t = a.t else { throw ONNXError.missingAttribute(node: node, op: op, attribute: name) }
        return t
    }

    func sparseTensor(_ name: String) throws -> UnsafeMutablePointer<Onnx__SparseTensorProto>? {
        guard let a = try lookup(name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR) else { return nil }
        guard let t = a.sparse_tensor else { throw ONNXError.missingAttribute(node: node, op: op, attribute: name) }
        return t
    }

    /// Names of all attributes present (for rejecting unknown value kinds).
    var names: [String] { Array(byName.keys) }
}

extension ONNXImporter {
    /// Mutable state of one import: the IR built so far and the constants folded so far.
    struct Session {
        let source: String
        /// Version of the default ONNX operator set the model imports.
        let opset: Int
        let decoder: TensorDecoder
        var nodes: [Node] = []
        var initializers: [String: Tensor] = [:]
        var inputs: [ValueInfo] = []
        /// Import-time constants (integer initializers, Constant nodes, folded shape arithmetic).
        var folded: [String: Folded] = [:]
        /// Float initializers read as attributes (Clip bounds, Pad value); dropped if nothing else reads them.
        var consumedAsConstant: Set<String> = []
        /// Every value some ONNX node or graph output reads.
        var usedNames: Set<String> = []
        var nodeNames: Set<String> = []
        /// Every value name the ONNX graph defines, so names the importer invents cannot clash.
        var valueNames: Set<String> = []
        /// Names of the graph outputs.
        var graphOutputNames: Set<String> = []
        /// Shapes inferred over the partial graph, valid while `nodes.count` is unchanged.
        var shapeCache: InferredShapes?

        init(source: String, opset: Int, decoder: TensorDecoder) {
            self.source = source
            self.opset = opset
            self.decoder = decoder
        }

        /// Imports the whole graph.
        mutating func importGraph(_ graphPointer: UnsafeMutablePointer<Onnx__GraphProto>) throws -> Graph {
            let g = graphPointer.pointee
            for proto in try cMessages(g.initializer, g.n_initializer, what: "initializer") {
                let (name, value) = try decoder.decode(proto)
                store(value, as: name)
            }
            for proto in try cMessages(g.sparse_initializer, g.n_sparse_initializer, what: "sparse_initializer") {
                let (name, tensor) = try decoder.decodeSparse(proto)
                initializers[name] = tensor
            }
            for info in try cMessages(g.input, g.n_input, what: "graph input") {
                let name = cString(info.pointee.name)
                // Older exporters list every initializer as a graph input too.
                if initializers[name] != nil || folded[name] != nil { continue }
                inputs.append(ValueInfo(name: name, shape: try Self.valueShape(info, requireFloat: true)))
            }
            let nodeProtos = try cMessages(g.node, g.n_node, what: "node")
            var onnxNodes: [ONNXNode] = []
            onnxNodes.reserveCapacity(nodeProtos.count)
            for (index, proto) in nodeProtos.enumerated() {
                let n = proto.pointee
                let opType = cString(n.op_type)
                var name = cString(n.name)
                if name.isEmpty || nodeNames.contains(name) {
                    let base = name.isEmpty ? "\(opType)_\(index)" : "\(name)_\(index)"
                    name = base
                    var suffix = 1
                    while nodeNames.contains(name) { name = "\(base)_\(suffix)"; suffix += 1 }
                }
                nodeNames.insert(name)
                let domain = cString(n.domain)
                if !(domain.isEmpty || domain == "ai.onnx") {
                    throw ONNXError.unsupportedOperator(op: "\(domain).\(opType)", node: name)
                }
                let attributes = try cMessages(n.attribute, n.n_attribute, what: "attribute")
                let node = ONNXNode(name: name, opType: opType,
                                    inputs: try cStrings(n.input, n.n_input, what: "node input"),
                                    outputs: try cStrings(n.output, n.n_output, what: "node output"),
                                    attributes: AttributeTable(node: name, op: opType, attributes: attributes))
                usedNames.formUnion(node.inputs.filter { !$0.isEmpty })
                onnxNodes.append(node)
            }
            let outputProtos = try cMessages(g.output, g.n_output, what: "graph output")
            let outputNames = outputProtos.map { cString($0.pointee.name) }
            usedNames.formUnion(outputNames)
            graphOutputNames = Set(outputNames)
            valueNames = usedNames.union(initializers.keys).union(folded.keys).union(inputs.map(\.name))
                .union(onnxNodes.flatMap(\.outputs))

            for node in onnxNodes { try importNode(node) }

            var outputs: [ValueInfo] = []
            for (info, name) in zip(outputProtos, outputNames) {
                if folded[name] != nil { throw ONNXError.foldedValueUsedAtRuntime(node: "graph output", value: name) }
                var shape = try Self.valueShape(info, requireFloat: false)
                if info.pointee.type == nil || Self.tensorType(info)?.pointee.shape == nil,
                   let inferred = try? shapePair(of: name, node: "graph output") {
                    shape = zip(inferred.low, inferred.high).map { $0 == $1 ? $0 : nil }
                }
                outputs.append(ValueInfo(name: name, shape: shape))
            }

            // Float tensors that only served as attribute values (Clip bounds, pad values) go.
            let readByNodes = Set(nodes.flatMap(\.inputs))
            for name in consumedAsConstant where !readByNodes.contains(name) && !outputNames.contains(name) {
                initializers[name] = nil
            }
            let graph = Graph(nodes: nodes, initializers: initializers, inputs: inputs, outputs: outputs)
            try check(graph)
            return graph
        }

        /// `base`, or `base_1`, `base_2`, … : the first name no ONNX node uses; reserved from then on.
        mutating func freshNodeName(_ base: String) -> String {
            let name = Self.firstFree(base, in: nodeNames)
            nodeNames.insert(name)
            return name
        }

        /// `base`, or `base_1`, `base_2`, … : the first name no ONNX value uses; reserved from then on.
        mutating func freshValueName(_ base: String) -> String {
            let name = Self.firstFree(base, in: valueNames)
            valueNames.insert(name)
            return name
        }

        private static func firstFree(_ base: String, in taken: Set<String>) -> String {
            var name = base
            var suffix = 1
            while taken.contains(name) { name = "\(base)_\(suffix)"; suffix += 1 }
            return name
        }

        /// Records a decoded tensor: floats as initializers, integers as import-time constants.
        mutating func store(_ value: DecodedTensor, as name: String) {
            switch value {
            case .float(let tensor): initializers[name] = tensor
            case .integer(let shape, let values): folded[name] = Folded(shape: shape, ints: values)
            }
        }

        static func tensorType(_ info: UnsafeMutablePointer<Onnx__ValueInfoProto>) -> UnsafeMutablePointer<Onnx__TypeProto__Tensor>? {
            guard let type = info.pointee.type, type.pointee.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE else { return nil }
            return type.pointee.tensor_type
        }

        /// The shape of a graph input or output; symbolic or missing dimensions are dynamic.
        static func valueShape(_ info: UnsafeMutablePointer<Onnx__ValueInfoProto>, requireFloat: Bool) throws -> [Int?] {
            let name = cString(info.pointee.name)
            guard let tensorType = tensorType(info) else {
                if info.pointee.type != nil {
                    throw ONNXError.unsupportedDataType(tensor: name, dataType: "non-tensor value")
                }
                return []
            }
            if requireFloat, tensorType.pointee.has_elem_type != 0, tensorType.pointee.elem_type != ONNXDataType.float.rawValue {
                throw ONNXError.unsupportedDataType(tensor: name, dataType: ONNXDataType.name(of: tensorType.pointee.elem_type))
            }
            guard let shape = tensorType.pointee.shape else { return [] }
            return try cMessages(shape.pointee.dim, shape.pointee.n_dim, what: "shape of '\(name)'").map { dim in
                let d = dim.pointee
                if d.value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE, d.dim_value >= 0 {
                    return Int(d.dim_value)
                }
                return nil
            }
        }

        /// Routes one node to constant handling, folding or operator mapping.
        mutating func importNode(_ node: ONNXNode) throws {
            if node.opType == "Constant" {
                try importConstant(node)
            } else if shouldFold(node) {
                try fold(node)
            } else {
                try importOperator(node)
            }
        }

        /// Adds an IR node, turning the import-time constants it reads into float initializers.
        mutating func append(_ node: Node) throws {
            for input in node.inputs where folded[input] != nil {
                try materialize(input, readBy: node.name)
            }
            nodes.append(node)
        }

        /// Moves folded constant `name` into the initializers so a run-time node can read it.
        /// Only float values qualify (ConstantOfShape, Cast to float, float arithmetic): an integer
        /// constant read by a float op would be a type error in ONNX too, and a value that depends
        /// on the dynamic dimensions has no single tensor to store.
        mutating func materialize(_ name: String, readBy node: String) throws {
            guard let value = folded[name], value.isFloat, let data = value.staticFloats,
                  data.count == value.shape.elementCount else {
                throw ONNXError.foldedValueUsedAtRuntime(node: node, value: name)
            }
            // Leaving `folded` makes later readers see an ordinary initializer; folding still
            // reads it through `constant(_:for:)`.
            folded[name] = nil
            initializers[name] = Tensor(shape: value.shape, data: data)
        }

        /// A `Constant` node: float values become initializers, integers import-time constants.
        mutating func importConstant(_ node: ONNXNode) throws {
            guard let output = node.outputs.first else {
                throw ONNXError.missingAttribute(node: node.name, op: node.opType, attribute: "output")
            }
            let a = node.attributes
            if let t = try a.tensor("value") {
                store(try decoder.decode(t, name: output).1, as: output)
            } else if let s = try a.sparseTensor("sparse_value") {
                initializers[output] = try decoder.decodeSparse(s, name: output).1
            } else if let f = try a.float("value_float") {
                initializers[output] = Tensor(scalar: f)
            } else if let fs = try a.floats("value_floats") {
                initializers[output] = Tensor(shape: [fs.count], data: fs)
            } else if let i = try a.int("value_int") {
                folded[output] = Folded(shape: [], ints: [i])
            } else if let i = try a.ints("value_ints") {
                folded[output] = Folded(shape: [i.count], ints: i)
            } else if let kind = a.names.first {
                throw ONNXError.unsupportedAttribute(node: node.name, op: node.opType, attribute: kind, detail: "constant kind not supported")
            } else {
                throw ONNXError.missingAttribute(node: node.name, op: node.opType, attribute: "value")
            }
        }
    }
}
