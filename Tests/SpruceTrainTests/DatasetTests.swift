// Tests of the CSV reader (quoting, CRLF, BOM, line numbers, malformed input), of Dataset loading
// from a labels CSV, class folders and the committed HAM10000 sample, of image decoding into the
// cache, and of every error path naming the file, row or column (and the skip-and-count option).
import Foundation
import Testing
@testable import SpruceTrain

/// Shared builders for the data tests.
enum DataTestSupport {
    /// `fixtures/images` of this repository (Tests/SpruceTrainTests/ → root).
    static var fixtureImages: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/images").path
    }

    /// A HAM10000-style folder: `labels.csv` with `rows` (image_id, lesion_id, dx, malignant) and
    /// a PNG per row in `images/` (skipping ids in `withoutImage`).
    static func hamFolder(_ dir: TempDir, rows: [(String, String, String, Int)], withoutImage: Set<String> = []) throws {
        try FileManager.default.createDirectory(atPath: dir.path + "/images", withIntermediateDirectories: true)
        var csv = "image_id,lesion_id,dx,malignant\n"
        for (id, lesion, dx, label) in rows {
            csv += "\(id),\(lesion),\(dx),\(label)\n"
            if !withoutImage.contains(id) { _ = try dir.write("images/\(id).png", TestImages.rgbPNG) }
        }
        _ = try dir.write("labels.csv", Array(csv.utf8))
    }

    /// `count` images in groups of 1–3, with about a quarter of the groups positive.
    static func syntheticRows(count: Int, seed: UInt64) -> [(String, String, String, Int)] {
        var rng = SplitMix64(state: seed)
        var rows: [(String, String, String, Int)] = []
        var group = 0
        while rows.count < count {
            let size = Int(rng.next() % 3) + 1
            let label = rng.next() % 4 == 0 ? 1 : 0
            for _ in 0..<min(size, count - rows.count) {
                rows.append((String(format: "IMG_%04d", rows.count), "L_\(group)", label == 1 ? "mel" : "nv", label))
            }
            group += 1
        }
        return rows
    }

    /// An in-memory dataset from synthetic rows (no files).
    static func syntheticDataset(count: Int, seed: UInt64) -> Dataset {
        let samples = syntheticRows(count: count, seed: seed).map {
            DatasetSample(imageID: $0.0, path: "/nonexistent/\($0.0).png", label: $0.3, group: $0.1, diagnosis: $0.2)
        }
        return Dataset(root: "synthetic", samples: samples, classNames: ["0", "1"])
    }
}

struct CSVTests {
    @Test func quotedFieldsCRLFAndBOM() throws {
        let text = "\u{FEFF}a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\r\n\r\n2,\"multi\nline\",\"\"\r\n3,plain,last"
        let table = try CSVTable.parse(text, path: "t.csv")
        #expect(table.header == ["a", "b", "c"])
        #expect(table.rows == [["1", "x, y", "say \"hi\""], ["2", "multi\nline", ""], ["3", "plain", "last"]])
        // The third record starts after the two-line quoted field.
        #expect(table.lines == [2, 4, 6])
    }

    @Test func emptyTrailingFieldAndFinalNewline() throws {
        let table = try CSVTable.parse("a,b\n1,\n", path: "t.csv")
        #expect(table.rows == [["1", ""]])
    }

    @Test("malformed CSV is an error naming file and line", arguments: [
        ("a,b\n1,2\n3\n", DatasetError.fieldCount(path: "t.csv", line: 3, expected: 2, found: 1)),
        ("a,b\n1,\"open\n", DatasetError.unterminatedQuote(path: "t.csv", line: 2)),
        ("a,b\n\"x\"y,2\n", DatasetError.textAfterQuote(path: "t.csv", line: 2)),
        ("a,a\n1,2\n", DatasetError.duplicateColumn(path: "t.csv", column: "a")),
        ("", DatasetError.emptyCSV(path: "t.csv")),
        ("\n\n", DatasetError.emptyCSV(path: "t.csv")),
    ])
    func malformed(text: String, expected: DatasetError) {
        #expect(throws: expected) { try CSVTable.parse(text, path: "t.csv") }
    }

    @Test func descriptionsNameFileAndLine() {
        let e = DatasetError.fieldCount(path: "labels.csv", line: 7, expected: 4, found: 3)
        #expect(e.description == "labels.csv:7: 3 fields, the header has 4")
    }
}

struct DatasetTests {
    @Test func loadsHAMLayout() throws {
        let dir = TempDir()
        try DataTestSupport.hamFolder(dir, rows: [("A", "L1", "nv", 0), ("B", "L1", "nv", 0), ("C", "L2", "mel", 1)])
        let data = try Dataset.load(directory: dir.path)
        #expect(data.samples.map(\.imageID) == ["A", "B", "C"])
        #expect(data.samples.map(\.label) == [0, 0, 1])
        #expect(data.samples.map(\.group) == ["L1", "L1", "L2"])
        #expect(data.samples.map(\.diagnosis) == ["nv", "nv", "mel"])
        #expect(data.samples[2].path == dir.path + "/images/C.png")
        #expect(data.classNames == ["0", "1"] && data.isBinary)
        #expect(data.classCounts == [2, 1])
        #expect(data.skipped.isEmpty)
    }

