// Packs ManifestContents into protobuf bytes and back, through the protoc-c output of
// formats/spruce.proto. Packing builds C structs in an arena freed as a whole; unpacking
// reads protobuf-c's tree, checking enums, strings and attribute cases as it goes.

import CSpruceProto
import SpruceCore

/// Owns every C allocation made while building one manifest for packing.
private final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    func new<T>(_ value: T) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: 1)
        p.initialize(to: value)
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }

    func array<T>(_ values: [T]) -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let p = UnsafeMutablePointer<T>.allocate(capacity: values.count)
        p.initialize(from: values, count: values.count)
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }

    func string(_ s: String, field: String) throws(FormatError) -> UnsafeMutablePointer<CChar> {
        if s.utf8.contains(0) { throw .cannotEncode(name: field, detail: "the string contains a NUL byte") }
        let chars = Array(s.utf8CString)
        return array(chars)!  // never empty: utf8CString always ends with NUL
    }

    deinit { for b in blocks { b.deallocate() } }
}

enum ManifestCoding {
    // MARK: - Packing

    static func encode(_ c: ManifestContents) throws(FormatError) -> [UInt8] {
        let arena = CArena()
        var m = Spruce__Manifest()
        spruce__manifest__init(&m)
        m.producer = try arena.string(c.producer, field: "producer")

        var entries: [UnsafeMutablePointer<Spruce__MetadataEntry>?] = []
        for (key, value) in c.metadata {
            var e = Spruce__MetadataEntry()
            spruce__metadata_entry__init(&e)
            e.key = try arena.string(key, field: "metadata key '\(key)'")
            e.value = try arena.string(value, field: "metadata '\(key)'")
            entries.append(arena.new(e))
        }
        m.n_metadata = entries.count
        m.metadata = arena.array(entries)

        var g = Spruce__Graph()
        spruce__graph__init(&g)
        var nodes: [UnsafeMutablePointer<Spruce__Node>?] = []
        for node in c.nodes { nodes.append(try encodeNode(node, arena)) }
        g.n_nodes = nodes.count
        g.nodes = arena.array(nodes)
        var inputs: [UnsafeMutablePointer<Spruce__ValueInfo>?] = []
        for v in c.inputs { inputs.append(try encodeValueInfo(v, arena)) }
        var outputs: [UnsafeMutablePointer<Spruce__ValueInfo>?] = []
        for v in c.outputs { outputs.append(try encodeValueInfo(v, arena)) }
        g.n_inputs = inputs.count
        g.inputs = arena.array(inputs)
        g.n_outputs = outputs.count
        g.outputs = arena.array(outputs)
        m.graph = arena.new(g)

        var tensors: [UnsafeMutablePointer<Spruce__TensorInfo>?] = []
        for t in c.tensors {
            var ti = Spruce__TensorInfo()
            spruce__tensor_info__init(&ti)
            ti.name = try arena.string(t.name, field: "tensor name")
            ti.n_shape = t.shape.count
            ti.shape = arena.array(t.shape)
            ti.encoding = .init(rawValue: numericCast(t.encoding.rawValue))
            ti.value_type = .init(rawValue: t.valueType == .int8 ? (t.valueBits < 8 ? 4 : 2) : t.halfValues ? 3 : 1)
            ti.value_bits = t.valueType == .int8 && t.valueBits < 8 ? UInt32(t.valueBits) : 0
            ti.scale_type = .init(rawValue: t.halfScales ? 1 : 0)
            ti.stored_values = t.storedValues
            ti.row_pointer_format = .init(rawValue: numericCast(t.rowPointerFormat.map(code) ?? 0))
            ti.column_index_format = .init(rawValue: numericCast(t.columnIndexFormat.map(code) ?? 0))
            func ref(_ part: TensorPart) -> UnsafeMutablePointer<Spruce__SectionRef>? {
                guard let index = t.parts[part] else { return nil }
                var r = Spruce__SectionRef()
                spruce__section_ref__init(&r)
                r.index = index
                return arena.new(r)
            }
            ti.values = ref(.values)
            ti.scales = ref(.scales)
            ti.row_pointers = ref(.rowPointers)
            ti.column_indices = ref(.columnIndices)
            ti.mask = ref(.mask)
            tensors.append(arena.new(ti))
        }
        m.n_tensors = tensors.count
        m.tensors = arena.array(tensors)

        var sections: [UnsafeMutablePointer<Spruce__Section>?] = []
        for s in c.sections {
            var sc = Spruce__Section()
            spruce__section__init(&sc)
            sc.offset = s.offset
            sc.stored_size = s.storedSize
            sc.raw_size = s.rawSize
            sc.codec = .init(rawValue: s.codec == .raw ? 1 : 2)
            sc.checksum = s.checksum
            sections.append(arena.new(sc))
        }
        m.n_sections = sections.count
        m.sections = arena.array(sections)

        let size = spruce__manifest__get_packed_size(&m)
        var out = [UInt8](repeating: 0, count: size)
        let written = out.withUnsafeMutableBufferPointer { spruce__manifest__pack(&m, $0.baseAddress) }
        guard written == size else { throw .cannotEncode(name: "manifest", detail: "protobuf-c packed \(written) of \(size) bytes") }
        return out
    }

