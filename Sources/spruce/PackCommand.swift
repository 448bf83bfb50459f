// `spruce pack`: ONNX → lowered, optionally pruned and int8 → `.spruce`, with a short summary.
// The work is PackJob's (SprucePipeline: the pack recipe on the same pipeline as compress); this
// file parses options and prints the report.
import ArgumentParser
import Foundation
import SpruceCore
import SprucePipeline
import SpruceTrain

/// `spruce pack MODEL.onnx -o MODEL.spruce [--int8] [--sparsity S] [--prune-all] [--zstd-level N]`
struct PackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Pack a model into a compact .spruce artifact (lower, prune, encode, quantize).",
        discussion: """
            The model is lowered for inference (BatchNorm folded into convolutions, ReLU/ReLU6 \
            fused, Dropout and Identity removed). With --sparsity S the conv and Gemm weights are \
            pruned once by magnitude so that a fraction S of them (all together) is zero: one \
            global threshold, but no layer loses more than 98 % of its weights, and unless \
            --prune-all is given the first conv, depthwise convs and the classifier (last) Gemm \
            are left dense when each holds at most 2 % of the conv/Gemm weights; the other layers \
            prune harder to make up for them. With --uniform every pruned layer loses the same \
            fraction instead (tfmot's per-layer rule). This is the quick path: no data and no fine-tuning, \
            so accuracy can drop at high sparsity. Pack runs the stages of compress without data: \
            load → fold → prune → quantize → encode → pack.

            Each conv/Gemm weight is then stored dense, CSR or bitmask, whichever takes the fewest \
            bytes after zstd; --int8 stores the values of all but the first conv as int8 with one \
            scale per output channel, each value rounded to the nearest step; --bits 2 to 7 store \
            fewer steps (±1 … ±63 times the scale), packed that many bits to a value (format 2.0). \
            With --calibrate, \
            the model first runs on the given images (a few dozen representative ones, not your \
            test images) and each layer's weights are rounded up or down so that its outputs on \
            them move least (GPTQ); the scales and the format stay the same. The file is written \
            whole or not at all.

            Examples:
              spruce pack model.onnx -o model.spruce
              spruce pack model.onnx -o model-90.spruce --sparsity 0.9 --int8
              spruce pack model.onnx -o m8.spruce --int8 --calibrate calib/
              spruce pack model.onnx -o m4.spruce --sparsity 0.75 --bits 4 --calibrate calib/
            """)

    @OptionGroup var options: ModelOptions

    @Option(name: [.short, .long], help: ArgumentHelp("The artifact to write.", valueName: "model.spruce"))
    var output: String

    @Flag(help: "Store conv and Gemm weights as int8 (symmetric, one scale per output channel; the first conv stays float32).")
    var int8 = false

    @Option(help: ArgumentHelp("Bits per quantized weight value: 8 (int8, what --int8 stores) or 2 to 7, packed (format 2.0); implies --int8.",
                               valueName: "N"))
    var bits: Int?

    @Option(help: ArgumentHelp("Overall fraction of conv/Gemm weights to prune to zero, in [0, 1).", valueName: "S"))
    var sparsity: Double?

    @Flag(help: "Also prune the small first conv, depthwise convs and classifier Gemm.")
    var pruneAll = false

    @Flag(help: "Prune every pruned layer by the same fraction instead of one global magnitude threshold.")
    var uniform = false

    @Option(parsing: .upToNextOption,
            help: ArgumentHelp("Images (.jpg/.png files or folders of them) that choose how --int8 rounds each weight.",
                               valueName: "image-or-folder"))
    var calibrate: [String] = []

    @Option(help: ArgumentHelp("zstd compression level, 1 (fastest) to 19 (smallest).", valueName: "N"))
    var zstdLevel = 6

    @Option(help: ArgumentHelp("Pixel scaling the model takes, recorded in the artifact for spruce run, C and Python: unit ([0, 1]), symmetric ([-1, 1]) or imagenet.",
                               valueName: "kind"))
    var scaling: String?

    func validate() throws {
        guard output.lowercased().hasSuffix(".spruce") else {
            throw ValidationError("--output must name a .spruce file, got '\(output)'")
        }
        if let sparsity, !(sparsity >= 0 && sparsity < 1) {
            throw ValidationError("--sparsity must be in [0, 1), got \(sparsity)")
        }
        if !calibrate.isEmpty && !int8 && bits == nil {
            throw ValidationError("--calibrate chooses how int8 values round; add --int8")
        }
        if let bits, !(2...8).contains(bits) {
            throw ValidationError("--bits must be between 2 and 8, got \(bits)")
        }
        if let scaling, InputNormalization(named: scaling) == nil {
            throw ValidationError("--scaling must be unit, symmetric or imagenet, got '\(scaling)'")
        }
        guard (1...19).contains(zstdLevel) else {
            throw ValidationError("--zstd-level must be between 1 and 19, got \(zstdLevel)")
        }
    }

    func run() throws {
        let images = try CalibrationImages.expand(calibrate)
        var packOptions = PackOptions(sparsity: sparsity, pruneAll: pruneAll, uniform: uniform, int8: int8 || bits != nil,
                                      zstdLevel: zstdLevel, calibrationImages: images, scaling: scaling)
        packOptions.valueBits = bits ?? 8
        let job = PackJob(options: packOptions)
        let progress = ProgressBox(ProgressReporter(descriptor: 2))
        let report = try job.run(source: options.model, destination: output) { done, total, node in
            progress.update(done: done, total: total, prefix: "rounding \(bits ?? 8)-bit values on \(images.count) images", status: node)
        }
        progress.clear()
        print(Self.text(report))
    }

    /// The summary printed after packing.
    static func text(_ r: PackReport) -> String {
        let s = r.summary
        let weights = s.tensors.filter(\.isWeight)
        let byEncoding = ["dense", "bitmask", "csr"].compactMap { e -> String? in
            let n = weights.filter { $0.encoding == e }.count
            return n == 0 ? nil : "\(n) \(e)"
        }
        var lines = ["packed \(r.source) -> \(r.destination)"]
        lines.append("  tensors:  \(s.tensors.count) (\(weights.count) conv/gemm weights: \(byEncoding.joined(separator: ", "))), "
                     + "values \(weights.first { $0.valueType.hasPrefix("int") }.map { String($0.valueType.prefix { $0 != "/" }) } ?? "float32")")
        var sparsityLine = "  sparsity: \(Format.percent(s.sparsity)) of \(Format.count(s.weightElements)) conv/gemm weights"
        if let p = r.pruning {
            sparsityLine += " (requested \(Format.percent(p.requested))"
            let protected = p.protectedLayers
            if !protected.isEmpty {
                let reasons = Dictionary(grouping: protected, by: { $0.protectedReason ?? "" })
                    .sorted { $0.key < $1.key }.map { "\($0.value.count) \($0.key)" }
                sparsityLine += "; left dense: \(reasons.joined(separator: ", "))"
            }
            sparsityLine += ")"
        }
        lines.append(sparsityLine)
        lines.append("  size:     \(Format.count(s.bytes)) bytes; dense float32 \(Format.count(s.denseBytes)) bytes "
                     + "(ratio \(String(format: "%.2f", s.ratio))x); ONNX file \(Format.count(r.sourceBytes)) bytes "
                     + "(\(String(format: "%.2f", s.bytes == 0 ? 0 : Double(r.sourceBytes) / Double(s.bytes)))x)")
        if r.pruning != nil {
            lines.append("  quick path: one-shot magnitude pruning, no fine-tuning was done; check accuracy on your data.")
        }
        return lines.joined(separator: "\n")
    }
}

/// The image files `--calibrate` names: files as given, folders as their .jpg/.jpeg/.png files
/// in name order.
enum CalibrationImages {
    static func expand(_ paths: [String]) throws -> [String] {
        var images: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ValidationError("--calibrate: \(path) does not exist")
            }
            guard isDirectory.boolValue else { images.append(path); continue }
            let found = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
                .filter(ImageLoader.isImagePath).sorted().map { (path as NSString).appendingPathComponent($0) }
            guard !found.isEmpty else { throw ValidationError("--calibrate: no .jpg, .jpeg or .png images in \(path)") }
            images += found
        }
        return images
    }
}

/// Number formatting shared by the report commands.
enum Format {
    /// `90.00%`.
    static func percent(_ fraction: Double) -> String { String(format: "%.2f%%", fraction * 100) }

    /// `1,234,567`.
    static func count(_ n: Int) -> String { ByteSize.grouped(n) }
}
