// Progress of long commands (training, compression, evaluation): a redrawn one-line bar when the
// stream is a terminal, plain timestamped-free lines otherwise (logs, pipes, tests), so a log
// never fills with carriage returns. It formats and writes; it does not measure work itself.
import Foundation

/// A progress bar on a terminal, plain lines elsewhere.
///
/// ```swift
/// let progress = ProgressReporter()                  // stdout; bar if it is a terminal
/// progress.update(done: 120, total: 266, prefix: "epoch 3/10", status: "loss 0.4123")
/// progress.line("epoch 3/10: loss 0.4123, val AUC 0.8310")   // clears the bar, prints for good
/// ```
public final class ProgressReporter {
    /// How progress is shown.
    public enum Style: Sendable, Equatable {
        /// One line redrawn in place (`\r`, erase to end of line).
        case bar
        /// Only permanent lines; `update` writes one at most every `lineInterval` seconds.
        case lines
    }

    /// The style in use.
    public let style: Style
    private let descriptor: Int32
    private let lineInterval: Double
    private let barWidth: Int
    private var barVisible = false
    private var lastDraw: ContinuousClock.Instant?
    private var lastLine: ContinuousClock.Instant
    private let started = ContinuousClock.now

    /// A reporter writing to `descriptor` (stdout by default). `style` nil picks `.bar` when the
    /// descriptor is a terminal; `lineInterval` spaces `update` lines in `.lines` style (0: never).
    public init(descriptor: Int32 = 1, style: Style? = nil, lineInterval: Double = 60, barWidth: Int = 24) {
        self.descriptor = descriptor
        self.style = style ?? (ProgressReporter.isTerminal(descriptor) ? .bar : .lines)
        self.lineInterval = lineInterval
        self.barWidth = max(4, barWidth)
        lastLine = ContinuousClock.now
    }

    /// Whether `descriptor` is a terminal.
    public static func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) != 0 }

    /// Shows `done` of `total` units with a prefix and a status text.
    public func update(done: Int, total: Int, prefix: String, status: String) {
        let now = ContinuousClock.now
        switch style {
        case .bar:
            // Redrawing more than ~10 times a second only costs terminal time.
            if let lastDraw, done < total, now - lastDraw < .milliseconds(100) { return }
            lastDraw = now
            let fraction = total > 0 ? min(max(Double(done) / Double(total), 0), 1) : 0
            let filled = Int((fraction * Double(barWidth)).rounded(.down))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: barWidth - filled)
            let percent = String(format: "%3d%%", Int((fraction * 100).rounded(.down)))
            write("\r\u{1B}[K\(prefix) [\(bar)] \(percent) \(done)/\(total) \(status)")
            barVisible = true
        case .lines:
            guard lineInterval > 0, now - lastLine >= .seconds(lineInterval) else { return }
            lastLine = now
            write("\(prefix): \(done)/\(total) \(status)\n")
        }
    }

    /// Prints `text` as a permanent line, clearing the bar first.
    public func line(_ text: String) {
        clear()
        write(text + "\n")
        lastLine = ContinuousClock.now
    }

    /// Removes the bar, if one is shown.
    public func clear() {
        guard barVisible else { return }
        write("\r\u{1B}[K")
        barVisible = false
    }

    /// Seconds since the reporter was made.
    public var elapsed: Double {
        let d = ContinuousClock.now - started
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// `seconds` as `m:ss` or `h:mm:ss`.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--:--" }
        let total = Int(seconds.rounded())
        let (h, m, s) = (total / 3600, total / 60 % 60, total % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
    }

    private func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Foundation.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
