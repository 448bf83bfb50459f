// The execution plan: the graph's nodes turned once, at load time, into kernel calls with
// kernel-ready weights (packed, widened indices, re-laid masks), and every activation given an
// offset in one arena by lifetime, so running allocates nothing. Shapes are those of one sample
// (batch 1); the engine loops over the batch. It does not run anything itself (see Engine).
import SpruceCore
import SpruceFormat

/// A value in the arena: its size and the steps between which it must stay intact.
struct ArenaSlot: Sendable {
    var count: Int
    /// Step that writes it (-1: written before the first step).
    var firstDef: Int
    /// Last step that reads it (Int.max: kept to the end).
    var lastUse: Int
}

/// A graph input or output bound to an arena slot, with its one-sample shape.
struct PlanBinding: Sendable {
    var name: String
    var slot: Int
    var shape: [Int]
}

/// A compiled graph: steps, arena layout and bindings.
struct Plan: Sendable {
    var steps: [any PlanStep]
    var slots: [ArenaSlot]
    var offsets: [Int]
    var arenaCount: Int
    var workspaceBytes: Int
    /// Largest scratch the threads of one step share.
    var sharedWorkspaceBytes: Int
    var inputs: [PlanBinding]
    var outputs: [PlanBinding]
    /// Every input had a dynamic leading dim, planned as 1: the engine runs a batch sample by sample.
    var perSample: Bool
    /// Constant operands (non-weight initializers read as activations), copied into the arena once.
    var constants: [(slot: Int, data: [Float])]
}

extension Plan {
    /// Plans `graph` with weights `tensors` (as stored) for one sample.
    static func build(graph: Graph, tensors: [String: StoredTensor],
                      kernelChoice: KernelChoice = .automatic, threads: Int = 1) throws(RuntimeError) -> Plan {
        var builder = PlanBuilder(graph: graph, tensors: tensors, kernelChoice: kernelChoice, threads: threads)
        return try builder.build()
    }

    /// Gives every slot an arena offset: largest first, at the lowest offset that does not
    /// overlap any already placed slot whose lifetime intersects its own.
    static func assignOffsets(_ slots: [ArenaSlot]) -> (offsets: [Int], total: Int) {
        let align = 16  // floats: 64 bytes
        var offsets = [Int](repeating: 0, count: slots.count)
        var placed: [Int] = []
        var total = 0
        let order = slots.indices.sorted { slots[$0].count != slots[$1].count ? slots[$0].count > slots[$1].count : $0 < $1 }
        for s in order {
            let me = slots[s]
            let size = roundUp(max(me.count, 1), align)
            var conflicts: [(Int, Int)] = []
            for p in placed {
                let other = slots[p]
                if me.lastUse < other.firstDef || other.lastUse < me.firstDef { continue }
                conflicts.append((offsets[p], offsets[p] + roundUp(max(other.count, 1), align)))
            }
            conflicts.sort { $0.0 < $1.0 }
            var candidate = 0
            for (start, end) in conflicts {
                if candidate + size <= start { break }
                candidate = max(candidate, end)
            }
            offsets[s] = candidate
            total = max(total, candidate + size)
            placed.append(s)
        }
        return (offsets, total)
    }
}

/// Builds a `Plan` node by node.
struct PlanBuilder {
    let graph: Graph
    let tensors: [String: StoredTensor]
    var shapes: [String: [Int]] = [:]
    var slots: [ArenaSlot] = []
    var slotOf: [String: Int] = [:]
    var steps: [any PlanStep] = []
    var constants: [(slot: Int, data: [Float])] = []
    let kernelChoice: KernelChoice
    /// Threads the engine runs with (see `fusingResidualAdd`).
    let threads: Int
    /// Nodes reading each value, graph outputs counted as readers too.
    let readers: [String: Int]
    /// Every input has a dynamic leading dim: planned for one sample, run sample by sample.
    var perSample = false

    init(graph: Graph, tensors: [String: StoredTensor], kernelChoice: KernelChoice, threads: Int = 1) {
        self.graph = Self.fusingGelu(Self.foldingZeroPads(graph), tensors: tensors)
        self.tensors = tensors
        self.kernelChoice = kernelChoice
        self.threads = threads
        var readers: [String: Int] = [:]
        for node in self.graph.nodes {
            for name in node.inputs where !name.isEmpty { readers[name, default: 0] += 1 }
        }
        for info in self.graph.outputs { readers[info.name, default: 0] += 1 }
        self.readers = readers
    }