    private static func encodeValueInfo(_ v: ValueInfo, _ arena: CArena) throws(FormatError) -> UnsafeMutablePointer<Spruce__ValueInfo> {
        var vi = Spruce__ValueInfo()
        spruce__value_info__init(&vi)
        vi.name = try arena.string(v.name, field: "graph input/output name")
        let dims = v.shape.map { Int64($0 ?? -1) }
        vi.n_shape = dims.count
        vi.shape = arena.array(dims)
        return arena.new(vi)
    }

    private static func ints(_ values: [Int], _ arena: CArena) -> (Int, UnsafeMutablePointer<Int64>?) {
        (values.count, arena.array(values.map { Int64($0) }))
    }

    private static func encodeNode(_ node: Node, _ arena: CArena) throws(FormatError) -> UnsafeMutablePointer<Spruce__Node> {
        var n = Spruce__Node()
        spruce__node__init(&n)
        n.name = try arena.string(node.name, field: "node name")
        var inputs: [UnsafeMutablePointer<CChar>?] = []
        for s in node.inputs { inputs.append(try arena.string(s, field: "input of node '\(node.name)'")) }
        var outputs: [UnsafeMutablePointer<CChar>?] = []
        for s in node.outputs { outputs.append(try arena.string(s, field: "output of node '\(node.name)'")) }
        n.n_inputs = inputs.count
        n.inputs = arena.array(inputs)
        n.n_outputs = outputs.count
        n.outputs = arena.array(outputs)
        n.op = .init(rawValue: numericCast(opCode(node.op)))

        func setCase(_ code: Int) { n.attributes_case = .init(rawValue: numericCast(code)) }
        switch node.op {
        case .conv(let a):
            var c = Spruce__ConvAttributes()
            spruce__conv_attributes__init(&c)
            (c.n_kernel_shape, c.kernel_shape) = ints(a.kernelShape, arena)
            (c.n_strides, c.strides) = ints(a.strides, arena)
            (c.n_pads, c.pads) = ints(a.pads, arena)
            (c.n_dilations, c.dilations) = ints(a.dilations, arena)
            c.groups = Int64(a.groups)
            c.auto_pad = .init(rawValue: numericCast(autoPadCode(a.autoPad)))
            switch a.activation {
            case .none: c.activation = .init(rawValue: 1)
            case .relu: c.activation = .init(rawValue: 2)
            case .clip(let lo, let hi):
                c.activation = .init(rawValue: 3)
                c.activation_min = lo
                c.activation_max = hi
            }
            n.conv = arena.new(c)
            setCase(10)
        case .maxPool(let a), .averagePool(let a):
            var p = Spruce__PoolAttributes()
            spruce__pool_attributes__init(&p)
            (p.n_kernel_shape, p.kernel_shape) = ints(a.kernelShape, arena)
            (p.n_strides, p.strides) = ints(a.strides, arena)
            (p.n_pads, p.pads) = ints(a.pads, arena)
            (p.n_dilations, p.dilations) = ints(a.dilations, arena)
            p.auto_pad = .init(rawValue: numericCast(autoPadCode(a.autoPad)))
            p.count_include_pad = a.countIncludePad ? 1 : 0
            p.ceil_mode = a.ceilMode ? 1 : 0
            n.pool = arena.new(p)
            setCase(11)
        case .gemm(let a):
            var gm = Spruce__GemmAttributes()
            spruce__gemm_attributes__init(&gm)
            gm.alpha = a.alpha
            gm.beta = a.beta
            gm.trans_a = a.transA ? 1 : 0
            gm.trans_b = a.transB ? 1 : 0
            n.gemm = arena.new(gm)
            setCase(12)
        case .batchNormalization(let epsilon):
            var b = Spruce__BatchNormalizationAttributes()
            spruce__batch_normalization_attributes__init(&b)
            b.epsilon = epsilon
            n.batch_normalization = arena.new(b)
            setCase(13)
        case .clip(let lo, let hi):
            var c = Spruce__ClipAttributes()
            spruce__clip_attributes__init(&c)
            c.min = lo
            c.max = hi
            n.clip = arena.new(c)
            setCase(14)
        case .reduceMean(let axes, let keepDims):
            var r = Spruce__ReduceMeanAttributes()
            spruce__reduce_mean_attributes__init(&r)
            (r.n_axes, r.axes) = ints(axes, arena)
            r.keep_dims = keepDims ? 1 : 0
            n.reduce_mean = arena.new(r)
            setCase(15)
        case .flatten(let axis), .concat(let axis), .softmax(let axis):
            var a = Spruce__AxisAttributes()
            spruce__axis_attributes__init(&a)
            a.axis = Int64(axis)
            n.axis = arena.new(a)
            setCase(16)
        case .squeeze(let axes?):
            n.axes = axesAttributes(axes, arena)
            setCase(17)
        case .unsqueeze(let axes):
            n.axes = axesAttributes(axes, arena)
            setCase(17)
        case .reshape(let shape, let allowZero):
            var r = Spruce__ReshapeAttributes()
            spruce__reshape_attributes__init(&r)
            (r.n_shape, r.shape) = ints(shape, arena)
            r.allow_zero = allowZero ? 1 : 0
            n.reshape = arena.new(r)
            setCase(18)
        case .transpose(let perm?):
            var t = Spruce__TransposeAttributes()
            spruce__transpose_attributes__init(&t)
            (t.n_perm, t.perm) = ints(perm, arena)
            n.transpose = arena.new(t)
            setCase(19)
        case .pad(let pads, let value, _):
            var p = Spruce__PadAttributes()
            spruce__pad_attributes__init(&p)
            (p.n_pads, p.pads) = ints(pads, arena)
            p.value = value
            n.pad = arena.new(p)
            setCase(20)
        case .hardSigmoid(let alpha, let beta):
            var h = Spruce__HardSigmoidAttributes()
            spruce__hard_sigmoid_attributes__init(&h)
            h.alpha = alpha
            h.beta = beta
            n.hard_sigmoid = arena.new(h)
            setCase(21)
        case .slice(let starts, let ends, let axes, let steps):
            var sl = Spruce__SliceAttributes()
            spruce__slice_attributes__init(&sl)
            (sl.n_starts, sl.starts) = ints(starts, arena)
            (sl.n_ends, sl.ends) = ints(ends, arena)
            (sl.n_axes, sl.axes) = ints(axes, arena)
            (sl.n_steps, sl.steps) = ints(steps, arena)
            n.slice = arena.new(sl)
            setCase(22)
        case .split(let axis, let sizes):
            var sp = Spruce__SplitAttributes()
            spruce__split_attributes__init(&sp)
            sp.axis = Int64(axis)
            (sp.n_split, sp.split) = ints(sizes, arena)
            n.split = arena.new(sp)
            setCase(23)
        case .layerNormalization(let axis, let epsilon):
            var l = Spruce__LayerNormalizationAttributes()
            spruce__layer_normalization_attributes__init(&l)
            l.axis = Int64(axis)
            l.epsilon = epsilon
            n.layer_normalization = arena.new(l)
            setCase(24)
        case .gelu(let tanhApproximation):
            var g = Spruce__GeluAttributes()
            spruce__gelu_attributes__init(&g)
            g.tanh_approximation = tanhApproximation ? 1 : 0
            n.gelu = arena.new(g)
            setCase(25)
        case .squeeze(nil), .transpose(nil), .relu, .add, .sub, .mul, .div, .sum, .globalAveragePool,
             .matMul, .sigmoid, .hardSwish, .identity, .dropout, .erf:
            setCase(0)
        }
        return arena.new(n)
    }

