// tfmot schedule semantics: values equal tfmot's formula at chosen steps (hand-computed), pruning
// turns only inside [begin, end] every `frequency` steps, validation rules, and the derived specs.
import Testing
@testable import SprucePipeline

@Suite struct ScheduleTests {
    /// (step, expected) with the cubes worked out by hand: p = 0.1 → 0.9³ = 0.729, p = 0.5 → 0.125, p = 0.9 → 0.001.
    static let polynomialCases: [(Int, Double)] = [
        (0, 0.5), (100, 0.5812999999999999), (500, 0.7625), (900, 0.7997), (1000, 0.8), (1500, 0.8),
    ]

    @Test("PolynomialDecay(0.5, 0.8, 0, 1000) equals final + (initial − final)(1 − p)^3", arguments: polynomialCases)
    func polynomialValues(step: Int, expected: Double) {
        let s = PolynomialDecaySchedule(initialSparsity: 0.5, finalSparsity: 0.8, beginStep: 0, endStep: 1000)
        #expect(abs(s.sparsity(at: step) - expected) < 1e-9)
    }

    @Test("PolynomialDecay with begin 200, end 1200, power 2: before begin it reports the initial value")
    func polynomialOffset() {
        let s = PolynomialDecaySchedule(initialSparsity: 0.1, finalSparsity: 0.9, beginStep: 200, endStep: 1200, power: 2, frequency: 50)
        #expect(abs(s.sparsity(at: 0) - 0.1) < 1e-12)           // p clamps at 0
        #expect(abs(s.sparsity(at: 700) - (0.9 - 0.8 * 0.25)) < 1e-12)
        #expect(s.shouldPrune(at: 150) == false)                 // before begin
        #expect(s.shouldPrune(at: 200))
        #expect(s.shouldPrune(at: 225) == false)                 // not a turn
        #expect(s.shouldPrune(at: 1200))                         // end is inclusive
        #expect(s.shouldPrune(at: 1250) == false)                // after end
    }

    @Test("ConstantSparsity prunes forever with end -1, every frequency steps from begin")
    func constant() {
        let s = ConstantSparsitySchedule(targetSparsity: 0.75, beginStep: 30)
        #expect(s.sparsity(at: 0) == 0.75)
        #expect(s.shouldPrune(at: 30))
        #expect(s.shouldPrune(at: 130))
        #expect(s.shouldPrune(at: 100_030))
        #expect(!s.shouldPrune(at: 29))
        #expect(!s.shouldPrune(at: 131))
        let bounded = ConstantSparsitySchedule(targetSparsity: 0.75, beginStep: 0, endStep: 200, frequency: 100)
        #expect(bounded.shouldPrune(at: 200))
        #expect(!bounded.shouldPrune(at: 300))
        let (should, value) = bounded(100)
        #expect(should && value == 0.75)
    }

    @Test("validation follows tfmot's rules")
    func validation() {
        #expect(throws: ScheduleError.negativeBegin(-1)) { try ConstantSparsitySchedule(targetSparsity: 0.5, beginStep: -1).validate() }
        #expect(throws: ScheduleError.endRequired) {
            try PolynomialDecaySchedule(initialSparsity: 0, finalSparsity: 0.5, beginStep: 0, endStep: -1).validate()
        }
        #expect(throws: ScheduleError.badEnd(begin: 10, end: 5)) {
            try ConstantSparsitySchedule(targetSparsity: 0.5, beginStep: 10, endStep: 5).validate()
        }
        #expect(throws: ScheduleError.badFrequency(0)) {
            try ConstantSparsitySchedule(targetSparsity: 0.5, beginStep: 0, frequency: 0).validate()
        }
        #expect(throws: ScheduleError.badSparsity(name: "final_sparsity", value: 1)) {
            try PolynomialDecaySchedule(initialSparsity: 0, finalSparsity: 1, beginStep: 0, endStep: 10).validate()
        }
    }

    @Test("a derived polynomial schedule lands its last update on end_step, so the final sparsity is applied",
          arguments: [1, 2, 7, 40, 333, 5000])
    func derivedEnd(totalSteps: Int) throws {
        let schedule = try ScheduleSpec(kind: .polynomial).resolve(finalSparsity: 0.9, totalSteps: totalSteps)
        let turns = (0..<totalSteps).filter { schedule.shouldPrune(at: $0) }
        let last = try #require(turns.last)
        #expect(abs(schedule.sparsity(at: last) - 0.9) < 1e-12)
        #expect(last < totalSteps)
    }
}