    mutating func build() throws(RuntimeError) -> Plan {
        // One-sample input shapes: a dynamic leading dim is the batch (1); others must be static.
        var inputShapes: [String: [Int]] = [:]
        var shapeGraph = graph
        var inputs: [PlanBinding] = []
        perSample = !graph.inputs.isEmpty && graph.inputs.allSatisfy { $0.shape.first.map { $0 == nil } ?? false }
        for info in graph.inputs {
            var shape: [Int] = []
            for (i, d) in info.shape.enumerated() {
                if let d { shape.append(d) } else if i == 0 { shape.append(1) } else {
                    throw .dynamicShape(input: info.name, shape: info.shape)
                }
            }
            inputShapes[info.name] = shape
        }
        // Stored tensors enter shape inference as inputs of their stored shape: no dense copies.
        for (name, t) in tensors.sorted(by: { $0.key < $1.key }) where inputShapes[name] == nil {
            shapeGraph.inputs.append(ValueInfo(name: name, shape: t.shape.map { Optional($0) }))
            inputShapes[name] = t.shape
        }
        do {
            shapes = try shapeGraph.inferShapes(inputShapes: inputShapes)
        } catch let e as GraphError {
            throw .graph(e)
        } catch {
            throw .graph(.badInput(name: "?", detail: "\(error)"))
        }
        for info in graph.inputs {
            let shape = inputShapes[info.name] ?? []
            let slot = newSlot(info.name, count: shape.elementCount, firstDef: -1)
            inputs.append(PlanBinding(name: info.name, slot: slot, shape: shape))
        }
        for node in graph.nodes { try plan(node) }
        var outputs: [PlanBinding] = []
        for info in graph.outputs {
            guard let slot = slotOf[info.name], let shape = shapes[info.name] else {
                throw .graph(.missingOutput(info.name))
            }
            slots[slot].lastUse = Int.max
            outputs.append(PlanBinding(name: info.name, slot: slot, shape: shape))
        }
        let (offsets, total) = Plan.assignOffsets(slots)
        let workspace = steps.reduce(64) { max($0, $1.workspaceBytes) }
        let shared = steps.reduce(64) { max($0, $1.sharedWorkspaceBytes) }
        return Plan(steps: steps, slots: slots, offsets: offsets, arenaCount: total, workspaceBytes: workspace,
                    sharedWorkspaceBytes: shared,
                    inputs: inputs, outputs: outputs, perSample: perSample, constants: constants)
    }

    /// The graph with every zero Pad of H and W that feeds only convolutions (Keras'
    /// ZeroPadding2D before a strided conv) merged into those convolutions' own pads, so the
    /// padded copy is never written; the phase planes pad for free.
    static func foldingZeroPads(_ graph: Graph) -> Graph {
        var consumers: [String: [Int]] = [:]
        for (i, node) in graph.nodes.enumerated() {
            for name in node.inputs where !name.isEmpty { consumers[name, default: []].append(i) }
        }
        let outputs = Set(graph.outputs.map(\.name))
        var g = graph
        var removed = Set<Int>()
        for (i, node) in graph.nodes.enumerated() {
            guard case .pad(let pads, let value, .constant) = node.op, value == 0, pads.count == 8,
                  pads[0] == 0, pads[1] == 0, pads[4] == 0, pads[5] == 0, pads.allSatisfy({ $0 >= 0 }),
                  let out = node.outputs.first, !outputs.contains(out), graph.initializers[node.inputs[0]] == nil,
                  let users = consumers[out], !users.isEmpty else { continue }
            let foldable = users.allSatisfy { u in
                guard case .conv(let a) = g.nodes[u].op, a.autoPad == .notSet, a.kernelShape.count == 2,
                      g.nodes[u].inputs.firstIndex(of: out) == 0, g.nodes[u].inputs.dropFirst().allSatisfy({ $0 != out })
                else { return false }
                return true
            }
            guard foldable else { continue }
            for u in users {
                guard case .conv(var a) = g.nodes[u].op else { continue }
                let p = a.pads.count == 4 ? a.pads : [0, 0, 0, 0]
                a.pads = [p[0] + pads[2], p[1] + pads[3], p[2] + pads[6], p[3] + pads[7]]
                g.nodes[u].op = .conv(a)
                g.nodes[u].inputs[0] = node.inputs[0]
            }
            removed.insert(i)
        }
        g.nodes = g.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return g
    }

