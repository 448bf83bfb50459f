// Tests of Split: deterministic for a seed, grouped (no group in two subsets), close to the
// requested fractions and stratified, the two balancing modes' counts, the CSV round trip and
// the read errors; on an in-memory dataset, a synthetic CSV folder and the committed HAM sample.
import Foundation
import Testing
@testable import SpruceTrain

struct SplitTests {
    /// Group → subsets it appears in, for every group of `dataset` present in `split`.
    func subsetsPerGroup(_ split: Split, _ dataset: Dataset) -> [String: Set<Subset>] {
        var result: [String: Set<Subset>] = [:]
        for s in dataset.samples { if let sub = split.subset(of: s.imageID) { result[s.group, default: []].insert(sub) } }
        return result
    }

    @Test("deterministic and grouped", arguments: [1, 2, 99] as [UInt64])
    func deterministicAndGrouped(seed: UInt64) throws {
        let data = DataTestSupport.syntheticDataset(count: 600, seed: 5)
        let a = try Split.make(for: data, options: SplitOptions(seed: seed))
        let b = try Split.make(for: data, options: SplitOptions(seed: seed))
        let other = try Split.make(for: data, options: SplitOptions(seed: seed + 1000))
        #expect(a == b)
        #expect(a != other)
        #expect(subsetsPerGroup(a, data).values.allSatisfy { $0.count == 1 })
        #expect(a.entries.count == 600)
        // Greedy group assignment lands within a few images of 60/20/20.
        #expect(abs(a.count(of: .train) - 360) <= 6)
        #expect(abs(a.count(of: .validation) - 120) <= 6)
        #expect(abs(a.count(of: .test) - 120) <= 6)
        // Stratified: each subset's positive share is close to the whole set's.
        let overall = Double(data.classCounts[1]) / 600
        for subset in Subset.allCases {
            let idx = a.indices(of: subset, in: data)
            let share = Double(idx.filter { data.samples[$0].label == 1 }.count) / Double(idx.count)
            #expect(abs(share - overall) < 0.03, "\(subset): \(share) vs \(overall)")
        }
    }

    @Test func customFractionsAndEmptySubset() throws {
        let data = DataTestSupport.syntheticDataset(count: 300, seed: 8)
        let split = try Split.make(for: data, options: SplitOptions(seed: 3, trainFraction: 0.8, validationFraction: 0, testFraction: 0.2))
        #expect(split.count(of: .validation) == 0)
        #expect(abs(split.count(of: .train) - 240) <= 4)
        #expect(split.count(of: .train) + split.count(of: .test) == 300)
    }

