// compress's fine-tuning through the Trainer: interrupted after an epoch and resumed from its
// checkpoint, it packs the same artifact bytes as an uninterrupted run, with the pruning schedule
// mid-way at the interruption (the masks in force come back from the checkpoint).
import Foundation
import Testing
import SpruceCore
import SpruceFormat
@testable import SpruceTrain
@testable import SprucePipeline

@Suite struct ResumeTests {
    func recipe() -> Recipe {
        Recipe.compress(CompressOptions(
            model: .zoo(name: "mobilenetv2", size: 32, width: 0.35, seed: 1),
            data: DataOptions(directory: fixtureImages, batchSize: 4), sparsity: 0.8, finetuneEpochs: 3,
            learningRate: 1e-3, int8: true, pruning: PruningOptions(allocation: .global(minimumDensity: 0.05))))
    }

    @Test("interrupted after epoch 1 of 3, resumed: the same artifact bytes as one uninterrupted run")
    func resumedRunPacksTheSameBytes() throws {
        let folder = NSTemporaryDirectory() + "spruce-resume-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let pipeline = try Pipeline(recipe: recipe())
        let straight = try pipeline.run(context: StageContext(seed: 2, checkpointDirectory: folder + "/straight"))
        let bytes = try #require(straight.0.artifact)

        // Stop at the first step of epoch 2: epoch 1's checkpoint is on disk, the schedule is mid-way.
        let stop = CancellationFlag()
        let events: @Sendable (PipelineEvent) -> Void = { event in
            if case .epoch(_, let epoch, _, _, _, _) = event, epoch == 1 { stop.cancel() }
        }
        #expect(throws: StageError.cancelled) {
            try pipeline.run(context: StageContext(seed: 2, events: events, cancellation: stop,
                                                   checkpointDirectory: folder + "/cut"))
        }
        let checkpoint = try TrainingCheckpoint.read(path: Trainer.checkpointPath(in: folder + "/cut/2-finetune"))
        #expect(checkpoint.header.nextEpoch == 1 && !checkpoint.masks.isEmpty)
        let pruned = checkpoint.masks.values.reduce(0) { $0 + $1.filter { !$0 }.count }
        let total = checkpoint.masks.values.reduce(0) { $0 + $1.count }
        #expect(pruned > 0 && Double(pruned) < 0.8 * Double(total), "mid-schedule: \(pruned) of \(total) pruned")

        let resumed = try pipeline.run(context: StageContext(seed: 2, checkpointDirectory: folder + "/cut", resume: true))
        #expect(resumed.0.artifact == bytes)
        // Without --resume the same folder starts afresh, and still reaches the same bytes.
        let afresh = try pipeline.run(context: StageContext(seed: 2, checkpointDirectory: folder + "/cut"))
        #expect(afresh.0.artifact == bytes)
    }

    @Test("a checkpoint of another pruning plan is refused, naming the file")
    func otherPlanIsRefused() throws {
        let folder = NSTemporaryDirectory() + "spruce-resume-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var options = CompressOptions(model: .zoo(name: "mobilenetv2", size: 32, width: 0.35, seed: 1),
                                      data: DataOptions(directory: fixtureImages, batchSize: 4), sparsity: 0.5, finetuneEpochs: 1)
        _ = try Pipeline(recipe: .compress(options)).run(context: StageContext(checkpointDirectory: folder))
        options.sparsity = 0.7
        do {
            _ = try Pipeline(recipe: .compress(options)).run(context: StageContext(checkpointDirectory: folder, resume: true))
            Issue.record("expected a checkpoint mismatch")
        } catch let TrainerError.checkpointMismatch(path, _) {
            #expect(path.hasPrefix(folder))
        }
    }

    @Test("quantization-aware fine-tuning rounds the quantized weights once the masks are final, and packs at that width")
    func quantizationAwareFinetuning() throws {
        var options = CompressOptions(
            model: .zoo(name: "mobilenetv2", size: 32, width: 0.35, seed: 1),
            data: DataOptions(directory: fixtureImages, batchSize: 4), sparsity: 0.8, finetuneEpochs: 2,
            learningRate: 1e-3, int8: true, pruning: PruningOptions(allocation: .global(minimumDensity: 0.05)))
        options.valueBits = 3
        options.quantizationAware = true
        let recipe = Recipe.compress(options)
        #expect(recipe.stages.contains(.quantize(int8: true, bits: 3, quantizationAware: true)))
        #expect(try Recipe.decode(try recipe.jsonBytes(), path: "r") == recipe)
        let (state, reports) = try Pipeline(recipe: recipe).run(context: StageContext(seed: 2))
        let finetune = try #require(reports.first { $0.stage == "finetune" }?.summary)
        let from = try #require(finetune.firstMatch(of: /through the 3-bit rounding from step ([0-9]+)/).flatMap { Int($0.1) })
        #expect(from > 1, "rounding starts when the schedule ends, not at the first step: \(finetune)")
        #expect(reports.first { $0.stage == "quantize" }?.summary.contains("rounded as fine-tuning saw them") == true)
        #expect(reports.first { $0.stage == "encode" }?.summary.contains("(3-bit values, zstd 6)") == true)
        let artifact = try ArtifactReader.decode(try #require(state.artifact))
        #expect(artifact.tensors.contains { $0.valueBits == 3 })

        // It needs fine-tuning before it, int8, and no calibration images.
        #expect(throws: StageError.self) { try Pipeline(stages: [FoldStage(), QuantizeStage(int8: true, quantizationAware: true)]) }
        var s = PipelineState(model: state.model)
        #expect(throws: StageError.self) { try QuantizeStage(int8: false, quantizationAware: true).run(&s, context: StageContext()) }
        #expect(throws: StageError.self) {
            try QuantizeStage(int8: true, calibrationImages: ["a.png"], quantizationAware: true).run(&s, context: StageContext())
        }
    }
}
