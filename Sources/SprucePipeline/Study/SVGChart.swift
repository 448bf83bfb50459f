// A small line-chart renderer for the study report: axes with ticks and labels, optional log
// scales, one polyline (and markers) per series, a legend beside the plot. It emits inline SVG text
// with fixed geometry so tests can check exact coordinates; it draws no bars, pies or animations.
import Foundation

/// One named line of a chart.
public struct SVGSeries: Sendable, Equatable {
    public var name: String
    /// Points in data coordinates, drawn in the given order.
    public var points: [(x: Double, y: Double)]
    /// Draw a dot at every point.
    public var markers: Bool

    /// A series; `markers` dots every point.
    public init(name: String, points: [(x: Double, y: Double)], markers: Bool = true) {
        self.name = name
        self.points = points
        self.markers = markers
    }

    public static func == (a: SVGSeries, b: SVGSeries) -> Bool {
        a.name == b.name && a.markers == b.markers && a.points.map(\.x) == b.points.map(\.x) && a.points.map(\.y) == b.points.map(\.y)
    }
}

/// How an axis maps values and labels its ticks.
public struct SVGAxis: Sendable {
    public var label: String
    /// Fixed range; nil fits the data.
    public var range: ClosedRange<Double>?
    /// Logarithmic (base 10); values ≤ 0 are left out.
    public var log: Bool
    /// Tick text.
    public var format: @Sendable (Double) -> String

    /// An axis; by default linear, fitted to the data, ticks printed with up to 2 decimals.
    public init(label: String, range: ClosedRange<Double>? = nil, log: Bool = false,
                format: @escaping @Sendable (Double) -> String = SVGAxis.decimal) {
        self.label = label
        self.range = range
        self.log = log
        self.format = format
    }

    /// `0.25` → `0.25`, `3` → `3`.
    public static let decimal: @Sendable (Double) -> String = { v in
        var s = String(format: "%.2f", v)
        while s.contains("."), s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s == "-0" ? "0" : s
    }

    /// Counts and bytes with k/M/G suffixes (1000-based).
    public static let metric: @Sendable (Double) -> String = { v in
        let a = abs(v)
        if a >= 1e9 { return decimal(v / 1e9) + "G" }
        if a >= 1e6 { return decimal(v / 1e6) + "M" }
        if a >= 1e3 { return decimal(v / 1e3) + "k" }
        return decimal(v)
    }
}

/// A line chart rendered as an `<svg>` element.
///
/// ```swift
/// let chart = SVGChart(title: "ROC", x: SVGAxis(label: "FPR", range: 0...1), y: SVGAxis(label: "TPR", range: 0...1),
///                      series: [SVGSeries(name: "dense", points: [(0, 0), (0.2, 0.8), (1, 1)], markers: false)])
/// let svg = chart.render()
/// ```
public struct SVGChart: Sendable {
    public var title: String
    public var x: SVGAxis
    public var y: SVGAxis
    public var series: [SVGSeries]
    /// Draw the chance line y = x (ROC plots).
    public var diagonal: Bool
    public var width: Double = 600
    public var height: Double = 400
    /// Plot margins: the legend sits in the right one.
    public var left: Double = 64, right: Double = 150, top: Double = 36, bottom: Double = 56

    /// The colour-blind-safe palette (Okabe–Ito), cycled over the series.
    public static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
    /// Dash patterns by series index, so curves running along the same segment stay distinguishable.
    public static let dashes = ["", "7 4", "2 3", "9 3 2 3", "4 4", "12 4"]

    /// A chart of `series`.
    public init(title: String, x: SVGAxis, y: SVGAxis, series: [SVGSeries], diagonal: Bool = false) {
        self.title = title
        self.x = x
        self.y = y
        self.series = series
        self.diagonal = diagonal
    }

    var plotWidth: Double { width - left - right }
    var plotHeight: Double { height - top - bottom }

