// Learning-rate schedules evaluated at the optimizer's 0-based step count, with Keras'
// formulas (CosineDecay with alpha, a staircase step decay). No warm-up, no plateaus.

import SpruceCore

import _SpruceSupport

/// The learning rate as a function of the step (0 for the first update).
public enum LearningRateSchedule: Sendable, Equatable {
    /// The same rate at every step.
    case constant(Float)
    /// Keras `CosineDecay`: initial·((1 − alpha)·½(1 + cos(π·min(t, decaySteps)/decaySteps)) + alpha).
    case cosine(initial: Float, decaySteps: Int, alpha: Float = 0)
    /// Staircase decay: initial·factor^⌊t / every⌋.
    case step(initial: Float, factor: Float, every: Int)

    /// The rate at 0-based step `t`.
    public func rate(at t: Int) -> Float {
        switch self {
        case .constant(let lr):
            return lr
        case .cosine(let initial, let decaySteps, let alpha):
            guard decaySteps > 0 else { return initial * alpha }
            let progress = Double(min(t, decaySteps)) / Double(decaySteps)
            let cosine = 0.5 * (1 + cos(Double.pi * progress))
            return initial * Float((1 - Double(alpha)) * cosine + Double(alpha))
        case .step(let initial, let factor, let every):
            guard every > 0 else { return initial }
            return initial * powf(factor, Float(t / every))
        }
    }
}
