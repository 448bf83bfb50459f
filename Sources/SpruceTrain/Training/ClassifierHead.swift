// The classifier head of a model: how many classes it outputs, whether a dataset's classes fit it,
// and replacing it with a freshly initialised one for another number of classes while the
// backbone keeps its weights (transfer learning onto a user's classes). The head is the graph's
// last Gemm or MatMul Linear layer, followed only by a bias Add, Flatten/Identity/Dropout and a
// Sigmoid or Softmax up to the graph output.
import SpruceCore

/// Reading and replacing a model's classifier head.
public enum ClassifierHead {
    /// The classes a model's head outputs: the width of its single output (1 for one sigmoid
    /// score); nil when the output's last dimension is not fixed.
    public static func classes(of graph: Graph) -> Int? {
        graph.outputs.count == 1 ? graph.outputs[0].shape.last.flatMap { $0 } : nil
    }

    /// `model` with its head replaced by a dense layer of `classes` outputs (He-normal weights
    /// from `seed`, zero bias) and, when the head had an activation, a sigmoid for one class or a
    /// softmax for more. Every other weight is kept.
    public static func replace(in model: Model, classes: Int, seed: UInt64 = 0) throws -> Model {
        guard classes >= 1 else { throw TrainingError.badHead(detail: "the number of classes must be at least 1, got \(classes)") }
        var graph = model.graph
        guard graph.outputs.count == 1 else {
            throw TrainingError.badHead(detail: "the model has \(graph.outputs.count) outputs; a classifier has one")
        }
        guard let layer = graph.prunableLayers().last(where: { $0.roles.contains(.classifier) }),
              let nodeIndex = graph.nodes.firstIndex(where: { $0.name == layer.node }) else {
            throw TrainingError.badHead(detail: "no Gemm or MatMul classifier layer to replace")
        }
        let node = graph.nodes[nodeIndex]
        // Where the old class count sits in the weight, and the feature count.
        let weight = layer.tensor
        let shape = layer.shape
        guard shape.count == 2 else { throw TrainingError.badHead(detail: "classifier weight '\(weight)' is not 2-D") }
        let classAxis: Int
        switch node.op {
        case .gemm(let a): classAxis = a.transB ? 0 : 1
        default: classAxis = 1  // MatMul Linear: [K, N]
        }
        let features = shape[1 - classAxis]
        var newShape = shape
        newShape[classAxis] = classes
        graph.initializers[weight] = Tensor.heNormal(shape: newShape, fanIn: features, seed: seed, name: weight + "/head")

        // Walk from the layer to the graph output: the bias (Gemm's C or a following Add), then
        // shape-keeping ops and at most one activation.
        var value = node.outputs[0]
        if case .gemm = node.op, node.inputs.count > 2, let bias = graph.initializers[node.inputs[2]] {
            graph.initializers[node.inputs[2]] = try resizedBias(bias, name: node.inputs[2], classes: classes)
        }
        let output = graph.outputs[0].name
        while value != output {
            let readers = graph.nodes.indices.filter { graph.nodes[$0].inputs.contains(value) }
            guard readers.count == 1 else {
                throw TrainingError.badHead(detail: "the classifier output '\(value)' feeds \(readers.count) nodes, not one path to the graph output")
            }
            let i = readers[0]
            let reader = graph.nodes[i]
            switch reader.op {
            case .add:
                guard let biasName = reader.inputs.first(where: { $0 != value }), let bias = graph.initializers[biasName] else {
                    throw TrainingError.badHead(detail: "'\(reader.name)' after the classifier adds a computed value, not a bias")
                }
                graph.initializers[biasName] = try resizedBias(bias, name: biasName, classes: classes)
            case .sigmoid, .softmax:
                graph.nodes[i].op = classes == 1 ? .sigmoid : .softmax(axis: -1)
            case .flatten, .identity, .dropout:
                break
            default:
                throw TrainingError.badHead(detail: "'\(reader.name)' (\(reader.op.onnxName)) follows the classifier; only a bias, Flatten and a Sigmoid or Softmax may")
            }
            value = reader.outputs[0]
        }
        var outputShape = graph.outputs[0].shape
        if outputShape.isEmpty { outputShape = [nil] }
        outputShape[outputShape.count - 1] = classes
        graph.outputs[0].shape = outputShape
        var out = model
        out.graph = graph
        out.metadata["train.validation_auc"] = nil
        out.metadata["train.best_epoch"] = nil
        return out
    }

    private static func resizedBias(_ bias: Tensor, name: String, classes: Int) throws -> Tensor {
        guard bias.count > 0, bias.shape.filter({ $0 != 1 }).count <= 1 else {
            throw TrainingError.badHead(detail: "classifier bias '\(name)' has shape \(bias.shape)")
        }
        var shape = bias.shape.isEmpty ? [1] : bias.shape
        let axis = shape.lastIndex(where: { $0 != 1 }) ?? shape.count - 1
        shape[axis] = classes
        return Tensor(shape: shape, repeating: 0)
    }
}

extension Dataset {
    /// Throws unless this dataset's classes fit `graph`'s head: two classes fit a one- or
    /// two-wide head, N > 2 classes an N-wide one (a head of unknown width fits anything).
    public func checkFits(_ graph: Graph, labelColumn: String) throws {
        guard let width = ClassifierHead.classes(of: graph) else { return }
        let fits = classNames.count == 2 ? width <= 2 : width == classNames.count
        guard fits else {
            throw DatasetError.classCountMismatch(path: root, modelClasses: width, dataClasses: classNames.count,
                                                  labelColumn: labelColumn)
        }
    }
}
