// Model → artifact → Model round trips: exact for float32 at any sparsity, within scale/2
// for int8; every Op case survives the manifest; the writer picks encodings by cost.

import SpruceCore
@testable import SpruceFormat
import Testing

@Suite struct RoundTripTests {
    @Test func crc32cCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        // The sliced path (≥ 8 bytes) agrees with a bytewise reference.
        var rng = SplitMix64(seed: 5)
        let bytes = (0..<1000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        #expect(CRC32C.checksum(bytes) == crc ^ 0xFFFF_FFFF)
    }

    @Test(arguments: [0.0, 0.5, 0.9])
    func float32RoundTripIsExact(sparsity: Double) throws {
        let model = smallModel(sparsity: sparsity)
        let bytes = try ArtifactWriter().encode(model)
        let artifact = try ArtifactReader.decode(bytes)
        #expect(artifact.denseModel() == model)
        #expect(artifact.graph.initializers.isEmpty)
        #expect(artifact.fileBytes == bytes.count)
        #expect(artifact.majorVersion == 1 && artifact.minorVersion == 1)
        // Deterministic: same model, same bytes.
        #expect(try ArtifactWriter().encode(model) == bytes)
    }

    // Fewest stored (zstd) bytes: the bitmask compresses well at moderate sparsity, CSR wins when very sparse.
    @Test(arguments: [(0.0, "dense"), (0.5, "bitmask"), (0.9, "bitmask"), (0.98, "csr")])
    func writerPicksEncodingByCost(sparsity: Double, expected: String) throws {
        let model = smallModel(sparsity: sparsity)
        let artifact = try ArtifactReader.decode(ArtifactWriter().encode(model))
        guard let w1 = artifact.tensor(named: "w1") else { Issue.record("w1 missing"); return }
        switch (w1.storage, expected) {
        case (.dense, "dense"), (.bitmask, "bitmask"), (.csr, "csr"): break
        default: Issue.record("w1 at \(sparsity) stored as \(w1.encoding), expected \(expected)")
        }
        // Non-weights stay dense f32.
        if case .dense = artifact.tensor(named: "bn_mean")?.storage {} else { Issue.record("bn_mean not dense") }
    }

    @Test("a plan is written as planned: the same bytes as choosing while writing, and a forced storage is kept",
          arguments: [(0.5, false), (0.98, true)])
    func planIsWrittenAsIs(sparsity: Double, int8: Bool) throws {
        let model = smallModel(sparsity: sparsity)
        let writer = ArtifactWriter(int8: int8, zstdLevel: 3)
        var plan = try writer.plan(for: model.graph)
        #expect(plan.zstdLevel == 3)
        #expect(Set(plan.weights.keys) == ArtifactWriter.weightNames(in: model.graph))
        #expect(try ArtifactWriter().encode(model, plan: plan) == writer.encode(model))
        // Another storage than the cheapest is written as the plan says.
        plan.weights["w1"] = TensorStorage(encoding: .dense, valueType: .f32)
        let artifact = try ArtifactReader.decode(ArtifactWriter().encode(model, plan: plan))
        let w1 = try #require(artifact.tensor(named: "w1"))
        if case .dense = w1.storage {} else { Issue.record("w1 stored as \(w1.encoding), planned dense") }
        // A weight the plan does not cover is an error, not a silent choice.
        plan.weights["w1"] = nil
        #expect(throws: FormatError.self) { try ArtifactWriter().encode(model, plan: plan) }
    }