    private static func axesAttributes(_ axes: [Int], _ arena: CArena) -> UnsafeMutablePointer<Spruce__AxesAttributes> {
        var a = Spruce__AxesAttributes()
        spruce__axes_attributes__init(&a)
        (a.n_axes, a.axes) = ints(axes, arena)
        return arena.new(a)
    }

    private static func opCode(_ op: Op) -> Int {
        switch op {
        case .conv: 1
        case .batchNormalization: 2
        case .relu: 3
        case .clip: 4
        case .add: 5
        case .sub: 6
        case .mul: 7
        case .div: 8
        case .sum: 9
        case .globalAveragePool: 10
        case .reduceMean: 11
        case .maxPool: 12
        case .averagePool: 13
        case .gemm: 14
        case .matMul: 15
        case .flatten: 16
        case .reshape: 17
        case .squeeze: 18
        case .unsqueeze: 19
        case .transpose: 20
        case .concat: 21
        case .sigmoid: 22
        case .softmax: 23
        case .pad(_, _, .constant): 24
        case .pad(_, _, .reflect): 34
        case .pad(_, _, .edge): 35
        case .identity: 25
        case .dropout: 26
        case .hardSigmoid: 27
        case .hardSwish: 28
        case .slice: 29
        case .split: 30
        case .layerNormalization: 31
        case .erf: 32
        case .gelu: 33
        }
    }

