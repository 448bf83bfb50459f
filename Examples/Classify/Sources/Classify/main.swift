// classify: scores an image with a .spruce binary classifier.
//   swift run -c release classify model.spruce image.ppm [--repeat N]
// The image is a binary PPM (P6, 8-bit RGB; `convert photo.jpg photo.ppm` makes one), resized to
// the model's input by nearest neighbour and scaled as the artifact records (input.mean,
// input.std). With --repeat N it also times N runs and prints the median, to compare this build
// with `make release` (see README.md).
import SpruceCore
import SpruceRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func fail(_ message: String) -> Never {
    let line = Array("classify: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(1)
}

/// A binary PPM's width, height and RGB bytes.
func readPPM(_ path: String) -> (width: Int, height: Int, rgb: [UInt8]) {
    guard let file = fopen(path, "rb") else { fail("cannot open \(path)") }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&buffer, 1, buffer.count, file)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    // Header: "P6", width, height, maxval (255), each separated by whitespace; comments start with #.
    var fields: [String] = [], i = 0
    while fields.count < 4 && i < bytes.count {
        if bytes[i] == UInt8(ascii: "#") { while i < bytes.count && bytes[i] != 10 { i += 1 }; continue }
        if bytes[i] == 32 || bytes[i] == 9 || bytes[i] == 10 || bytes[i] == 13 { i += 1; continue }
        var word = ""
        while i < bytes.count, ![32, 9, 10, 13].contains(bytes[i]) { word.append(Character(UnicodeScalar(bytes[i]))); i += 1 }
        fields.append(word)
    }
    i += 1  // the single whitespace after maxval
    guard fields.count == 4, fields[0] == "P6", let w = Int(fields[1]), let h = Int(fields[2]), fields[3] == "255",
          w > 0, h > 0, bytes.count >= i + w * h * 3 else { fail("\(path) is not an 8-bit binary PPM (P6)") }
    return (w, h, Array(bytes[i..<(i + w * h * 3)]))
}

let arguments = CommandLine.arguments
guard arguments.count == 3 || (arguments.count == 5 && arguments[3] == "--repeat") else {
    fail("usage: classify model.spruce image.ppm [--repeat N]")
}
let engine: Engine
do { engine = try Engine(path: arguments[1]) } catch { fail("\(error)") }
guard let input = engine.inputShapes.first, engine.inputShapes.count == 1, input.shape.count == 4,
      input.shape[1] == 3 || input.shape[3] == 3 else { fail("the model has no single image input") }
let channelsFirst = input.shape[1] == 3
let (height, width) = channelsFirst ? (input.shape[2], input.shape[3]) : (input.shape[1], input.shape[2])
let metadata = Dictionary(engine.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
let normalization = InputNormalization(metadata: metadata) ?? .unit

let image = readPPM(arguments[2])
var pixels = [Float](repeating: 0, count: 3 * height * width)
for y in 0..<height {
    for x in 0..<width {
        let sy = y * image.height / height, sx = x * image.width / width
        for c in 0..<3 {
            pixels[channelsFirst ? (c * height + y) * width + x : (y * width + x) * 3 + c] =
                Float(image.rgb[(sy * image.width + sx) * 3 + c]) / 255
        }
    }
}
normalization.normalize(&pixels, channelsFirst: channelsFirst, pixelsPerImage: height * width)
let tensor = Tensor(shape: [1] + Array(input.shape.dropFirst()), data: pixels)
do {
    let outputs = try engine.run([input.name: tensor])
    guard let name = engine.outputShapes.first?.name, let score = outputs[name]?.data.first else { fail("no output") }
    print("\(arguments[2]): \(score) \(score >= 0.5 ? "malignant" : "benign")")
    if arguments.count == 5, let repeats = Int(arguments[4]), repeats > 0 {
        var times: [Double] = []
        for _ in 0..<repeats {
            var start = timespec(), end = timespec()
            clock_gettime(CLOCK_MONOTONIC, &start)
            _ = try engine.run([input.name: tensor])
            clock_gettime(CLOCK_MONOTONIC, &end)
            times.append(Double(end.tv_sec - start.tv_sec) * 1e3 + Double(end.tv_nsec - start.tv_nsec) / 1e6)
        }
        print("median \(times.sorted()[repeats / 2]) ms over \(repeats) runs")
    }
} catch {
    fail("\(error)")
}