    /// The exact GELU as torch.onnx writes it below opset 20, Div(x, √2) → Erf → Add 1 → Mul by x
    /// → Mul by ½, as one Gelu node: one pass over the tensor instead of five. Matched only where
    /// each intermediate value has that one reader and is no graph output, with the constants as
    /// torch writes them (√2 rounded to float, 1, ½), on either side of the commutative ops.
    static func fusingGelu(_ graph: Graph, tensors: [String: StoredTensor]) -> Graph {
        var readers: [String: [Int]] = [:]
        for (i, node) in graph.nodes.enumerated() {
            for name in Set(node.inputs) where !name.isEmpty { readers[name, default: []].append(i) }
        }
        let outputs = Set(graph.outputs.map(\.name))
        func scalar(_ name: String) -> Float? {
            guard let t = tensors[name], t.shape.elementCount == 1 else { return nil }
            return t.denseTensor().data.first
        }
        /// The node that alone reads the single output of `node`, if it has the op `op`.
        func soleReader(of node: Node, _ op: (Op) -> Bool) -> (index: Int, node: Node)? {
            guard node.outputs.count == 1, let value = node.outputs.first, !outputs.contains(value),
                  let r = readers[value], r.count == 1, op(graph.nodes[r[0]].op) else { return nil }
            return (r[0], graph.nodes[r[0]])
        }
        /// The other operand of a two-input node that reads `value` once.
        func other(_ node: Node, _ value: String) -> String? {
            guard node.inputs.count == 2, node.inputs[0] != node.inputs[1] else { return nil }
            return node.inputs[0] == value ? node.inputs[1] : node.inputs[1] == value ? node.inputs[0] : nil
        }
        var g = graph
        var removed = Set<Int>()
        for (i, div) in graph.nodes.enumerated() {
            guard case .div = div.op, div.inputs.count == 2, let root2 = scalar(div.inputs[1]), root2 == Float(2.0.squareRoot()),
                  let erf = soleReader(of: div, { $0 == .erf }),
                  let addOne = soleReader(of: erf.node, { $0 == .add }),
                  let one = other(addOne.node, erf.node.outputs[0]), scalar(one) == 1,
                  let timesX = soleReader(of: addOne.node, { $0 == .mul }),
                  other(timesX.node, addOne.node.outputs[0]) == div.inputs[0],
                  let half = soleReader(of: timesX.node, { $0 == .mul }),
                  let halfName = other(half.node, timesX.node.outputs[0]), scalar(halfName) == 0.5 else { continue }
            g.nodes[half.index] = Node(name: half.node.name, op: .gelu(tanhApproximation: false), inputs: [div.inputs[0]],
                                       outputs: half.node.outputs)
            removed.formUnion([i, erf.index, addOne.index, timesX.index])
        }
        g.nodes = g.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return g
    }

    // MARK: - Slots

    mutating func newSlot(_ name: String, count: Int, firstDef: Int) -> Int {
        slots.append(ArenaSlot(count: count, firstDef: firstDef, lastUse: firstDef))
        slotOf[name] = slots.count - 1
        return slots.count - 1
    }

    /// The slot of a value the current step reads; constant tensors get a resident slot.
    mutating func read(_ name: String, node: Node) throws(RuntimeError) -> Int {
        if let s = slotOf[name] {
            slots[s].lastUse = max(slots[s].lastUse, steps.count)
            return s
        }
        guard let t = tensors[name] else { throw .missingWeight(node: node.name, tensor: name) }
        let data = t.denseTensor().data
        let s = newSlot(name, count: data.count, firstDef: -1)
        slots[s].lastUse = Int.max
        constants.append((s, data))
        return s
    }

    /// A fresh slot for a value the current step writes.
    mutating func write(_ name: String) -> Int {
        newSlot(name, count: (shapes[name] ?? []).elementCount, firstDef: steps.count)
    }

    /// `output` shares `input`'s slot (layout-only operators on one contiguous sample).
    mutating func alias(_ output: String, to input: String, node: Node) throws(RuntimeError) {
        let s = try read(input, node: node)
        slotOf[output] = s
    }

    func shape(_ name: String, _ node: Node) throws(RuntimeError) -> [Int] {
        guard let s = shapes[name] else { throw .graph(.undefinedValue(node: node.name, value: name)) }
        return s
    }

    func unsupported(_ node: Node, _ detail: String) -> RuntimeError {
        .unsupportedOperator(node: node.name, op: node.op.onnxName, detail: detail)
    }

    // MARK: - Nodes