    private static func autoPadCode(_ p: AutoPad) -> Int {
        switch p {
        case .notSet: 1
        case .sameUpper: 2
        case .sameLower: 3
        case .valid: 4
        }
    }

    private static func autoPad(_ code: Int, node: String) throws(FormatError) -> AutoPad {
        switch code {
        case 1: .notSet
        case 2: .sameUpper
        case 3: .sameLower
        case 4: .valid
        default: throw .invalidEnum(field: "auto_pad of node '\(node)'", value: code)
        }
    }

    static func code(_ f: IndexFormat) -> Int {
        switch f {
        case .u8: 1
        case .u16: 2
        case .u32: 3
        case .deltaU8: 4
        case .deltaU16: 5
        case .deltaU32: 6
        }
    }

    private static func indexFormat(_ code: Int, field: String) throws(FormatError) -> IndexFormat? {
        switch code {
        case 0: nil
        case 1: .u8
        case 2: .u16
        case 3: .u32
        case 4: .deltaU8
        case 5: .deltaU16
        case 6: .deltaU32
        default: throw .invalidEnum(field: field, value: code)
        }
    }

    // MARK: - Unpacking

    /// The manifest of a file of major version `major` (binary16 parts exist from 2 on).
    static func decode(_ bytes: UnsafeRawBufferPointer, major: Int) throws(FormatError) -> ManifestContents {
        var dummy: UInt8 = 0
        let unpacked: UnsafeMutablePointer<Spruce__Manifest>? = withUnsafeMutablePointer(to: &dummy) { fallback in
            let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(fallback)
            return spruce__manifest__unpack(nil, bytes.count, base)
        }
        guard let m = unpacked else { throw .manifestMalformed(length: bytes.count) }
        defer { spruce__manifest__free_unpacked(m, nil) }
        return try decodeManifest(m.pointee, major: major)
    }

    private static func string(_ p: UnsafeMutablePointer<CChar>?, field: @autoclosure () -> String) throws(FormatError) -> String {
        guard let p else { return "" }
        guard let s = String(validatingCString: p) else { throw .invalidString(field: field()) }
        return s
    }

