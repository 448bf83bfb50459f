// Writes a few valid artifacts (dense, bitmask, CSR; f32 as format 1.1; int8 and packed 4- and
// 3-bit values as 2.0, with binary16 scales and biases) as libFuzzer seeds, each prefixed with
// the mode byte ReaderFuzz.swift reads. Built and run by Tests/Fuzz/build.sh only.

import _SpruceSupport
import SpruceCore
import SpruceFormat

@main
struct MakeSeeds {
    static func main() throws {
        let directory = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "seeds"
        var state: UInt64 = 7
        func weight() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let u = Float(state >> 40) / Float(1 << 24) * 2 - 1
            return u == 0 ? 0.5 : u
        }
        for (s, sparsity) in [0.0, 0.5, 0.9].enumerated() {
            func tensor(_ shape: [Int], sparse: Bool) -> Tensor {
                let data = (0..<shape.reduce(1, *)).map { i in sparse && Double(i % 10) < sparsity * 10 ? 0 : weight() }
                return Tensor(shape: shape, data: data)
            }
            let graph = Graph(
                nodes: [
                    Node(name: "conv", op: .conv(ConvAttributes(kernelShape: [3, 3], pads: [1, 1, 1, 1], activation: .relu)),
                         inputs: ["x", "w", "b"], outputs: ["y"]),
                    Node(name: "gap", op: .globalAveragePool, inputs: ["y"], outputs: ["g"]),
                    Node(name: "flat", op: .flatten(axis: 1), inputs: ["g"], outputs: ["f"]),
                    Node(name: "fc", op: .gemm(GemmAttributes(transB: true)), inputs: ["f", "w2", "b2"], outputs: ["z"]),
                    Node(name: "sig", op: .sigmoid, inputs: ["z"], outputs: ["p"]),
                ],
                initializers: ["w": tensor([4, 32, 3, 3], sparse: true), "b": tensor([4], sparse: false),
                               "w2": tensor([2, 4], sparse: true), "b2": tensor([2], sparse: false)],
                inputs: [ValueInfo(name: "x", shape: [nil, 32, 6, 6])], outputs: [ValueInfo(name: "p", shape: [nil, 2])])
            let model = Model(graph: graph, metadata: ["seed": "\(s)"], producer: "fuzz-seeds")
            for (label, bits) in [("f32", 0), ("i8", 8), ("i4", 4), ("i3", 3)] {
                var writer = ArtifactWriter(int8: bits > 0, quantizeFirstConv: true)
                writer.valueBits = max(bits, 2)
                let bytes = try writer.encode(model)
                for mode: UInt8 in [0, 1] {
                    let path = "\(directory)/seed-\(s)-\(label)-\(mode)"
                    guard let f = fopen(path, "wb") else { throw FormatError.ioFailed(path: path, detail: "cannot create") }
                    let all = [mode] + bytes
                    _ = all.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
                    fclose(f)
                }
            }
        }
    }
}