    mutating func plan(_ node: Node) throws(RuntimeError) {
        let out = node.outputs.first ?? ""
        switch node.op {
        case .conv(let a):
            try planConv(node, a)
        case .gemm(let a):
            try planGemm(node, transA: a.transA, transB: a.transB, alpha: a.alpha, beta: a.beta)
        case .matMul:
            try planGemm(node, transA: false, transB: false, alpha: 1, beta: 1)
        case .relu, .clip:
            let bounds = if case .clip(let lo, let hi) = node.op { ActivationBounds(lower: lo, upper: hi) }
                else { ActivationBounds(lower: 0, upper: .infinity) }
            if fusingResidualClamp(node, bounds: bounds) { break }
            // A BatchNormalization lowering could not fold (ResNet v2's pre-activation after an Add)
            // whose only reader is this activation: clamp in the affine step, one pass instead of two.
            if let affine = steps.last as? ChannelAffineStep, affine.bounds == .identity,
               readers[node.inputs[0]] == 1, let slot = slotOf[node.inputs[0]], slot == affine.output {
                var fused = affine
                fused.bounds = bounds
                steps[steps.count - 1] = fused
                slotOf[out] = slot
                break
            }
            let x = try read(node.inputs[0], node: node)
            steps.append(ClipStep(node: node.name, count: try shape(out, node).elementCount, bounds: bounds,
                                  input: x, output: write(out)))
        case .sigmoid:
            let x = try read(node.inputs[0], node: node)
            steps.append(SpecialFunctionStep(node: node.name, function: .sigmoid, count: try shape(out, node).elementCount,
                                             input: x, output: write(out)))
        case .hardSigmoid, .hardSwish:
            if case .hardSwish = node.op, let x = node.inputs.first, fusingActivation(.hardSwish, of: x, into: out) { break }
            let x = try read(node.inputs[0], node: node)
            let parameters: (alpha: Float, beta: Float)? = if case .hardSigmoid(let a, let b) = node.op { (a, b) } else { nil }
            steps.append(HardActivationStep(node: node.name, count: try shape(out, node).elementCount,
                                            hardSigmoid: parameters, input: x, output: write(out)))
        case .erf, .gelu:
            let x = try read(node.inputs[0], node: node)
            let function: SpecialFunctionStep.Function = switch node.op {
            case .gelu(let tanhApproximation): tanhApproximation ? .geluTanh : .gelu
            default: .erf
            }
            steps.append(SpecialFunctionStep(node: node.name, function: function, count: try shape(out, node).elementCount,
                                             input: x, output: write(out)))
        case .layerNormalization(let axis, let epsilon):
            try planLayerNorm(node, axis: axis, epsilon: epsilon)
        case .softmax(let axis):
            let s = try shape(out, node)
            let a = axis < 0 ? axis + s.count : axis
            guard a >= 0 && a < s.count else { throw unsupported(node, "axis \(axis) for shape \(s)") }
            let x = try read(node.inputs[0], node: node)
            steps.append(SoftmaxStep(node: node.name, outer: Array(s[..<a]).elementCount, axis: s[a],
                                     inner: Array(s[(a + 1)...]).elementCount, input: x, output: write(out)))
        case .add, .sub, .mul, .div:
            if try fusingSwish(node) { break }
            if try fusingResidualAdd(node) { break }
            if try fusingLinearBias(node) { break }
            try planBinary(node, node.inputs[0], node.inputs[1], into: out)
        case .sum:
            let operands = node.inputs.filter { !$0.isEmpty }
            if operands.count == 1 {
                try alias(out, to: operands[0], node: node)
            } else {
                try planBinary(node, operands[0], operands[1], into: out)
                for extra in operands.dropFirst(2) { try planBinary(node, out, extra, into: out) }
            }
        case .globalAveragePool:
            let s = try shape(node.inputs[0], node)
            guard s.count >= 3 else { throw unsupported(node, "input \(s)") }
            if fusingChannelMeans(node) { break }
            let x = try read(node.inputs[0], node: node)
            steps.append(GAPStep(node: node.name, channels: s[0] * s[1], plane: Array(s[2...]).elementCount,
                                 input: x, output: write(out)))
        case .reduceMean(let axes, _):
            let s = try shape(node.inputs[0], node)
            let set = Set(axes.isEmpty ? Array(0..<s.count) : axes.map { $0 < 0 ? $0 + s.count : $0 })
            if s.count == 4 && s[0] == 1 && set == [2, 3], fusingChannelMeans(node) { break }
            let x = try read(node.inputs[0], node: node)
            if s.count == 4 && s[0] == 1 && set == [2, 3] {
                steps.append(GAPStep(node: node.name, channels: s[1], plane: s[2] * s[3], input: x, output: write(out)))
            } else {
                steps.append(ReduceMeanStep(node: node.name, shape: s, reduced: (0..<s.count).map { set.contains($0) },
                                            input: x, output: write(out)))
            }
        case .maxPool(let a), .averagePool(let a):
            try planPool(node, a)
        case .flatten, .reshape, .squeeze, .unsqueeze, .identity, .dropout:
            try alias(out, to: node.inputs[0], node: node)
        case .transpose(let perm):
            let s = try shape(node.inputs[0], node)
            let p = perm ?? Array((0..<s.count).reversed())
            let x = try read(node.inputs[0], node: node)
            steps.append(TransposeStep(node: node.name, shape: s, perm: p, input: x, output: write(out)))
        case .concat(let axis):
            let s = try shape(out, node)
            let a = axis < 0 ? axis + s.count : axis
            guard a >= 0 && a < s.count else { throw unsupported(node, "axis \(axis) for shape \(s)") }
            var parts: [(slot: Int, chunk: Int)] = []
            for name in node.inputs where !name.isEmpty {
                let inShape = try shape(name, node)
                parts.append((try read(name, node: node), Array(inShape[a...]).elementCount))
            }
            steps.append(ConcatStep(node: node.name, outer: Array(s[..<a]).elementCount, parts: parts, output: write(out)))
        case .pad(let pads, let value, .constant):
            guard pads.allSatisfy({ $0 >= 0 }) else { throw unsupported(node, "negative pads \(pads)") }
            let s = try shape(node.inputs[0], node)
            let x = try read(node.inputs[0], node: node)
            steps.append(PadStep(node: node.name, shape: s, pads: pads, value: value, input: x, output: write(out)))
        case .pad(let pads, _, let mode):
            let s = try shape(node.inputs[0], node)
            if perSample, !s.isEmpty, pads[0] != 0 || pads[s.count] != 0 {
                throw unsupported(node, "pads the dynamic batch axis, which the engine runs sample by sample")
            }
            let g: PadGeometry
            do { g = try Graph.padGeometry(node, pads: pads, mode: mode, input: s) } catch {
                throw .graph(error as? GraphError ?? .badInput(name: node.inputs[0], detail: "\(error)"))
            }
            let x = try read(node.inputs[0], node: node)
            steps.append(BorderPadStep(node: node.name, mode: mode, layout: F32PadLayout(g), input: x, output: write(out)))
        case .batchNormalization(let epsilon):
            try planBatchNorm(node, epsilon: epsilon)
        case .slice(let starts, let ends, let axes, let strides):
            let s = try shape(node.inputs[0], node)
            let g: SliceGeometry
            do { g = try Graph.sliceGeometry(node, starts: starts, ends: ends, axes: axes, steps: strides, input: s) } catch {
                throw .graph(error as? GraphError ?? .badInput(name: node.inputs[0], detail: "\(error)"))
            }
            if perSample, let k = axes.firstIndex(where: { Graph.normalizedAxis($0, rank: s.count) == 0 }),
               !(starts[k] == 0 && strides[k] == 1 && ends[k] >= Int(Int32.max)) {
                throw unsupported(node, "slices the dynamic batch axis, which the engine runs sample by sample")
            }
            if g.output == s && g.steps.allSatisfy({ $0 == 1 }) {
                try alias(out, to: node.inputs[0], node: node)
                break
            }
            let x = try read(node.inputs[0], node: node)
            steps.append(SliceStep(node: node.name, layout: F32SliceLayout(g), input: x, output: write(out)))
        case .split(let axis, let sizes):
            let s = try shape(node.inputs[0], node)
            let pieces: [SliceGeometry]
            do { pieces = try Graph.splitGeometries(node, axis: axis, sizes: sizes, input: s) } catch {
                throw .graph(error as? GraphError ?? .badInput(name: node.inputs[0], detail: "\(error)"))
            }
            if perSample, Graph.normalizedAxis(axis, rank: s.count) == 0 {
                throw unsupported(node, "splits the dynamic batch axis, which the engine runs sample by sample")
            }
            // One crop per output: each piece is read once, straight into its own slot.
            for (name, g) in zip(node.outputs, pieces) {
                let x = try read(node.inputs[0], node: node)
                steps.append(SliceStep(node: node.name, layout: F32SliceLayout(g), input: x, output: write(name)))
            }
        }
    }