    /// The axis range actually drawn (in log10 units for log axes).
    func resolvedRange(_ axis: SVGAxis, values: [Double]) -> ClosedRange<Double> {
        let vs = axis.log ? values.filter { $0 > 0 }.map(log10) : values
        if let r = axis.range { return axis.log ? log10(max(r.lowerBound, 1e-12))...log10(max(r.upperBound, 1e-12)) : r }
        guard var lo = vs.min(), var hi = vs.max() else { return 0...1 }
        if axis.log {
            lo = lo.rounded(.down); hi = hi.rounded(.up)
            if lo == hi { hi += 1 }
            return lo...hi
        }
        if lo == hi { lo -= 0.5; hi += 0.5 }
        let step = Self.niceStep((hi - lo) / 5)
        return (lo / step).rounded(.down) * step...(hi / step).rounded(.up) * step
    }

    /// 1, 2 or 5 times a power of ten, at least `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let p = pow(10, (log10(raw)).rounded(.down))
        for m in [1.0, 2, 5, 10] where m * p >= raw * 0.999 { return m * p }
        return 10 * p
    }

    /// Tick values in axis units (log10 for log axes).
    func ticks(_ r: ClosedRange<Double>, log: Bool) -> [Double] {
        if log {
            // Decades alone leave a one- or two-decade axis nearly bare; add 2× and 5× then.
            let multiples: [Double] = r.upperBound - r.lowerBound <= 2 ? [1, 2, 5] : [1]
            var out: [Double] = []
            for d in stride(from: r.lowerBound.rounded(.down), through: r.upperBound, by: 1) {
                for m in multiples {
                    let t = d + log10(m)
                    if t >= r.lowerBound - 1e-9, t <= r.upperBound + 1e-9 { out.append(t) }
                }
            }
            return out
        }
        let step = Self.niceStep((r.upperBound - r.lowerBound) / 5)
        let first = (r.lowerBound / step).rounded(.up) * step
        return stride(from: first, through: r.upperBound + step * 1e-6, by: step).map { abs($0) < step * 1e-9 ? 0 : $0 }
    }

    /// Screen x of data `v`.
    func px(_ v: Double, _ r: ClosedRange<Double>) -> Double {
        let t = x.log ? log10(v) : v
        return left + (t - r.lowerBound) / (r.upperBound - r.lowerBound) * plotWidth
    }

    /// Screen y of data `v`.
    func py(_ v: Double, _ r: ClosedRange<Double>) -> Double {
        let t = y.log ? log10(v) : v
        return top + plotHeight - (t - r.lowerBound) / (r.upperBound - r.lowerBound) * plotHeight
    }

    static func n(_ v: Double) -> String { String(format: "%.1f", v) }

    /// Tick texts of `axis` at `values` (axis units). A linear axis whose format prints two ticks
    /// alike (0.885 and 0.89 both as "0.89") gets as many decimals as its step needs.
    static func labels(_ values: [Double], _ axis: SVGAxis) -> [String] {
        let texts = values.map { axis.format(axis.log ? pow(10, $0) : $0) }
        guard !axis.log, values.count > 1, Set(texts).count < texts.count else { return texts }
        let decimals = max(0, Int((-log10(values[1] - values[0])).rounded(.up)))
        return values.map { String(format: "%.\(decimals)f", $0) }
    }

    /// The chart as one `<svg>` element with a `viewBox`, so it scales with its container.
    public func render() -> String {
        let xr = resolvedRange(x, values: series.flatMap { $0.points.map(\.x) })
        let yr = resolvedRange(y, values: series.flatMap { $0.points.map(\.y) })
        let (l, t, pw, ph) = (left, top, plotWidth, plotHeight)
        var s = "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Self.n(width)) \(Self.n(height))\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" role=\"img\" aria-label=\"\(Self.escape(title))\">\n"
        s += "<title>\(Self.escape(title))</title>\n"
        s += "<text class=\"title\" x=\"\(Self.n(l + pw / 2))\" y=\"22\" text-anchor=\"middle\">\(Self.escape(title))</text>\n"
        s += "<rect class=\"plot\" x=\"\(Self.n(l))\" y=\"\(Self.n(t))\" width=\"\(Self.n(pw))\" height=\"\(Self.n(ph))\" fill=\"none\" stroke=\"#888\"/>\n"
        let xTicks = ticks(xr, log: x.log), yTicks = ticks(yr, log: y.log)
        for (v, text) in zip(xTicks, Self.labels(xTicks, x)) {
            let sx = l + (v - xr.lowerBound) / (xr.upperBound - xr.lowerBound) * pw
            s += "<line class=\"grid\" x1=\"\(Self.n(sx))\" y1=\"\(Self.n(t))\" x2=\"\(Self.n(sx))\" y2=\"\(Self.n(t + ph))\" stroke=\"#e4e4e4\"/>"
            s += "<text class=\"tick\" x=\"\(Self.n(sx))\" y=\"\(Self.n(t + ph + 16))\" text-anchor=\"middle\">\(Self.escape(text))</text>\n"
        }
        for (v, text) in zip(yTicks, Self.labels(yTicks, y)) {
            let sy = t + ph - (v - yr.lowerBound) / (yr.upperBound - yr.lowerBound) * ph
            s += "<line class=\"grid\" x1=\"\(Self.n(l))\" y1=\"\(Self.n(sy))\" x2=\"\(Self.n(l + pw))\" y2=\"\(Self.n(sy))\" stroke=\"#e4e4e4\"/>"
            s += "<text class=\"tick\" x=\"\(Self.n(l - 6))\" y=\"\(Self.n(sy + 4))\" text-anchor=\"end\">\(Self.escape(text))</text>\n"
        }
        s += "<text class=\"axis-label\" x=\"\(Self.n(l + pw / 2))\" y=\"\(Self.n(height - 14))\" text-anchor=\"middle\">\(Self.escape(x.label))</text>\n"
        s += "<text class=\"axis-label\" x=\"16\" y=\"\(Self.n(t + ph / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(Self.n(t + ph / 2)))\">\(Self.escape(y.label))</text>\n"
        if diagonal {
            s += "<line class=\"chance\" x1=\"\(Self.n(px(xr.lowerBound, xr)))\" y1=\"\(Self.n(py(yr.lowerBound, yr)))\" x2=\"\(Self.n(px(xr.upperBound, xr)))\" y2=\"\(Self.n(py(yr.upperBound, yr)))\" stroke=\"#aaa\" stroke-dasharray=\"4 4\"/>\n"
        }
        for (i, serie) in series.enumerated() {
            let color = Self.palette[i % Self.palette.count]
            let dash = Self.dashes[i % Self.dashes.count]
            let dashAttribute = dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\""
            let visible = serie.points.filter { (!x.log || $0.x > 0) && (!y.log || $0.y > 0) && $0.x.isFinite && $0.y.isFinite }
            let coords = visible.map { (px($0.x, xr), py($0.y, yr)) }
            let points = coords.map { "\(Self.n($0.0)),\(Self.n($0.1))" }.joined(separator: " ")
            s += "<polyline class=\"series\" data-series=\"\(Self.escape(serie.name))\" points=\"\(points)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dashAttribute)/>\n"
            if serie.markers {
                for (cx, cy) in coords { s += "<circle cx=\"\(Self.n(cx))\" cy=\"\(Self.n(cy))\" r=\"3.5\" fill=\"\(color)\"/>" }
                if !coords.isEmpty { s += "\n" }
            }
            let ly = t + 8 + Double(i) * 20
            s += "<g class=\"legend\"><line x1=\"\(Self.n(l + pw + 12))\" y1=\"\(Self.n(ly))\" x2=\"\(Self.n(l + pw + 34))\" y2=\"\(Self.n(ly))\" stroke=\"\(color)\" stroke-width=\"3\"\(dashAttribute)/>"
            s += "<text x=\"\(Self.n(l + pw + 40))\" y=\"\(Self.n(ly + 4))\">\(Self.escape(serie.name))</text></g>\n"
        }
        return s + "</svg>"
    }

    /// Text safe inside XML elements and attributes.
    public static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