    @Test func customColumnsAndNoGroup() throws {
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path + "/pics", withIntermediateDirectories: true)
        _ = try dir.write("pics/x1.jpg", [])  // existence is enough for loading
        _ = try dir.write("pics/x2.png", [])
        _ = try dir.write("meta.csv", Array("file,cls\n\"x1\",1\nx2,0\n".utf8))
        var options = DatasetOptions()
        options.labelsFile = "meta.csv"
        options.imagesDirectory = "pics"
        options.imageIDColumn = "file"
        options.labelColumn = "cls"
        options.groupColumn = nil
        options.diagnosisColumn = nil
        let data = try Dataset.load(directory: dir.path, options: options)
        #expect(data.samples.map(\.path) == [dir.path + "/pics/x1.jpg", dir.path + "/pics/x2.png"])
        #expect(data.samples.map(\.group) == ["x1", "x2"])  // each image its own group
        #expect(data.samples.allSatisfy { $0.diagnosis == nil })
    }

    @Test func missingColumnNamesFileAndColumn() throws {
        let dir = TempDir()
        _ = try dir.write("labels.csv", Array("image_id,lesion_id,dx\nA,L1,nv\n".utf8))
        let error = #expect(throws: DatasetError.self) { try Dataset.load(directory: dir.path) }
        #expect(error == .missingColumn(path: dir.path + "/labels.csv", column: "malignant", available: ["image_id", "lesion_id", "dx"]))
        #expect(error?.description.contains("labels.csv: no column 'malignant'") == true)
    }

    @Test func namedGroupColumnMustExist() throws {
        let dir = TempDir()
        _ = try dir.write("labels.csv", Array("image_id,malignant\nA,0\n".utf8))
        #expect(throws: DatasetError.missingColumn(path: dir.path + "/labels.csv", column: "lesion_id", available: ["image_id", "malignant"])) {
            try Dataset.load(directory: dir.path)
        }
    }

    @Test("bad label values name row and column", arguments: ["yes", "-1", "0.5", ""])
    func badLabel(value: String) throws {
        let dir = TempDir()
        try DataTestSupport.hamFolder(dir, rows: [("A", "L1", "nv", 0)])
        _ = try dir.write("labels.csv", Array("image_id,lesion_id,dx,malignant\nA,L1,nv,0\nA2,L2,nv,\(value)\n".utf8))
        #expect(throws: DatasetError.badLabel(path: dir.path + "/labels.csv", line: 3, column: "malignant", value: value)) {
            try Dataset.load(directory: dir.path)
        }
    }

    @Test func duplicateAndEmptyIDs() throws {
        let dir = TempDir()
        try DataTestSupport.hamFolder(dir, rows: [("A", "L1", "nv", 0)])
        _ = try dir.write("labels.csv", Array("image_id,lesion_id,dx,malignant\nA,L1,nv,0\nA,L1,nv,0\n".utf8))
        #expect(throws: DatasetError.duplicateImageID(path: dir.path + "/labels.csv", line: 3, imageID: "A")) {
            try Dataset.load(directory: dir.path)
        }
        _ = try dir.write("labels.csv", Array("image_id,lesion_id,dx,malignant\n ,L1,nv,0\n".utf8))
        #expect(throws: DatasetError.emptyImageID(path: dir.path + "/labels.csv", line: 2)) {
            try Dataset.load(directory: dir.path)
        }
    }

    @Test func missingImageIsNamedOrSkippedAndCounted() throws {
        let dir = TempDir()
        try DataTestSupport.hamFolder(dir, rows: [("A", "L1", "nv", 0), ("B", "L2", "mel", 1), ("C", "L3", "nv", 0)],
                                      withoutImage: ["B"])
        let error = #expect(throws: DatasetError.self) { try Dataset.load(directory: dir.path) }
        #expect(error == .missingImage(path: dir.path + "/images/B.jpg", line: 3, imageID: "B"))
        #expect(error?.description.contains("no image file for 'B'") == true)

        var options = DatasetOptions()
        options.skipBadImages = true
        let data = try Dataset.load(directory: dir.path, options: options)
        #expect(data.samples.map(\.imageID) == ["A", "C"])
        #expect(data.skipped.map(\.imageID) == ["B"])
    }

    @Test func corruptImageIsNamedOrSkippedAndCounted() throws {
        let dir = TempDir()
        try DataTestSupport.hamFolder(dir, rows: [("A", "L1", "nv", 0), ("B", "L2", "mel", 1), ("C", "L3", "nv", 1)])
        _ = try dir.write("images/B.png", Array(TestImages.rgbPNG.prefix(40)))  // truncated
        let data = try Dataset.load(directory: dir.path)
        let error = #expect(throws: DatasetError.self) { try data.decodeImages(height: 4, width: 4) }
        guard case .badImage(let path, let detail)? = error else { Issue.record("wrong error \(String(describing: error))"); return }
        #expect(path == dir.path + "/images/B.png")
        #expect(error!.description.hasPrefix(dir.path + "/images/B.png: corrupt image"))
        #expect(detail.contains("B.png"))

        let cache = try data.decodeImages(height: 4, width: 4, skipBadImages: true)
        #expect(cache.dataset.samples.map(\.imageID) == ["A", "C"])
        #expect(cache.dataset.skipped.map(\.imageID) == ["B"])
        #expect(cache.dataset.skipped[0].reason.contains("corrupt"))
        #expect(cache.pixels.count == 2 * 4 * 4 * 3)
    }

    @Test func cachedPixelsMatchTheImageLoader() throws {
        let dir = TempDir()
        try DataTestSupport.hamFolder(dir, rows: (0..<7).map { ("I\($0)", "L\($0)", "nv", $0 % 2) })
        _ = try dir.write("images/I3.png", TestImages.grayPNG)
        let data = try Dataset.load(directory: dir.path)
        for threads in [1, 3] {
            let cache = try data.decodeImages(height: 3, width: 6, threads: threads)
            #expect(cache.count == 7)
            for i in 0..<7 {
                let expected = try ImageLoader.resizeBilinear(ImageLoader.loadImage(path: data.samples[i].path), height: 3, width: 6)
                let got = cache.pixels[(i * cache.bytesPerImage)..<((i + 1) * cache.bytesPerImage)]
                #expect(zip(got, expected).allSatisfy { abs(Float($0) / 255 - $1) <= 0.5 / 255 + 1e-6 })
            }
        }
    }

    @Test func allImagesBadIsAnError() throws {
        let dir = TempDir()
        try DataTestSupport.hamFolder(dir, rows: [("A", "L1", "nv", 0)])
        _ = try dir.write("images/A.png", [1, 2, 3])
        let data = try Dataset.load(directory: dir.path)
        #expect(throws: DatasetError.noImages(path: dir.path)) { try data.decodeImages(height: 2, width: 2, skipBadImages: true) }
        #expect(throws: DatasetError.invalidOption("image size 0x2: both must be positive")) { try data.decodeImages(height: 0, width: 2) }
    }

    @Test func classFolders() throws {
        let dir = TempDir()
        for (cls, files) in [("malignant", ["m2.png", "m1.jpg"]), ("benign", ["b1.png"]), ("empty", [String]())] {
            try FileManager.default.createDirectory(atPath: dir.path + "/" + cls, withIntermediateDirectories: true)
            for f in files { _ = try dir.write("\(cls)/\(f)", TestImages.rgbPNG) }
        }
        _ = try dir.write("malignant/notes.txt", [65])
        let data = try Dataset.load(directory: dir.path)
        #expect(data.classNames == ["benign", "malignant"])
        #expect(data.samples.map(\.imageID) == ["benign/b1.png", "malignant/m1.jpg", "malignant/m2.png"])
        #expect(data.samples.map(\.label) == [0, 1, 1])
        #expect(data.samples[1].path == dir.path + "/malignant/m1.jpg")
        #expect(data.samples.map(\.diagnosis) == ["benign", "malignant", "malignant"])
    }

    @Test func folderErrors() throws {
        #expect(throws: DatasetError.directoryNotFound(path: "/nonexistent/spruce-data")) {
            try Dataset.load(directory: "/nonexistent/spruce-data")
        }
        let dir = TempDir()
        #expect(throws: DatasetError.noLabelsOrClassFolders(path: dir.path, labelsFile: "labels.csv")) {
            try Dataset.load(directory: dir.path)
        }
        try FileManager.default.createDirectory(atPath: dir.path + "/only", withIntermediateDirectories: true)
        _ = try dir.write("only/a.png", TestImages.rgbPNG)
        #expect(throws: DatasetError.singleClass(path: dir.path)) { try Dataset.load(classFolders: dir.path) }
        #expect(throws: DatasetError.singleClass(path: dir.path)) { try Dataset.load(directory: dir.path) }
    }

    @Test func committedHAMSample() throws {
        let data = try Dataset.load(directory: DataTestSupport.fixtureImages)
        #expect(data.count == 24)
        #expect(data.classCounts == [12, 12])
        #expect(Set(data.samples.map(\.group)).count == 24)
        let cache = try data.decodeImages(height: 32, width: 32)
        #expect(cache.pixels.count == 24 * 32 * 32 * 3)
        #expect(cache.pixels.contains { $0 > 0 })
    }
}