    /// An Add of two same-shape values, one written by the step just planned (a convolution that
    /// nothing else reads and that one thread runs whole): that step adds the other operand to its
    /// output, which saves a pass over the tensor and a step. Same bits: a + b == b + a. A
    /// convolution the pool splits keeps its Add as a step of its own: fused into split
    /// convolutions, ResNet50 v2 90 % int8 on 2 threads measured 1.14× the time (paired runs),
    /// though it gained 3 % on 1 thread.
    mutating func fusingResidualAdd(_ node: Node) throws(RuntimeError) -> Bool {
        guard case .add = node.op, node.inputs.count == 2, let out = node.outputs.first, let last = steps.last,
              !(threads > 1 && last.isSplitAcrossThreads) else {
            return false
        }
        let outShape = try shape(out, node)
        for (convOut, other) in [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] {
            guard readers[convOut] == 1, let slot = slotOf[convOut], let otherSlot = slotOf[other], otherSlot != slot,
                  try shape(convOut, node) == outShape, try shape(other, node) == outShape else { continue }
            // A fused activation comes before this Add in the graph; the step would apply it after.
            if var step = last as? SparseConvStep, step.output == slot, step.residual == nil, step.activation == nil {
                step.residual = try read(other, node: node)
                steps[steps.count - 1] = step
            } else if var step = last as? ConvDenseStep, step.output == slot, step.residual == nil, step.activation == nil {
                step.residual = try read(other, node: node)
                steps[steps.count - 1] = step
            } else {
                continue
            }
            slotOf[out] = slot
            return true
        }
        return false
    }

