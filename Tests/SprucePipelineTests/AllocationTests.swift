// Allocation strategies and masks: uniform per-layer sparsity within 0.5 % of the target, global
// threshold with a minimum density, sensitivity allocation hitting the overall target and favouring
// insensitive layers, exclusions, and whole-block zeros for 1×4 / 4×1.
import Testing
import SpruceCore
@testable import SprucePipeline

@Suite struct AllocationTests {
    @Test("uniform: every pruned layer within 0.5 % of the target, excluded layers untouched", arguments: [0.25, 0.5, 0.75, 0.9])
    func uniform(target: Double) throws {
        let model = try tinyMobileNet()
        let allocator = PruningAllocator(options: PruningOptions())
        let perLayer = try allocator.allocate(target: target, graph: model.graph)
        let pruned = model.graph.applyingMasks(allocator.masks(for: model.graph, sparsities: perLayer))
        for layer in model.graph.prunableLayers() {
            let t = try #require(pruned.initializers[layer.tensor])
            let sparsity = 1 - Double(StageReport.nonzeros(t.data)) / Double(t.count)
            if layer.roles.isEmpty {
                #expect(abs(sparsity - target) <= 0.005, "\(layer.tensor): \(sparsity)")
            } else {
                #expect(t == model.graph.initializers[layer.tensor], "\(layer.tensor) is excluded")
            }
        }
    }

    @Test("global: one threshold, total exact, every layer keeps its minimum density")
    func global() throws {
        let model = try tinyMobileNet()
        let options = PruningOptions(allocation: .global(minimumDensity: 0.05))
        let allocator = PruningAllocator(options: options)
        let perLayer = try allocator.allocate(target: 0.9, graph: model.graph)
        let layers = options.participating(in: model.graph)
        let total = layers.reduce(0) { $0 + $1.elements }
        let zeros = layers.reduce(0.0) { $0 + (perLayer[$1.tensor] ?? 0) * Double($1.elements) }
        #expect(abs(zeros / Double(total) - 0.9) < 0.001)
        for layer in layers { #expect((perLayer[layer.tensor] ?? 0) <= 0.95 + 1e-9) }
        // Layers differ: a shared threshold is not a uniform split.
        #expect(Set(perLayer.values.map { ($0 * 100).rounded() }).count > 1)
    }

    @Test("sensitivity: hits the overall target and prunes the insensitive layer harder")
    func sensitivity() throws {
        let model = try tinyMobileNet()
        let options = PruningOptions(allocation: .sensitivity(sparsities: [0.5, 0.75, 0.9]))
        let layers = options.participating(in: model.graph)
        let fragile = layers[layers.count / 2].tensor
        // A synthetic evaluator: the metric falls with the fragile layer's zeros ten times faster.
        let table = try SensitivityTable.measure(graph: model.graph, layers: layers, sparsities: [0.5, 0.75, 0.9], block: .single,
                                                 evaluate: { g in
            var loss = 0.0
            for l in layers {
                let t = g.initializers[l.tensor]!
                let s = 1 - Double(StageReport.nonzeros(t.data)) / Double(t.count)
                loss += (l.tensor == fragile ? 0.1 : 0.01) * s
            }
            return 1 - loss
        })
        let perLayer = try PruningAllocator(options: options).allocate(target: 0.8, graph: model.graph, sensitivity: table)
        let total = layers.reduce(0) { $0 + $1.elements }
        let mean = layers.reduce(0.0) { $0 + (perLayer[$1.tensor] ?? 0) * Double($1.elements) } / Double(total)
        #expect(abs(mean - 0.8) < 0.001)
        let others = layers.filter { $0.tensor != fragile }.compactMap { perLayer[$0.tensor] }
        #expect(perLayer[fragile]! < others.min()!)
    }

    @Test("blocks: 1×4 and 4×1 zero whole blocks", arguments: [PruningBlock.row4, .column4])
    func blocks(block: PruningBlock) {
        var rng = SplitMix64(state: 3)
        let rows = 16, columns = 32
        let w = (0..<(rows * columns)).map { _ in rng.float() }
        let mask = MagnitudeMask.mask(w, rows: rows, columns: columns, sparsity: 0.75, block: block)
        #expect(mask.filter { !$0 }.count == rows * columns * 3 / 4)
        let (bh, bw) = block.size
        for br in 0..<(rows / bh) {
            for bc in 0..<(columns / bw) {
                let cells = (0..<bh).flatMap { r in (0..<bw).map { c in mask[(br * bh + r) * columns + bc * bw + c] } }
                #expect(Set(cells).count == 1, "block (\(br), \(bc)) is partly pruned")
            }
        }
    }

    @Test("single weights: exactly round(n·s) of the smallest magnitudes go")
    func smallestGo() {
        let w: [Float] = [0.5, -0.1, 0.3, -0.7, 0.05, 0.2]
        let mask = MagnitudeMask.mask(w, rows: 2, columns: 3, sparsity: 0.5)
        #expect(mask == [true, false, true, true, false, false])
    }

    @Test("a target above the per-layer cap is unreachable")
    func unreachable() throws {
        let model = try tinyMobileNet()
        #expect(throws: PruningError.self) { try PruningAllocator(options: PruningOptions()).allocate(target: 0.99, graph: model.graph) }
    }
}
