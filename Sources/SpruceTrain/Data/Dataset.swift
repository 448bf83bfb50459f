// A labelled image dataset as a list of samples (id, file, label, group, diagnosis), read from a
// labels CSV + images folder (HAM10000 layout by default) or from class subfolders.
// It checks that every image file exists but decodes nothing: see `Dataset+Decode.swift` for
// pixels and `Split` for train/validation/test assignment.
import Foundation

/// One labelled image of a dataset.
public struct DatasetSample: Sendable, Equatable, Hashable {
    /// Unique id (the CSV's image id, or `class/file.jpg` for class folders).
    public var imageID: String
    /// Path of the image file.
    public var path: String
    /// Class index (0/1 for binary tasks).
    public var label: Int
    /// Images with the same group (e.g. one lesion) always land in the same split.
    public var group: String
    /// Diagnosis (`dx`) for error breakdowns, when the data has one.
    public var diagnosis: String?
}

/// An image the dataset left out because its file was missing or undecodable (skip option on).
public struct SkippedImage: Sendable, Equatable {
    /// The image id.
    public var imageID: String
    /// The file (or the expected file) of the image.
    public var path: String
    /// Why it was skipped, one line.
    public var reason: String
}

/// Where a dataset's labels and images are and how to read them.
public struct DatasetOptions: Sendable, Equatable {
    /// Name of the labels CSV inside the dataset folder.
    public var labelsFile = "labels.csv"
    /// Folder of the image files, relative to the dataset folder; nil means `images/` when it
    /// exists and the dataset folder itself otherwise.
    public var imagesDirectory: String? = nil
    /// Column with the image id; the file is `<id>.jpg`, `<id>.jpeg` or `<id>.png`.
    public var imageIDColumn = "image_id"
    /// Column with the class: an index (0/1 for binary, 0..<N), or names (the classes are then
    /// the column's distinct values, sorted; e.g. HAM10000's `dx` for its seven diagnoses).
    public var labelColumn = "malignant"
    /// Column grouping images (no group is split across subsets); nil or absent: each image alone.
    public var groupColumn: String? = "lesion_id"
    /// Column with the diagnosis; used when present, never required.
    public var diagnosisColumn: String? = "dx"
    /// Skip (and count) missing or undecodable images instead of failing on the first one.
    public var skipBadImages = false

    /// The HAM10000 layout: `labels.csv`, `images/`, `image_id`, `malignant`, `lesion_id`, `dx`.
    public init() {}

    /// The HAM10000 layout with the class read from `labelColumn` (nil: `malignant`).
    public init(labelColumn: String?) {
        if let labelColumn { self.labelColumn = labelColumn }
    }
}

/// A labelled image dataset: samples in file order plus what was skipped.
///
/// ```swift
/// let data = try Dataset.load(directory: "../shared/data/ham10000")
/// let cached = try data.decodeImages(height: 96, width: 96)
/// let split = try Split.make(for: cached.dataset, options: SplitOptions(seed: 1))
/// ```
public struct Dataset: Sendable, Equatable {
    /// The folder the dataset was read from (names it in errors).
    public var root: String
    /// The samples, in CSV row order (or sorted class then file name).
    public var samples: [DatasetSample]
    /// Class names by index (`["0", "1"]` for a 0/1 label column; folder names for class folders).
    public var classNames: [String]
    /// Images left out under `skipBadImages`, with the reason.
    public var skipped: [SkippedImage]

    /// A dataset from parts (tests, or data built in memory).
    public init(root: String, samples: [DatasetSample], classNames: [String], skipped: [SkippedImage] = []) {
        self.root = root
        self.samples = samples
        self.classNames = classNames
        self.skipped = skipped
    }