    /// A GlobalAveragePool of the output of the depthwise step just planned (squeeze-and-excitation
    /// in MobileNet v3 and EfficientNet): the step averages each chunk of channels as it finishes
    /// it, while it is in cache, into the pool's output, which is then written during that step.
    mutating func fusingChannelMeans(_ node: Node) -> Bool {
        guard let x = node.inputs.first, let out = node.outputs.first, let slot = slotOf[x],
              var step = steps.last as? DWConvStep, step.output == slot, step.channelMeans == nil else { return false }
        let means = write(out)
        slots[means].firstDef = steps.count - 1
        step.channelMeans = means
        steps[steps.count - 1] = step
        return true
    }

    /// A ReLU or Clip of the Add just fused into the conv step before it (ResNet v1's conv → BN →
    /// Add → ReLU), which nothing else reads: the step clamps the sum as it adds it.
    mutating func fusingResidualClamp(_ node: Node, bounds: ActivationBounds) -> Bool {
        guard let x = node.inputs.first, let out = node.outputs.first, readers[x] == 1, let slot = slotOf[x] else { return false }
        if var step = steps.last as? ConvDenseStep, step.output == slot, step.residual != nil, step.residualBounds == .identity {
            step.residualBounds = bounds
            steps[steps.count - 1] = step
        } else if var step = steps.last as? SparseConvStep, step.output == slot, step.residual != nil,
                  step.residualBounds == .identity {
            step.residualBounds = bounds
            steps[steps.count - 1] = step
        } else {
            return false
        }
        slotOf[out] = slot
        return true
    }

    /// An activation of the output of the conv step `stepsBack` steps from the end, which only it
    /// reads (`readers` nodes: MobileNet v3's conv → BN → HardSwish, EfficientNet's conv → BN →
    /// Sigmoid and Mul once BN is folded): the conv step applies it in place to each part of its
    /// output as it finishes it, while that part is still in cache, and `out` takes its slot.
    mutating func fusingActivation(_ activation: OutputActivation, of x: String, into out: String,
                                   readers count: Int = 1, stepsBack: Int = 1) -> Bool {
        guard readers[x] == count, let slot = slotOf[x], steps.count >= stepsBack else { return false }
        let index = steps.count - stepsBack
        if var step = steps[index] as? ConvDenseStep, step.output == slot, step.residual == nil, step.activation == nil {
            step.activation = activation
            steps[index] = step
        } else if var step = steps[index] as? SparseConvStep, step.output == slot, step.residual == nil, step.activation == nil {
            step.activation = activation
            steps[index] = step
        } else if var step = steps[index] as? DWConvStep, step.output == slot, step.activation == nil {
            step.activation = activation
            steps[index] = step
        } else {
            return false
        }
        slotOf[out] = slot
        return true
    }

