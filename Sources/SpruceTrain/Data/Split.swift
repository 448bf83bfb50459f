// Train/validation/test assignment of a dataset's images: seeded, grouped (no group — e.g. one
// lesion — in two subsets), stratified by label, with the study's optional class balancing.
// A split is saved as CSV (`image_id,split`) next to results and read back to compare runs.
// It does not load pixels or batches (see ImageCache and BatchLoader).
import Foundation

/// One of the three subsets of a split.
public enum Subset: String, Sendable, CaseIterable, Codable {
    case train, validation, test

    /// Parses `train`, `validation` (also `val`, `valid`) or `test`, any case.
    public init?(name: String) {
        switch name.trimmingCharacters(in: .whitespaces).lowercased() {
        case "train": self = .train
        case "validation", "val", "valid": self = .validation
        case "test": self = .test
        default: return nil
        }
    }
}

/// How to balance classes, as the study did (all malignant images and as many random benign).
public enum Balancing: String, Sendable, CaseIterable {
    /// Keep every image.
    case none
    /// Before splitting, keep every image of the rarest class and as many random images of each
    /// other class; then split the kept images by group. This is what the study did to its data set.
    case overall
    /// Split all images by group first, then balance each subset the same way on its own.
    case perSubset
}

/// Settings of `Split.make`.
public struct SplitOptions: Sendable, Equatable {
    /// Seed of every random choice (group order, balancing).
    public var seed: UInt64
    /// Target fraction of images in each subset (≥ 0, summing to 1).
    public var trainFraction: Double
    public var validationFraction: Double
    public var testFraction: Double
    /// Split each label's groups separately so every subset gets its share of every class.
    public var stratify: Bool
    /// Class balancing, off by default.
    public var balancing: Balancing

    /// 60/20/20, stratified, unbalanced.
    public init(seed: UInt64 = 0, trainFraction: Double = 0.6, validationFraction: Double = 0.2,
                testFraction: Double = 0.2, stratify: Bool = true, balancing: Balancing = .none) {
        self.seed = seed
        self.trainFraction = trainFraction
        self.validationFraction = validationFraction
        self.testFraction = testFraction
        self.stratify = stratify
        self.balancing = balancing
    }

    var fractions: [Double] { [trainFraction, validationFraction, testFraction] }
}

/// Which subset each image belongs to; images not listed are unused (left out by balancing).
///
/// ```swift
/// let split = try Split.make(for: dataset, options: SplitOptions(seed: 7, balancing: .overall))
/// try split.write(to: "results/split.csv")
/// let train = split.indices(of: .train, in: dataset)
/// ```
public struct Split: Sendable, Equatable {
    /// Image id and subset, in dataset order.
    public var entries: [(imageID: String, subset: Subset)] { zip(imageIDs, subsets).map { ($0, $1) } }
    private var imageIDs: [String]
    private var subsets: [Subset]
    private var lookup: [String: Subset]

    /// A split from explicit assignments (order kept for writing).
    public init(_ assignments: [(imageID: String, subset: Subset)]) {
        imageIDs = assignments.map(\.imageID)
        subsets = assignments.map(\.subset)
        lookup = Dictionary(assignments.map { ($0.imageID, $0.subset) }, uniquingKeysWith: { _, last in last })
    }

    public static func == (a: Split, b: Split) -> Bool { a.imageIDs == b.imageIDs && a.subsets == b.subsets }

    /// The subset of `imageID`, nil when the image is unused.
    public func subset(of imageID: String) -> Subset? { lookup[imageID] }

    /// Number of images assigned to `subset`.
    public func count(of subset: Subset) -> Int { subsets.lazy.filter { $0 == subset }.count }

    /// Indices into `dataset.samples` of the images in `subset`, in dataset order.
    public func indices(of subset: Subset, in dataset: Dataset) -> [Int] {
        dataset.samples.indices.filter { lookup[dataset.samples[$0].imageID] == subset }
    }