    /// Number of samples.
    public var count: Int { samples.count }
    /// Whether the task has two classes (sigmoid output, label 1 positive).
    public var isBinary: Bool { classNames.count == 2 }
    /// Number of samples of each class.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classNames.count)
        for s in samples where s.label < counts.count { counts[s.label] += 1 }
        return counts
    }

    /// Reads `directory`: the labels CSV when it exists, class subfolders otherwise.
    public static func load(directory: String, options: DatasetOptions = DatasetOptions()) throws -> Dataset {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw DatasetError.directoryNotFound(path: directory)
        }
        if FileManager.default.fileExists(atPath: join(directory, options.labelsFile)) {
            return try load(csvDirectory: directory, options: options)
        }
        do { return try load(classFolders: directory) } catch DatasetError.noLabelsOrClassFolders {
            throw DatasetError.noLabelsOrClassFolders(path: directory, labelsFile: options.labelsFile)
        }
    }

    /// Reads `<directory>/<labelsFile>` and finds each row's image file.
    public static func load(csvDirectory directory: String, options: DatasetOptions = DatasetOptions()) throws -> Dataset {
        let csvPath = join(directory, options.labelsFile)
        let table = try CSVTable.read(path: csvPath)
        let idColumn = try table.column(options.imageIDColumn)
        let labelColumn = try table.column(options.labelColumn)
        // A named group column that is absent is an error: silently splitting by image would leak.
        let groupColumn = try options.groupColumn.map { try table.column($0) }
        let diagnosisColumn = options.diagnosisColumn.flatMap { table.header.firstIndex(of: $0) }
        let imagesDir = resolveImagesDirectory(directory, options.imagesDirectory)
        let existing = filesIn(imagesDir)

        var samples: [DatasetSample] = []
        var skipped: [SkippedImage] = []
        var seen = Set<String>()
        var rawLabels: [String] = []
        var sawIndex = false
        var firstText: (line: Int, value: String)?
        for (row, line) in zip(table.rows, table.lines) {
            let id = row[idColumn].trimmingCharacters(in: .whitespaces)
            guard !id.isEmpty else { throw DatasetError.emptyImageID(path: csvPath, line: line) }
            guard seen.insert(id).inserted else {
                throw DatasetError.duplicateImageID(path: csvPath, line: line, imageID: id)
            }
            let rawLabel = row[labelColumn].trimmingCharacters(in: .whitespaces)
            // Class indices (0/1, or 0..<N) as written; a column with no index at all is
            // categorical. A mix is an error at the first label that is not an index.
            let index = parseLabel(rawLabel)
            if index == nil, firstText == nil { firstText = (line, rawLabel) }
            if index != nil { sawIndex = true }
            if rawLabel.isEmpty || (sawIndex && firstText != nil) {
                let (badLine, value) = rawLabel.isEmpty ? (line, rawLabel) : firstText!
                throw DatasetError.badLabel(path: csvPath, line: badLine, column: options.labelColumn, value: value)
            }
            guard let file = imageFile(for: id, in: imagesDir, existing: existing) else {
                if options.skipBadImages {
                    skipped.append(SkippedImage(imageID: id, path: join(imagesDir, id + ".jpg"), reason: "no image file"))
                    continue
                }
                throw DatasetError.missingImage(path: join(imagesDir, id + ".jpg"), line: line, imageID: id)
            }
            let group = groupColumn.map { row[$0].trimmingCharacters(in: .whitespaces) } ?? ""
            let diagnosis = diagnosisColumn.map { row[$0].trimmingCharacters(in: .whitespaces) }
            samples.append(DatasetSample(imageID: id, path: file, label: 0,
                                         group: group.isEmpty ? id : group, diagnosis: diagnosis))
            rawLabels.append(rawLabel)
        }
        guard !samples.isEmpty else { throw DatasetError.noImages(path: csvPath) }
        // Categorical labels: the classes are the column's distinct values in sorted order.
        let classNames: [String]
        if sawIndex {
            for i in samples.indices { samples[i].label = parseLabel(rawLabels[i])! }
            classNames = (0...max(samples.map(\.label).max() ?? 0, 1)).map(String.init)
        } else {
            classNames = Set(rawLabels).sorted()
            guard classNames.count >= 2 else { throw DatasetError.singleClass(path: csvPath) }
            let index = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
            for i in samples.indices { samples[i].label = index[rawLabels[i]]! }
        }
        return Dataset(root: directory, samples: samples, classNames: classNames, skipped: skipped)
    }

    /// Reads `DIR/<class>/*.jpg|jpeg|png`: classes are the subfolders in sorted order (index =
    /// position, so with two classes the later name is label 1), files sorted within each class.
    public static func load(classFolders directory: String) throws -> Dataset {
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: directory) else {
            throw DatasetError.directoryNotFound(path: directory)
        }
        var classes: [(name: String, files: [String])] = []
        for name in entries.sorted() where !name.hasPrefix(".") {
            var isDir: ObjCBool = false
            let path = join(directory, name)
            guard fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { continue }
            let files = ((try? fm.contentsOfDirectory(atPath: path)) ?? [])
                .filter { !$0.hasPrefix(".") && ImageLoader.isImagePath($0) }.sorted()
            if !files.isEmpty { classes.append((name, files)) }
        }
        guard !classes.isEmpty else {
            throw DatasetError.noLabelsOrClassFolders(path: directory, labelsFile: DatasetOptions().labelsFile)
        }
        guard classes.count >= 2 else { throw DatasetError.singleClass(path: directory) }
        var samples: [DatasetSample] = []
        for (label, entry) in classes.enumerated() {
            for file in entry.files {
                let id = entry.name + "/" + file
                samples.append(DatasetSample(imageID: id, path: join(join(directory, entry.name), file),
                                             label: label, group: id, diagnosis: entry.name))
            }
        }
        return Dataset(root: directory, samples: samples, classNames: classes.map(\.name))
    }

    /// The subset of samples at `indices`, in that order (the skipped list is kept).
    public func subset(_ indices: [Int]) -> Dataset {
        Dataset(root: root, samples: indices.map { samples[$0] }, classNames: classNames, skipped: skipped)
    }

    static func join(_ a: String, _ b: String) -> String {
        if b.hasPrefix("/") { return b }
        if a.isEmpty || b == "." { return a }
        return a.hasSuffix("/") ? a + b : a + "/" + b
    }

    private static func parseLabel(_ text: String) -> Int? {
        if let v = Int(text), v >= 0 { return v }
        // "1.0" from a pandas export is still the class 1.
        if let d = Double(text), d >= 0, d == d.rounded(), d < 1e6 { return Int(d) }
        return nil
    }

    private static func resolveImagesDirectory(_ root: String, _ option: String?) -> String {
        if let option { return join(root, option) }
        var isDir: ObjCBool = false
        let images = join(root, "images")
        return FileManager.default.fileExists(atPath: images, isDirectory: &isDir) && isDir.boolValue ? images : root
    }

    /// The folder listing once, so 10k rows cost one directory read instead of 30k stat calls.
    private static func filesIn(_ directory: String) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
    }

    private static func imageFile(for id: String, in directory: String, existing: Set<String>) -> String? {
        if ImageLoader.isImagePath(id), existing.contains(id) || (id.contains("/") && FileManager.default.fileExists(atPath: join(directory, id))) {
            return join(directory, id)
        }
        for ext in ["jpg", "jpeg", "png", "JPG", "JPEG", "PNG"] {
            let name = id + "." + ext
            if existing.contains(name) || (id.contains("/") && FileManager.default.fileExists(atPath: join(directory, name))) {
                return join(directory, name)
            }
        }
        return nil
    }
}