    /// Mul(x, Sigmoid(x)) right after that Sigmoid, which nothing else reads (Swish as torch and
    /// tf2onnx write it): the Sigmoid step computes x · σ(x) into its own output instead.
    mutating func fusingSwish(_ node: Node) throws(RuntimeError) -> Bool {
        guard case .mul = node.op, node.inputs.count == 2, var sigmoid = steps.last as? SpecialFunctionStep,
              sigmoid.function == .sigmoid, let out = node.outputs.first else { return false }
        for (s, x) in [(node.inputs[1], node.inputs[0]), (node.inputs[0], node.inputs[1])]
        where readers[s] == 1 && slotOf[s] == sigmoid.output && slotOf[x] == sigmoid.input && s != x {
            guard try shape(out, node) == shape(s, node) else { return false }
            // x is read by the Sigmoid and this Mul only: the conv step that wrote it applies the
            // Swish, and the Sigmoid step goes (its slot is left empty).
            if steps.count >= 2, fusingActivation(.swish, of: x, into: out, readers: 2, stepsBack: 2) {
                steps.removeLast()
                slots[sigmoid.output].count = 0
                return true
            }
            sigmoid.function = .swish
            steps[steps.count - 1] = sigmoid
            slotOf[out] = sigmoid.output
            return true
        }
        return false
    }

    /// An Add of a constant bias vector [N] (or [1, …, 1, N]) to the output of the step just planned,
    /// a Gemm or MatMul with no bias of its own that nothing else reads: the Linear layer PyTorch
    /// and Keras export as MatMul + Add. The bias becomes the step's, which starts its sums from it.
    mutating func fusingLinearBias(_ node: Node) throws(RuntimeError) -> Bool {
        guard case .add = node.op, node.inputs.count == 2, let out = node.outputs.first, let last = steps.last else {
            return false
        }
        for (product, constant) in [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] {
            guard readers[product] == 1, let slot = slotOf[product], let t = tensors[constant],
                  let n = try shape(product, node).last, try shape(out, node) == shape(product, node),
                  t.shape.last == n, t.shape.dropLast().allSatisfy({ $0 == 1 }) else { continue }
            let bias = t.denseTensor().data
            if var step = last as? VecMatStep, step.output == slot, step.bias == nil {
                step.bias = bias
                steps[steps.count - 1] = step
            } else if var step = last as? DenseGemmStep, step.output == slot, step.bias == nil {
                step.bias = bias
                steps[steps.count - 1] = step
            } else if var step = last as? RowGemmStep, step.output == slot, step.bias == nil {
                step.bias = bias
                steps[steps.count - 1] = step
            } else if var step = last as? SparseGemmStep, step.output == slot, step.bias == nil {
                step.bias = bias
                steps[steps.count - 1] = step
            } else {
                continue
            }
            slotOf[out] = slot
            return true
        }
        return false
    }

    mutating func planBinary(_ node: Node, _ aName: String, _ bName: String, into out: String) throws(RuntimeError) {
        let sa = try shape(aName, node), sb = try shape(bName, node), so = try shape(out, node)
        func strides(_ s: [Int]) -> [Int] {
            let full = s.rowMajorStrides
            let lead = so.count - s.count
            return (0..<so.count).map { i in
                let j = i - lead
                return j < 0 || s[j] == 1 ? 0 : full[j]
            }
        }
        let a = try read(aName, node: node), b = try read(bName, node: node)
        let op: BinaryStep.Operation = switch node.op {
        case .sub: .sub
        case .mul: .mul
        case .div: .div
        default: .add
        }
        // `out` may already exist (n-ary Sum accumulating in place): reuse its slot.
        let y = slotOf[out].map { s in slots[s].lastUse = max(slots[s].lastUse, steps.count); return s } ?? write(out)
        var step = BinaryStep(node: node.name, operation: op, shape: so, aStrides: strides(sa), bStrides: strides(sb),
                              a: a, b: b, output: y)
        step.fastPath = step.classify()
        steps.append(step)
    }

    mutating func planBatchNorm(_ node: Node, epsilon: Float) throws(RuntimeError) {
        let s = try shape(node.inputs[0], node)
        guard s.count >= 2 else { throw unsupported(node, "input \(s)") }
        var params: [[Float]] = []
        for name in node.inputs[1...4] {
            guard let t = tensors[name] else { throw .missingWeight(node: node.name, tensor: name) }
            let data = t.denseTensor().data
            guard data.count == s[1] else { throw .weightMismatch(node: node.name, tensor: name, detail: "\(data.count) values for \(s[1]) channels") }
            params.append(data)
        }
        var scale = [Float](repeating: 0, count: s[1]), shift = scale
        for c in 0..<s[1] {
            scale[c] = params[0][c] / (params[3][c] + epsilon).squareRoot()
            shift[c] = params[1][c] - params[2][c] * scale[c]
        }
        let x = try read(node.inputs[0], node: node)
        steps.append(ChannelAffineStep(node: node.name, channels: s[1], plane: Array(s[2...]).elementCount,
                                       scale: scale, shift: shift, input: x, output: write(node.outputs[0]), batch: s[0]))
    }

