// ReferenceExecutor.run(_:substituting:): a node evaluated with substituted operands, later nodes
// seeing its substituted output, and a wrong operand count rejected.
import SpruceCore
import Testing

@Test func substitutedOperandsFlowToLaterNodes() throws {
    var g = Graph()
    g.inputs = [ValueInfo(name: "x", shape: [1, 1, 2, 2])]
    g.initializers["w"] = Tensor(shape: [1, 1, 1, 1], data: [2])
    g.nodes = [
        Node(name: "scale", op: .conv(ConvAttributes(kernelShape: [1, 1])), inputs: ["x", "w"], outputs: ["y"]),
        Node(name: "double", op: .add, inputs: ["y", "y"], outputs: ["z"]),
    ]
    g.outputs = [ValueInfo(name: "z", shape: [1, 1, 2, 2])]
    let x = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
    let plain = try ReferenceExecutor(graph: g).run(["x": x])["z"]!
    #expect(plain.data == [4, 8, 12, 16])
    var seen: [String] = []
    let swapped = try ReferenceExecutor(graph: g).run(["x": x]) { node, operands in
        seen.append(node.name)
        guard node.name == "scale" else { return nil }
        #expect(operands.count == 2 && operands[1]?.data == [2])
        return [operands[0], Tensor(shape: [1, 1, 1, 1], data: [-1])]
    }["z"]!
    #expect(seen == ["scale", "double"])
    #expect(swapped.data == [-2, -4, -6, -8])
    #expect(throws: GraphError.self) {
        try ReferenceExecutor(graph: g).run(["x": x]) { node, operands in node.name == "scale" ? [operands[0]] : nil }
    }
}