    /// A seeded, grouped, optionally stratified and balanced split of `dataset`.
    public static func make(for dataset: Dataset, options: SplitOptions = SplitOptions()) throws -> Split {
        let fractions = options.fractions
        guard fractions.allSatisfy({ $0.isFinite && $0 >= 0 }), abs(fractions.reduce(0, +) - 1) < 1e-6 else {
            throw DatasetError.invalidOption("split fractions \(fractions.map { "\($0)" }.joined(separator: "/")) must be ≥ 0 and sum to 1")
        }
        let samples = dataset.samples
        var candidates = Array(samples.indices)
        if options.balancing == .overall {
            candidates = balance(candidates, samples: samples, rng: DataRNG(seed: options.seed, keys: 1))
        }

        // Groups in order of first appearance; a group's stratum is its label, or one extra
        // stratum for groups whose images disagree (they cannot be stratified).
        var groupIndex: [String: Int] = [:]
        var groups: [[Int]] = []
        for i in candidates {
            if let g = groupIndex[samples[i].group] { groups[g].append(i) } else {
                groupIndex[samples[i].group] = groups.count
                groups.append([i])
            }
        }
        let mixed = dataset.classNames.count
        var strata: [Int: [Int]] = [:]
        for (g, members) in groups.enumerated() {
            let first = samples[members[0]].label
            let stratum = !options.stratify ? 0 : members.allSatisfy({ samples[$0].label == first }) ? first : mixed
            strata[stratum, default: []].append(g)
        }

        var assignment = [Subset?](repeating: nil, count: samples.count)
        for stratum in strata.keys.sorted() {
            var order = strata[stratum]!
            var rng = DataRNG(seed: options.seed, keys: 2, UInt64(stratum))
            rng.shuffle(&order)
            let total = Double(order.reduce(0) { $0 + groups[$1].count })
            var assigned = [0.0, 0.0, 0.0]
            for g in order {
                // The subset furthest below its target takes the group; ties go to the earlier of
                // train, validation, test. Subsets with fraction 0 never receive anything.
                var best = -1
                var bestDeficit = -Double.infinity
                for s in 0..<3 where fractions[s] > 0 {
                    let deficit = fractions[s] * total - assigned[s]
                    if deficit > bestDeficit { best = s; bestDeficit = deficit }
                }
                assigned[best] += Double(groups[g].count)
                for i in groups[g] { assignment[i] = Subset.allCases[best] }
            }
        }

        if options.balancing == .perSubset {
            var keep = [Bool](repeating: false, count: samples.count)
            for (s, subset) in Subset.allCases.enumerated() {
                let members = samples.indices.filter { assignment[$0] == subset }
                let rng = DataRNG(seed: options.seed, keys: 3, UInt64(s))
                for i in balance(members, samples: samples, rng: rng) { keep[i] = true }
            }
            for i in samples.indices where !keep[i] { assignment[i] = nil }
        }
        return Split(samples.indices.compactMap { i in assignment[i].map { (samples[i].imageID, $0) } })
    }

    /// `indices` reduced to every image of the rarest present class and as many random images of
    /// each other class, returned in their original order.
    private static func balance(_ indices: [Int], samples: [DatasetSample], rng: DataRNG) -> [Int] {
        var rng = rng
        var byClass: [Int: [Int]] = [:]
        for i in indices { byClass[samples[i].label, default: []].append(i) }
        guard let smallest = byClass.values.map(\.count).min() else { return [] }
        var keep = Set<Int>()
        for label in byClass.keys.sorted() {
            var members = byClass[label]!
            rng.shuffle(&members)
            keep.formUnion(members.prefix(smallest))
        }
        return indices.filter { keep.contains($0) }
    }

    /// The split as CSV text: header `image_id,split`, one row per assigned image.
    public func csvText() -> String {
        var text = "image_id,split\n"
        for (id, subset) in zip(imageIDs, subsets) { text += Split.quoted(id) + "," + subset.rawValue + "\n" }
        return text
    }

    /// Writes `csvText()` to `path` atomically (temporary file, then rename).
    public func write(to path: String) throws {
        do { try Data(csvText().utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw DatasetError.cannotWrite(path: path, reason: error.localizedDescription)
        }
    }

    /// Reads a split CSV (`image_id,split`); with `dataset`, every id must be one of its images.
    public static func read(from path: String, dataset: Dataset? = nil) throws -> Split {
        let table = try CSVTable.read(path: path)
        let idColumn = try table.column("image_id")
        let splitColumn = try table.column("split")
        let known = dataset.map { Set($0.samples.map(\.imageID)) }
        var seen = Set<String>()
        var entries: [(imageID: String, subset: Subset)] = []
        for (row, line) in zip(table.rows, table.lines) {
            let id = row[idColumn].trimmingCharacters(in: .whitespaces)
            guard !id.isEmpty else { throw DatasetError.emptyImageID(path: path, line: line) }
            guard let subset = Subset(name: row[splitColumn]) else {
                throw DatasetError.badSubset(path: path, line: line, value: row[splitColumn])
            }
            guard seen.insert(id).inserted else { throw DatasetError.duplicateImageID(path: path, line: line, imageID: id) }
            if let known, !known.contains(id) { throw DatasetError.unknownImageInSplit(path: path, line: line, imageID: id) }
            entries.append((id, subset))
        }
        return Split(entries)
    }

    private static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