    /// LayerNormalization with constant scale and bias: rows of the one-sample shape.
    mutating func planLayerNorm(_ node: Node, axis: Int, epsilon: Float) throws(RuntimeError) {
        let s = try shape(node.inputs[0], node)
        guard let a = Graph.normalizedAxis(axis, rank: s.count) else { throw unsupported(node, "axis \(axis) for shape \(s)") }
        if perSample && a == 0 {
            throw unsupported(node, "normalizes over the dynamic batch axis, which the engine runs sample by sample")
        }
        let width = Array(s[a...]).elementCount
        func parameter(_ i: Int) throws(RuntimeError) -> [Float] {
            let name = node.inputs[i]
            guard let t = tensors[name] else { throw unsupported(node, "\(i == 1 ? "scale" : "bias") '\(name)' is not a constant") }
            let data = t.denseTensor().data
            guard data.count == width else {
                throw .weightMismatch(node: node.name, tensor: name, detail: "\(data.count) values for rows of \(width)")
            }
            return data
        }
        let scale = try parameter(1)
        let bias = node.inputs.count > 2 && !node.inputs[2].isEmpty ? try parameter(2) : [Float](repeating: 0, count: width)
        let x = try read(node.inputs[0], node: node)
        steps.append(LayerNormStep(node: node.name, rows: Array(s[..<a]).elementCount, width: width, epsilon: epsilon,
                                   scale: scale + [0], bias: bias + [0], input: x, output: write(node.outputs[0])))
    }

    mutating func planPool(_ node: Node, _ a: PoolAttributes) throws(RuntimeError) {
        let s = try shape(node.inputs[0], node), o = try shape(node.outputs[0], node)
        guard s.count == 4, o.count == 4, a.kernelShape.count == 2 else {
            throw unsupported(node, "only 2-D NCHW pooling; input \(s)")
        }
        let pads = resolvePads(input: [s[2], s[3]], kernel: a.kernelShape, strides: a.strides,
                               dilations: a.dilations, pads: a.pads, autoPad: a.autoPad)
        // Pooling treats every (sample, channel) plane alike: N·C planes.
        let g = PoolGeometry(channels: s[0] * s[1], inHeight: s[2], inWidth: s[3], outHeight: o[2], outWidth: o[3],
                             kernelHeight: a.kernelShape[0], kernelWidth: a.kernelShape[1],
                             strideHeight: a.strides[0], strideWidth: a.strides[1], pads: pads,
                             dilationHeight: a.dilations[0], dilationWidth: a.dilations[1])
        let isAverage = if case .averagePool = node.op { true } else { false }
        if isAverage && a.dilations != [1, 1] { throw unsupported(node, "dilated average pooling") }
        let x = try read(node.inputs[0], node: node)
        steps.append(PoolStep(node: node.name, geometry: g, averageIncludingPad: isAverage ? a.countIncludePad : nil,
                              input: x, output: write(node.outputs[0])))
    }
}

/// Pads [top, left, bottom, right] after applying auto_pad (as ONNX defines SAME_UPPER/LOWER/VALID).
func resolvePads(input: [Int], kernel: [Int], strides: [Int], dilations: [Int], pads: [Int],
                 autoPad: AutoPad) -> [Int] {
    switch autoPad {
    case .notSet: return pads.count == 4 ? pads : [0, 0, 0, 0]
    case .valid: return [0, 0, 0, 0]
    case .sameUpper, .sameLower:
        var resolved = [0, 0, 0, 0]
        for axis in 0..<2 {
            let extent = (kernel[axis] - 1) * dilations[axis] + 1
            let o = (input[axis] + strides[axis] - 1) / strides[axis]
            let total = max(0, (o - 1) * strides[axis] + extent - input[axis])
            let small = total / 2, large = total - small
            resolved[axis] = autoPad == .sameUpper ? small : large
            resolved[axis + 2] = autoPad == .sameUpper ? large : small
        }
        return resolved
    }
}
