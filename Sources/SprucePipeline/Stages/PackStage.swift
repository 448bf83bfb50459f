// pack: writes the folded model into `.spruce` bytes exactly as the encode stage planned (kept in
// memory; the caller writes them atomically), then scores the packed bytes on the validation
// images with the runtime, so int8 effects are measured.
import Foundation
import SpruceCore
import SpruceFormat

/// Writes the artifact bytes.
public struct PackStage: Stage {
    public var name: String { "pack" }

    /// A pack stage.
    public init() {}

    public func run(_ state: inout PipelineState, context: StageContext) throws -> StageReport {
        guard let plan = state.plan else {
            throw StageError.misplaced(stage: name, reason: "pack writes the encode stage's plan; put encode before pack")
        }
        let (bytes, seconds) = try timed { try ArtifactContents.bytes(state, plan: plan) }
        if let budget = state.targetBytes, bytes.count > budget {
            // encode measured these very bytes; reaching here is a bug, reported rather than written.
            throw StageError.failed(stage: name, reason: "\(state.sourceName): \(ByteSize.format(bytes.count)) exceed the \(ByteSize.format(budget)) budget the encode stage fitted")
        }
        state.artifact = bytes
        var metrics: [String: Double] = [:]
        if let data = state.data, let auc = try Validation.auc(artifact: bytes, data: data, cancellation: context.cancellation) {
            metrics["validation_auc"] = auc
            state.validationAUC = auc
        }
        var summary = "\(ByteSize.format(bytes.count)) (\(EncodingPlan.describe(widths: plan.valueWidths)), zstd \(plan.zstdLevel))"
        if let budget = state.targetBytes { summary += " within the \(ByteSize.format(budget)) budget" }
        return StageReport(stage: name, summary: summary, seconds: seconds, model: state.model, bytes: bytes.count,
                           metrics: metrics)
    }
}

/// The bytes a pipeline state packs to: its model with Spruce's metadata, encoded by the writer.
/// The pack stage writes them and the size searches measure them, so a size found is the size written
/// (`ArtifactWriter.encode(model)` chooses as `plan(for:)` does, so both give the same bytes).
enum ArtifactContents {
    /// The state's model with its metadata (`values`: how its int8 weights will be stored, as
    /// `EncodingPlan.describe` names it); fixed-width numbers keep sizes predictable for the budget search.
    static func model(_ state: PipelineState, values: String) -> Model {
        var m = state.model
        m.metadata["source_file"] = state.sourceName
        m.metadata["packed_by"] = "spruce \(SpruceVersion.current)"
        m.metadata["values"] = !state.int8 ? "float32"
            : "\(values) (conv/gemm weights but the first conv, per-row symmetric"
            + (state.calibrationImages == 0 ? ")" : ", GPTQ-rounded on \(state.calibrationImages) calibration images)")
        m.metadata["sparsity"] = String(format: "%.4f", Tuning.sparsity(state.model.graph))
        m.metadata["pruning"] = state.pruningDescription
        if let n = state.inputNormalization { m.metadata.merge(n.metadata) { $1 } }
        return m
    }

    /// Per quantized weight tensor of the state's model, its value width: `valueBits`, or the
    /// width `state.valueWidths` chose for its layer (mixed precision).
    static func widths(_ state: PipelineState, valueBits: Int) -> [String: Int] {
        Tuning.roundedWeights(state.model.graph, bits: valueBits, byLayer: state.valueWidths)
    }

    /// The writer for the state's value type and widths.
    static func writer(_ state: PipelineState, zstdLevel: Int, valueBits: Int) -> ArtifactWriter {
        var writer = ArtifactWriter(int8: state.int8, zstdLevel: zstdLevel)
        writer.valueBits = valueBits
        writer.valueBitsByTensor = widths(state, valueBits: valueBits)
        return writer
    }

    /// The storage the writer chooses for every conv/Gemm weight of the state's model.
    static func plan(_ state: PipelineState, zstdLevel: Int, valueBits: Int) throws -> EncodingPlan {
        do { return try writer(state, zstdLevel: zstdLevel, valueBits: valueBits).plan(for: state.model.graph) } catch {
            throw StageError.failed(stage: "encode", reason: "\(state.sourceName): \(error)")
        }
    }

    /// The artifact bytes written as `plan` says.
    static func bytes(_ state: PipelineState, plan: EncodingPlan) throws -> [UInt8] {
        do { return try ArtifactWriter().encode(model(state, values: EncodingPlan.describe(widths: plan.valueWidths)), plan: plan) } catch {
            throw StageError.failed(stage: "pack", reason: "\(state.sourceName): \(error)")
        }
    }

    /// The artifact bytes with the storage the writer chooses (what `plan` then `bytes` give).
    static func bytes(_ state: PipelineState, zstdLevel: Int, valueBits: Int) throws -> [UInt8] {
        let values = EncodingPlan.describe(widths: Set(widths(state, valueBits: valueBits).values))
        do { return try writer(state, zstdLevel: zstdLevel, valueBits: valueBits).encode(model(state, values: values)) } catch {
            throw StageError.failed(stage: "pack", reason: "\(state.sourceName): \(error)")
        }
    }
}
