// Typed errors of ONNX import and export: one case per rule, each naming the file, node,
// tensor or operator involved, so the CLI can print a single clear line.
// Graph-level errors found by SpruceCore's verifier are wrapped, not re-described.
import SpruceCore

/// A failure to read, interpret or write an ONNX model, naming what was involved.
public enum ONNXError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be opened or read.
    case unreadableFile(path: String, reason: String)
    /// The bytes are not a valid ONNX protobuf (garbage or truncated).
    case notProtobuf(source: String, byteCount: Int)
    /// The model has no graph.
    case missingGraph(source: String)
    /// The model imports no version of the default ONNX operator set (the specification requires one).
    case missingOpset(source: String)
    /// An operator (or operator domain) Spruce does not implement.
    case unsupportedOperator(op: String, node: String)
    /// A tensor or value uses an element type Spruce cannot read for that purpose.
    case unsupportedDataType(tensor: String, dataType: String)
    /// A tensor's stored data does not match its shape and element type.
    case badTensorDataSize(tensor: String, expected: Int, actual: Int, field: String)
    /// A tensor's dimensions are negative or their product overflows.
    case invalidTensorShape(tensor: String, dims: [Int64])
    /// A tensor refers to an external data file that cannot be opened.
    case externalDataMissing(tensor: String, path: String)
    /// A tensor's external offset/length do not fit inside its data file (or are malformed).
    case externalDataOutOfRange(tensor: String, path: String, offset: Int, length: Int, fileSize: Int)
    /// An input that must be known at import time (a shape, axes, pads, bounds) is computed at run time.
    case nonConstantInput(node: String, op: String, input: String)
    /// A value computed at import time (folded constant) is read as a run-time tensor but cannot become an initializer.
    case foldedValueUsedAtRuntime(node: String, value: String)
    /// An attribute or attribute-like input has a value Spruce does not support.
    case unsupportedAttribute(node: String, op: String, attribute: String, detail: String)
    /// A required attribute is absent.
    case missingAttribute(node: String, op: String, attribute: String)
    /// An output that Spruce drops at import (training statistics, pool indices, dropout mask) is read.
    case unsupportedOutputUsed(node: String, op: String, output: String)
    /// Evaluating a constant-only subgraph at import failed (bad indices, shapes, overflow).
    case constantFolding(node: String, op: String, detail: String)
    /// The imported graph breaks an IR rule (reported by SpruceCore's verifier or shape inference).
    case invalidGraph(GraphError)
    /// A Spruce graph cannot be expressed in the exported opset.
    case unexportable(node: String, detail: String)
    /// The output file could not be written.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            "cannot read ONNX file '\(path)': \(reason)"
        case .notProtobuf(let source, let count):
            "\(source): not a valid ONNX model (\(count) bytes do not parse as a ModelProto; garbage or truncated)"
        case .missingGraph(let source):
            "\(source): ONNX model has no graph"
        case .missingOpset(let source):
            "\(source): ONNX model imports no version of the default operator set (opset_import)"
        case .unsupportedOperator(let op, let node):
            "node '\(node)': unsupported operator '\(op)'"
        case .unsupportedDataType(let tensor, let type):
            "tensor '\(tensor)': unsupported data type \(type)"
        case .badTensorDataSize(let tensor, let expected, let actual, let field):
            "tensor '\(tensor)': \(field) holds \(actual) bytes/elements, its shape and type need \(expected)"
        case .invalidTensorShape(let tensor, let dims):
            "tensor '\(tensor)': invalid dimensions \(dims)"
        case .externalDataMissing(let tensor, let path):
            "tensor '\(tensor)': external data file '\(path)' cannot be opened"
        case .externalDataOutOfRange(let tensor, let path, let offset, let length, let size):
            "tensor '\(tensor)': external range offset \(offset) length \(length) does not fit in '\(path)' (\(size) bytes)"
        case .nonConstantInput(let node, let op, let input):
            "node '\(node)' (\(op)): input '\(input)' must be a constant known at import time"
        case .foldedValueUsedAtRuntime(let node, let value):
            "node '\(node)': reads '\(value)', an import-time constant that Spruce cannot turn into a run-time tensor (it is not float, depends on a dynamic dimension, or is a graph output)"
        case .unsupportedAttribute(let node, let op, let attribute, let detail):
            "node '\(node)' (\(op)): unsupported \(attribute): \(detail)"
        case .missingAttribute(let node, let op, let attribute):
            "node '\(node)' (\(op)): missing required attribute '\(attribute)'"
        case .unsupportedOutputUsed(let node, let op, let output):
            "node '\(node)' (\(op)): output '\(output)' is used, but Spruce only computes the inference output"
        case .constantFolding(let node, let op, let detail):
            "node '\(node)' (\(op)): cannot evaluate at import: \(detail)"
        case .invalidGraph(let error):
            "imported graph is invalid: \(error)"
        case .unexportable(let node, let detail):
            "node '\(node)': cannot export to ONNX: \(detail)"
        case .writeFailed(let path, let reason):
            "cannot write ONNX file '\(path)': \(reason)"
        }
    }
}