    @Test("invalid fractions are rejected", arguments: [(0.5, 0.2, 0.2), (0.7, -0.1, 0.4), (Double.nan, 0.5, 0.5)])
    func invalidFractions(f: (Double, Double, Double)) {
        let data = DataTestSupport.syntheticDataset(count: 10, seed: 1)
        #expect(throws: DatasetError.self) {
            try Split.make(for: data, options: SplitOptions(trainFraction: f.0, validationFraction: f.1, testFraction: f.2))
        }
    }

    @Test func unstratifiedIsStillGrouped() throws {
        let data = DataTestSupport.syntheticDataset(count: 200, seed: 2)
        let split = try Split.make(for: data, options: SplitOptions(seed: 4, stratify: false))
        #expect(subsetsPerGroup(split, data).values.allSatisfy { $0.count == 1 })
        #expect(split.entries.count == 200)
    }

    @Test func mixedLabelGroupsStayTogether() throws {
        var samples: [DatasetSample] = []
        for g in 0..<40 {
            for k in 0..<2 { samples.append(DatasetSample(imageID: "i\(g)_\(k)", path: "", label: g % 5 == 0 ? k : g % 2, group: "g\(g)")) }
        }
        let data = Dataset(root: "mixed", samples: samples, classNames: ["0", "1"])
        let split = try Split.make(for: data, options: SplitOptions(seed: 9))
        #expect(subsetsPerGroup(split, data).values.allSatisfy { $0.count == 1 })
    }

    @Test func overallBalancingKeepsEveryPositive() throws {
        let data = DataTestSupport.syntheticDataset(count: 600, seed: 5)
        let positives = data.classCounts[1]
        let split = try Split.make(for: data, options: SplitOptions(seed: 11, balancing: .overall))
        let used = data.samples.filter { split.subset(of: $0.imageID) != nil }
        #expect(used.filter { $0.label == 1 }.count == positives)
        #expect(used.filter { $0.label == 0 }.count == positives)
        #expect(split.entries.count == 2 * positives)
        #expect(subsetsPerGroup(split, data).values.allSatisfy { $0.count == 1 })
        #expect(try Split.make(for: data, options: SplitOptions(seed: 11, balancing: .overall)) == split)
    }

    @Test func perSubsetBalancingBalancesEachSubset() throws {
        let data = DataTestSupport.syntheticDataset(count: 600, seed: 5)
        let plain = try Split.make(for: data, options: SplitOptions(seed: 11))
        let split = try Split.make(for: data, options: SplitOptions(seed: 11, balancing: .perSubset))
        for subset in Subset.allCases {
            let all = plain.indices(of: subset, in: data)
            let kept = split.indices(of: subset, in: data)
            let pos = kept.filter { data.samples[$0].label == 1 }.count
            // Same groups as the unbalanced split, then every positive and as many negatives.
            #expect(Set(kept).isSubset(of: Set(all)))
            #expect(pos == all.filter { data.samples[$0].label == 1 }.count)
            #expect(kept.count == 2 * pos)
        }
    }

    @Test func csvRoundTrip() throws {
        let dir = TempDir()
        let data = DataTestSupport.syntheticDataset(count: 50, seed: 3)
        let split = try Split.make(for: data, options: SplitOptions(seed: 1))
        let path = dir.path + "/split.csv"
        try split.write(to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("image_id,split\n"))
        #expect(text.split(separator: "\n").count == 51)
        #expect(try Split.read(from: path) == split)
        #expect(try Split.read(from: path, dataset: data) == split)

        // Ids needing quotes survive; `val` reads as validation.
        let odd = Split([("a,b", .train), ("say \"x\"", .test)])
        try odd.write(to: path)
        #expect(try Split.read(from: path) == odd)
        _ = try dir.write("v.csv", Array("split,image_id\r\nval,A\r\nTEST,B\r\n".utf8))
        #expect(try Split.read(from: dir.path + "/v.csv") == Split([("A", .validation), ("B", .test)]))
    }

    @Test func readErrors() throws {
        let dir = TempDir()
        let data = DataTestSupport.syntheticDataset(count: 5, seed: 3)
        let path = dir.path + "/s.csv"
        _ = try dir.write("s.csv", Array("image_id,split\nIMG_0000,train\nIMG_0001,holdout\n".utf8))
        #expect(throws: DatasetError.badSubset(path: path, line: 3, value: "holdout")) { try Split.read(from: path) }
        _ = try dir.write("s.csv", Array("image_id,split\nIMG_0000,train\nNOPE,test\n".utf8))
        #expect(throws: DatasetError.unknownImageInSplit(path: path, line: 3, imageID: "NOPE")) { try Split.read(from: path, dataset: data) }
        _ = try dir.write("s.csv", Array("image_id,split\nIMG_0000,train\nIMG_0000,test\n".utf8))
        #expect(throws: DatasetError.duplicateImageID(path: path, line: 3, imageID: "IMG_0000")) { try Split.read(from: path) }
        _ = try dir.write("s.csv", Array("image_id,subset\nIMG_0000,train\n".utf8))
        #expect(throws: DatasetError.missingColumn(path: path, column: "split", available: ["image_id", "subset"])) { try Split.read(from: path) }
        #expect(throws: DatasetError.self) { try Split.read(from: dir.path + "/absent.csv") }
        #expect(throws: DatasetError.self) { try Split([]).write(to: "/nonexistent-dir/x/split.csv") }
    }

    @Test func syntheticCSVFolder() throws {
        let dir = TempDir()
        try DataTestSupport.hamFolder(dir, rows: DataTestSupport.syntheticRows(count: 60, seed: 12))
        let data = try Dataset.load(directory: dir.path)
        let a = try Split.make(for: data, options: SplitOptions(seed: 21))
        #expect(a == (try Split.make(for: data, options: SplitOptions(seed: 21))))
        #expect(subsetsPerGroup(a, data).values.allSatisfy { $0.count == 1 })
        #expect(Subset.allCases.allSatisfy { a.count(of: $0) > 0 })
    }

    @Test func committedHAMSample() throws {
        let data = try Dataset.load(directory: DataTestSupport.fixtureImages)
        let a = try Split.make(for: data, options: SplitOptions(seed: 42))
        #expect(a == (try Split.make(for: data, options: SplitOptions(seed: 42))))
        #expect(subsetsPerGroup(a, data).values.allSatisfy { $0.count == 1 })
        // 12 + 12 single-image lesions, stratified: each class gives 7/3/2 or so to every subset.
        for subset in Subset.allCases {
            let idx = a.indices(of: subset, in: data)
            let pos = idx.filter { data.samples[$0].label == 1 }.count
            #expect(pos == idx.count - pos)
        }
        #expect(a.count(of: .train) >= 12 && a.count(of: .test) >= 4)
    }
}