    @Test(arguments: [0.0, 0.5, 0.9])
    func int8StaysWithinHalfAScale(sparsity: Double) throws {
        let model = smallModel(sparsity: sparsity)
        let artifact = try ArtifactReader.decode(ArtifactWriter(int8: true, quantizeFirstConv: true).encode(model))
        let back = artifact.denseModel()
        #expect(back.graph.nodes == model.graph.nodes)
        for (name, original) in model.graph.initializers {
            guard let stored = artifact.tensor(named: name), let restored = back.graph.initializers[name] else {
                Issue.record("\(name) missing"); continue
            }
            guard ArtifactWriter.weightNames(in: model.graph).contains(name) else {
                if ArtifactWriter.biasNames(in: model.graph).contains(name) {
                    // Biases are rounded to the nearest binary16 value: a relative step of 2^-11.
                    #expect(zip(original.data, restored.data).allSatisfy { abs($0 - $1) <= abs($0) / 2048 }, "\(name)")
                    #expect(restored.data == original.data.map { Float(Float16($0)) }, "\(name)")
                } else {
                    #expect(restored == original, "\(name) must stay exact")
                }
                continue
            }
            #expect(stored.storage.valueType == .int8 && stored.halfScales)
            let rows = original.shape[0], cols = original.count / rows
            for r in 0..<rows {
                let row = original.data[r * cols..<(r + 1) * cols]
                let scale = (row.map(abs).max() ?? 0) / 127 * (1 + 1.0 / 1024)  // rounded up to binary16
                for c in 0..<cols {
                    let a = original.data[r * cols + c], b = restored.data[r * cols + c]
                    if a == 0 { #expect(b == 0) }
                    #expect(abs(a - b) <= scale / 2 + abs(a) * 1e-6, "\(name)[\(r),\(c)]")
                }
            }
        }
    }

    @Test func everyOpCaseRoundTrips() throws {
        let ops: [Op] = [
            .conv(ConvAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [0, 1, 1, 0], dilations: [2, 1], groups: 4,
                                 autoPad: .sameLower, activation: .clip(min: 0, max: 6))),
            .conv(ConvAttributes(kernelShape: [1, 1], autoPad: .valid, activation: .relu)),
            .conv(ConvAttributes(kernelShape: [5, 5], autoPad: .sameUpper)),
            .batchNormalization(epsilon: 1e-3), .relu, .clip(min: -Float.infinity, max: 6),
            .add, .sub, .mul, .div, .sum, .globalAveragePool, .reduceMean(axes: [2, 3], keepDims: true),
            .maxPool(PoolAttributes(kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 2], ceilMode: true)),
            .averagePool(PoolAttributes(kernelShape: [2, 2], autoPad: .sameUpper, countIncludePad: true)),
            .gemm(GemmAttributes(alpha: 0.5, beta: 2, transA: true, transB: false)), .matMul, .flatten(axis: 1),
            .reshape(shape: [0, -1], allowZero: true), .squeeze(axes: nil), .squeeze(axes: []), .squeeze(axes: [0, 2]),
            .unsqueeze(axes: [1]), .unsqueeze(axes: []), .transpose(perm: nil), .transpose(perm: [0, 2, 3, 1]),
            .concat(axis: -1), .sigmoid, .softmax(axis: -1), .pad(pads: [0, 0, 1, 1, 0, 0, 1, 1], value: -0.5),
            .pad(pads: [0, 0, 2, -1, 0, 0, 1, 3], value: 0, mode: .reflect), .pad(pads: [1, 2], value: 0, mode: .edge),
            .identity, .dropout,
            .slice(starts: [-1, 0], ends: [Int.min, Int.max], axes: [2, -1], steps: [-2, 3]),
            .split(axis: 1, sizes: [2, 0, 5]), .split(axis: -1, sizes: []),
            .layerNormalization(axis: -1, epsilon: 1e-6), .layerNormalization(axis: 2, epsilon: 0), .erf,
            .gelu(tanhApproximation: false), .gelu(tanhApproximation: true),
        ]
        let nodes = ops.enumerated().map { i, op in
            // A Split writes one output per piece.
            var outputs = ["y\(i)"]
            if case .split = op { outputs += ["z\(i)", "w\(i)"] }
            return Node(name: "n\(i)", op: op, inputs: ["x\(i)", "", "é\(i)"], outputs: outputs)
        }
        let model = Model(graph: Graph(nodes: nodes, inputs: [ValueInfo(name: "x0", shape: [nil, 3, nil, 7])],
                                       outputs: [ValueInfo(name: "y0", shape: [])]),
                          metadata: ["b": "2", "a": "ü", "": "empty key"], producer: "π")
        let back = try ArtifactReader.decode(ArtifactWriter().encode(model)).denseModel()
        #expect(back == model)
    }

    @Test func emptyAndScalarTensors() throws {
        let graph = Graph(nodes: [Node(name: "c", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["x", "w", "b"], outputs: ["y"])],
                          initializers: ["w": Tensor(shape: [0, 4, 1, 1], data: []), "b": Tensor(shape: [0], data: []),
                                         "s": Tensor(scalar: 3)])
        let model = Model(graph: graph)
        for int8 in [false, true] {
            #expect(try ArtifactReader.decode(ArtifactWriter(int8: int8, quantizeFirstConv: true).encode(model)).denseModel() == model)
        }
    }

    @Test("int8 leaves the first conv's weight float32 by default; every other weight is int8")
    func int8KeepsFirstConvFloat() throws {
        let model = smallModel(sparsity: 0.5)
        #expect(ArtifactWriter.float32Weights(in: model.graph) == ["w1"])
        let artifact = try ArtifactReader.decode(ArtifactWriter(int8: true).encode(model))
        #expect(artifact.tensor(named: "w1")?.storage.valueType == .f32)
        #expect(artifact.tensor(named: "w2")?.storage.valueType == .int8)
        #expect(artifact.tensor(named: "w3")?.storage.valueType == .int8)
        #expect(artifact.denseModel().graph.initializers["w1"] == model.graph.initializers["w1"])
    }

    @Test("packed values: b bits each, LSB first, read back exactly; the file is 2.0", arguments: Array(2...7))
    func packedValuesRoundTrip(bits: Int) throws {
        let model = smallModel(sparsity: 0.9)
        var writer = ArtifactWriter(int8: true, quantizeFirstConv: true)
        writer.valueBits = bits
        let artifact = try ArtifactReader.decode(writer.encode(model))
        #expect(artifact.majorVersion == 2 && artifact.minorVersion == 0)
        for name in ArtifactWriter.weightNames(in: model.graph) {
            let t = try #require(artifact.tensor(named: name))
            let original = try #require(model.graph.initializers[name])
            let rows = original.shape[0], cols = original.count / rows
            let expected = Int8Rows(quantizingDense: original.data, rows: rows, cols: cols, bits: bits)
            #expect(t.valueBits == bits && t.storedType.hasPrefix("int\(bits)"))
            #expect(t.storage.denseTensor().data == expected.dequantized(), "\(name)")
            // Sparse encodings store the weights that were non-zero before rounding (some round to 0).
            let stored = t.encoding == .dense ? rows * cols : original.data.filter { $0 != 0 }.count
            #expect(t.rawBytes(of: .values) == (stored * bits + 7) / 8, "\(name)")
        }
        // The bit layout: value i in bits i·b ..< (i+1)·b, two's complement, low bits first.
        // 1, −1, 3, −3 in 3 bits: 001, 111, 011, 101 → bits 101 011 111 001 (high to low) = 0x0AF9.
        #expect(Int8Rows.packBits([1, -1, 3, -3], bits: 3) == [0xF9, 0x0A])
        let values: [Int8] = [1, -1, 3, -3, 0, 2, -2]
        for b in 3...7 {
            let packed = Int8Rows.packBits(values, bits: b)
            #expect(packed.count == (values.count * b + 7) / 8)
            #expect(packed.withUnsafeBytes { ByteCoding.unpackBits($0, count: values.count, bits: b) } == values)
        }
    }

    @Test func manifestPartsAreReported() throws {
        let artifact = try ArtifactReader.decode(ArtifactWriter(int8: true, quantizeFirstConv: true).encode(smallModel(sparsity: 0.98)))
        guard let w1 = artifact.tensor(named: "w1") else { Issue.record("w1 missing"); return }
        #expect(w1.sections.map(\.part) == [.rowPointers, .columnIndices, .values, .scales])
        #expect(w1.rawBytes(of: .scales) == 8 * 2 && w1.halfScales)  // binary16 scales
        if case .csrInt8(let shape, let m) = w1.storage {
            #expect(shape == [8, 32, 3, 3])
            #expect(m.rows == 8 && m.cols == 288)
            #expect(w1.rawBytes(of: .values) == m.values.values.count)
            #expect(w1.encoding == .csr(rowPointers: .u8, columnIndices: .deltaU8))
        } else {
            Issue.record("w1 stored as \(w1.encoding)")
        }
    }
}