    private static func list<T>(_ p: UnsafeMutablePointer<T>?, _ n: Int) -> UnsafeBufferPointer<T> {
        guard let p, n > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: p, count: n)
    }

    private static func ints(_ p: UnsafeMutablePointer<Int64>?, _ n: Int) -> [Int] {
        list(p, n).map { Int($0) }
    }

    private static func decodeManifest(_ m: Spruce__Manifest, major: Int) throws(FormatError) -> ManifestContents {
        var c = ManifestContents()
        c.producer = try string(m.producer, field: "producer")
        for e in list(m.metadata, m.n_metadata) {
            guard let e else { throw .manifestMalformed(length: 0) }
            let key = try string(e.pointee.key, field: "a metadata key")
            let value = try string(e.pointee.value, field: "metadata '\(key)'")
            c.metadata.append((key, value))
        }
        if let g = m.graph?.pointee {
            for n in list(g.nodes, g.n_nodes) {
                guard let n else { throw .manifestMalformed(length: 0) }
                c.nodes.append(try decodeNode(n.pointee))
            }
            for v in list(g.inputs, g.n_inputs) {
                guard let v else { throw .manifestMalformed(length: 0) }
                c.inputs.append(try decodeValueInfo(v.pointee))
            }
            for v in list(g.outputs, g.n_outputs) {
                guard let v else { throw .manifestMalformed(length: 0) }
                c.outputs.append(try decodeValueInfo(v.pointee))
            }
        }
        for t in list(m.tensors, m.n_tensors) {
            guard let t else { throw .manifestMalformed(length: 0) }
            c.tensors.append(try decodeTensor(t.pointee, major: major))
        }
        for (i, s) in list(m.sections, m.n_sections).enumerated() {
            guard let s = s?.pointee else { throw .manifestMalformed(length: 0) }
            let codec: SectionCodec
            switch Int(s.codec.rawValue) {
            case 1: codec = .raw
            case 2: codec = .zstd
            default: throw .invalidEnum(field: "codec of section \(i)", value: Int(s.codec.rawValue))
            }
            c.sections.append(SectionRecord(offset: s.offset, storedSize: s.stored_size, rawSize: s.raw_size,
                                            codec: codec, checksum: s.checksum))
        }
        return c
    }

    private static func decodeValueInfo(_ v: Spruce__ValueInfo) throws(FormatError) -> ValueInfo {
        let name = try string(v.name, field: "a graph input/output name")
        let dims = Array(list(v.shape, v.n_shape))
        var shape: [Int?] = []
        for d in dims {
            if d == -1 { shape.append(nil) } else if d >= 0 { shape.append(Int(d)) } else {
                throw .invalidShape(name: name, shape: dims)
            }
        }
        return ValueInfo(name: name, shape: shape)
    }

    private static func decodeTensor(_ t: Spruce__TensorInfo, major: Int) throws(FormatError) -> TensorRecord {
        let name = try string(t.name, field: "a tensor name")
        if name.isEmpty { throw .invalidString(field: "a tensor name") }
        guard let encoding = ManifestEncoding(rawValue: Int(t.encoding.rawValue)) else {
            throw .invalidEnum(field: "encoding of tensor '\(name)'", value: Int(t.encoding.rawValue))
        }
        let valueType: WeightValueType
        let half = major >= 2
        switch Int(t.value_type.rawValue) {
        case 1: valueType = .f32
        case 2: valueType = .int8
        case 3 where half: valueType = .f32
        case 4 where half: valueType = .int8
        default: throw .invalidEnum(field: "value type of tensor '\(name)'", value: Int(t.value_type.rawValue))
        }
        let packed = t.value_type.rawValue == 4
        guard packed ? (2...7).contains(t.value_bits) : t.value_bits == 0 else {
            throw .invalidTensorHeader(tensor: name, detail: packed ? "packed values of \(t.value_bits) bits; 2 to 7 are defined"
                                                                    : "value bits are set but the values are not packed")
        }
        let scaleType = Int(t.scale_type.rawValue)
        guard scaleType == 0 || (scaleType == 1 && half) else {
            throw .invalidEnum(field: "scale type of tensor '\(name)'", value: scaleType)
        }
        var parts: [TensorPart: UInt32] = [:]
        if let r = t.values { parts[.values] = r.pointee.index }
        if let r = t.scales { parts[.scales] = r.pointee.index }
        if let r = t.row_pointers { parts[.rowPointers] = r.pointee.index }
        if let r = t.column_indices { parts[.columnIndices] = r.pointee.index }
        if let r = t.mask { parts[.mask] = r.pointee.index }
        return TensorRecord(
            name: name, shape: Array(list(t.shape, t.n_shape)), encoding: encoding, valueType: valueType,
            storedValues: t.stored_values,
            rowPointerFormat: try indexFormat(Int(t.row_pointer_format.rawValue), field: "row pointer format of tensor '\(name)'"),
            columnIndexFormat: try indexFormat(Int(t.column_index_format.rawValue), field: "column index format of tensor '\(name)'"),
            parts: parts, halfValues: t.value_type.rawValue == 3, halfScales: scaleType == 1,
            valueBits: packed ? Int(t.value_bits) : 8)
    }

    private static func decodeNode(_ n: Spruce__Node) throws(FormatError) -> Node {
        let name = try string(n.name, field: "a node name")
        var inputs: [String] = []
        for s in list(n.inputs, n.n_inputs) { inputs.append(try string(s, field: "an input of node '\(name)'")) }
        var outputs: [String] = []
        for s in list(n.outputs, n.n_outputs) { outputs.append(try string(s, field: "an output of node '\(name)'")) }
        let opCode = Int(n.op.rawValue)
        let attributesCase = Int(n.attributes_case.rawValue)
        func mismatch(_ op: String, expected: String) -> FormatError {
            .attributeMismatch(node: name, op: op, detail: "expected \(expected), found attributes case \(attributesCase)")
        }
        // Each op reads only its own attributes message; any other case is R26.
        let op: Op
        switch opCode {
        case 1:
            guard attributesCase == 10, let a = n.conv?.pointee else { throw mismatch("Conv", expected: "conv") }
            let activation: FusedActivation
            switch Int(a.activation.rawValue) {
            case 1: activation = .none
            case 2: activation = .relu
            case 3: activation = .clip(min: a.activation_min, max: a.activation_max)
            default: throw .invalidEnum(field: "activation of node '\(name)'", value: Int(a.activation.rawValue))
            }
            op = .conv(ConvAttributes(
                kernelShape: ints(a.kernel_shape, a.n_kernel_shape), strides: ints(a.strides, a.n_strides),
                pads: ints(a.pads, a.n_pads), dilations: ints(a.dilations, a.n_dilations), groups: Int(a.groups),
                autoPad: try autoPad(Int(a.auto_pad.rawValue), node: name), activation: activation))
        case 12, 13:
            let opName = opCode == 12 ? "MaxPool" : "AveragePool"
            guard attributesCase == 11, let a = n.pool?.pointee else { throw mismatch(opName, expected: "pool") }
            let p = PoolAttributes(
                kernelShape: ints(a.kernel_shape, a.n_kernel_shape), strides: ints(a.strides, a.n_strides),
                pads: ints(a.pads, a.n_pads), dilations: ints(a.dilations, a.n_dilations),
                autoPad: try autoPad(Int(a.auto_pad.rawValue), node: name),
                countIncludePad: a.count_include_pad != 0, ceilMode: a.ceil_mode != 0)
            op = opCode == 12 ? .maxPool(p) : .averagePool(p)
        case 14:
            guard attributesCase == 12, let a = n.gemm?.pointee else { throw mismatch("Gemm", expected: "gemm") }
            op = .gemm(GemmAttributes(alpha: a.alpha, beta: a.beta, transA: a.trans_a != 0, transB: a.trans_b != 0))
        case 2:
            guard attributesCase == 13, let a = n.batch_normalization?.pointee else {
                throw mismatch("BatchNormalization", expected: "batch_normalization")
            }
            op = .batchNormalization(epsilon: a.epsilon)
        case 4:
            guard attributesCase == 14, let a = n.clip?.pointee else { throw mismatch("Clip", expected: "clip") }
            op = .clip(min: a.min, max: a.max)
        case 11:
            guard attributesCase == 15, let a = n.reduce_mean?.pointee else { throw mismatch("ReduceMean", expected: "reduce_mean") }
            op = .reduceMean(axes: ints(a.axes, a.n_axes), keepDims: a.keep_dims != 0)
        case 16, 21, 23:
            let opName = opCode == 16 ? "Flatten" : opCode == 21 ? "Concat" : "Softmax"
            guard attributesCase == 16, let a = n.axis?.pointee else { throw mismatch(opName, expected: "axis") }
            let axis = Int(a.axis)
            op = opCode == 16 ? .flatten(axis: axis) : opCode == 21 ? .concat(axis: axis) : .softmax(axis: axis)
        case 18:
            if attributesCase == 0 { op = .squeeze(axes: nil); break }
            guard attributesCase == 17, let a = n.axes?.pointee else { throw mismatch("Squeeze", expected: "axes or none") }
            op = .squeeze(axes: ints(a.axes, a.n_axes))
        case 19:
            guard attributesCase == 17, let a = n.axes?.pointee else { throw mismatch("Unsqueeze", expected: "axes") }
            op = .unsqueeze(axes: ints(a.axes, a.n_axes))
        case 17:
            guard attributesCase == 18, let a = n.reshape?.pointee else { throw mismatch("Reshape", expected: "reshape") }
            op = .reshape(shape: ints(a.shape, a.n_shape), allowZero: a.allow_zero != 0)
        case 20:
            if attributesCase == 0 { op = .transpose(perm: nil); break }
            guard attributesCase == 19, let a = n.transpose?.pointee else { throw mismatch("Transpose", expected: "transpose or none") }
            op = .transpose(perm: ints(a.perm, a.n_perm))
        case 24, 34, 35:
            guard attributesCase == 20, let a = n.pad?.pointee else { throw mismatch("Pad", expected: "pad") }
            let mode: PadMode = opCode == 34 ? .reflect : opCode == 35 ? .edge : .constant
            op = .pad(pads: ints(a.pads, a.n_pads), value: a.value, mode: mode)
        case 27:
            guard attributesCase == 21, let a = n.hard_sigmoid?.pointee else { throw mismatch("HardSigmoid", expected: "hard_sigmoid") }
            op = .hardSigmoid(alpha: a.alpha, beta: a.beta)
        case 29:
            guard attributesCase == 22, let a = n.slice?.pointee else { throw mismatch("Slice", expected: "slice") }
            op = .slice(starts: ints(a.starts, a.n_starts), ends: ints(a.ends, a.n_ends), axes: ints(a.axes, a.n_axes),
                        steps: ints(a.steps, a.n_steps))
        case 30:
            guard attributesCase == 23, let a = n.split?.pointee else { throw mismatch("Split", expected: "split") }
            op = .split(axis: Int(a.axis), sizes: ints(a.split, a.n_split))
        case 31:
            guard attributesCase == 24, let a = n.layer_normalization?.pointee else {
                throw mismatch("LayerNormalization", expected: "layer_normalization")
            }
            op = .layerNormalization(axis: Int(a.axis), epsilon: a.epsilon)
        case 33:
            guard attributesCase == 25, let a = n.gelu?.pointee else { throw mismatch("Gelu", expected: "gelu") }
            op = .gelu(tanhApproximation: a.tanh_approximation != 0)
        default:
            let plain: [Int: Op] = [3: .relu, 5: .add, 6: .sub, 7: .mul, 8: .div, 9: .sum, 10: .globalAveragePool,
                                    15: .matMul, 22: .sigmoid, 25: .identity, 26: .dropout, 28: .hardSwish,
                                    32: .erf]
            guard let plainOp = plain[opCode] else { throw .invalidEnum(field: "op type of node '\(name)'", value: opCode) }
            guard attributesCase == 0 else { throw mismatch(plainOp.onnxName, expected: "no attributes") }
            op = plainOp
        }
        return Node(name: name, op: op, inputs: inputs, outputs: outputs)
    }
}
