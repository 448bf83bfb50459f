// The per-epoch checkpoint of a `Trainer` run: everything needed to continue to the same weights
// an uninterrupted run reaches. Written atomically (temporary file, fsync, rename); read with
// every length checked and a checksum over the whole file, so damage is an error, never a run
// from bad state. It is not an interchange format (the trained model is written as ONNX).
//
// File layout, little-endian, version 1:
//   offset  size  field
//   0       8     magic "SPRUCECK"
//   8       4     version (UInt32, 1)
//   12      4     header length H (UInt32)
//   16      H     header: UTF-8 JSON of `CheckpointHeader` (config hash, next epoch, optimizer step,
//                 dropout generator state, best epoch and score, per-epoch records)
//   16+H    4     tensor count T (UInt32)
//   ...           T tensors, each: name length (UInt32), name (UTF-8), rank (UInt32),
//                 rank × dimension (Int64), product(dims) × Float32
//   end-8   8     checksum: 64-bit FNV-1a over 8-byte words (tail bytes singly) of all bytes before it
// Tensor names: `model/<initializer>` (current weights, BatchNorm running statistics included),
// `best/<initializer>` (the best-validation weights so far), `optimizer/<slot>/<parameter>`,
// `mask/<parameter>` (the pruning masks in force, 1 kept and 0 pruned; absent when unmasked).

import Foundation
import SpruceCore
import _SpruceSupport

/// The JSON header of a checkpoint.
struct CheckpointHeader: Codable, Equatable {
    /// `TrainerConfiguration.fingerprint` of the run.
    var configHash: UInt64
    /// 0-based epoch the run continues with (= epochs finished).
    var nextEpoch: Int
    var optimizerStep: Int
    var generatorState: UInt64
    /// 1-based best epoch and its selection score (higher is better), nil before any epoch.
    var bestEpoch: Int?
    var bestScore: Double?
    var records: [EpochRecord]

    enum CodingKeys: String, CodingKey {
        case records
        case configHash = "config_hash", nextEpoch = "next_epoch", optimizerStep = "optimizer_step"
        case generatorState = "generator_state", bestEpoch = "best_epoch", bestScore = "best_score"
    }
}

/// A checkpoint in memory.
struct TrainingCheckpoint: Equatable {
    var header: CheckpointHeader
    /// Current initializers by name.
    var weights: [String: Tensor]
    /// Best-validation initializers by name (empty before the first epoch ends).
    var best: [String: Tensor]
    /// Optimizer slots keyed `<slot>/<parameter>`, as `OptimizerState`.
    var slots: [String: Tensor]
    /// Pruning masks in force by parameter name (true = kept).
    var masks: [String: [Bool]] = [:]

    static let fileName = "checkpoint.sprucekpt"
    static let magic: [UInt8] = Array("SPRUCECK".utf8)
    static let version: UInt32 = 1

    // MARK: - Encoding

    func encoded() throws -> [UInt8] {
        var out = TrainingCheckpoint.magic
        append(&out, TrainingCheckpoint.version)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = [UInt8](try encoder.encode(header))
        append(&out, UInt32(json.count))
        out += json
        let tensors = weights.map { ("model/" + $0.key, $0.value) } + best.map { ("best/" + $0.key, $0.value) }
            + slots.map { ("optimizer/" + $0.key, $0.value) }
            + masks.map { ("mask/" + $0.key, Tensor(shape: [$0.value.count], data: $0.value.map { $0 ? 1 : 0 })) }
        append(&out, UInt32(tensors.count))
        let floats = tensors.reduce(0) { $0 + $1.1.count }
        out.reserveCapacity(out.count + floats * 4 + tensors.count * 64 + 8)
        for (name, tensor) in tensors.sorted(by: { $0.0 < $1.0 }) {
            let bytes = Array(name.utf8)
            append(&out, UInt32(bytes.count))
            out += bytes
            append(&out, UInt32(tensor.shape.count))
            for d in tensor.shape { append(&out, UInt64(bitPattern: Int64(d))) }
            tensor.data.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        append(&out, TrainingCheckpoint.checksum(out[...]))
        return out
    }

    private func append(_ out: inout [UInt8], _ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    private func append(_ out: inout [UInt8], _ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    /// FNV-1a over little-endian 8-byte words, then the tail bytes: one multiply per 8 bytes keeps
    /// a 40 MB checkpoint's check cheap even in debug builds.
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        let prime: UInt64 = 0x0000_0100_0000_01B3
        bytes.withUnsafeBytes { raw in
            let words = raw.count / 8
            for i in 0..<words {
                h = (h ^ UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))) &* prime
            }
            for i in (words * 8)..<raw.count { h = (h ^ UInt64(raw[i])) &* prime }
        }
        return h
    }

    // MARK: - Decoding

    /// Parses a checkpoint file's bytes; any inconsistency is a `corruptCheckpoint` naming `path`.
    static func decode(_ bytes: [UInt8], path: String) throws -> TrainingCheckpoint {
        func corrupt(_ detail: String) -> TrainerError { .corruptCheckpoint(path: path, detail: detail) }
        guard bytes.count >= magic.count + 4 + 4 + 4 + 8 else { throw corrupt("file is \(bytes.count) bytes, too short") }
        guard Array(bytes[0..<8]) == magic else { throw corrupt("bad magic (not a Spruce checkpoint)") }
        let body = bytes.count - 8
        var reader = ByteReader(bytes: bytes, end: body, position: 8)
        let stored = ByteReader(bytes: bytes, end: bytes.count, position: body).peekUInt64()
        guard stored == checksum(bytes[0..<body]) else { throw corrupt("checksum mismatch (file damaged or truncated)") }
        guard let version = reader.uint32(), version == TrainingCheckpoint.version else {
            throw corrupt("unsupported version (this build reads version \(TrainingCheckpoint.version))")
        }
        guard let headerLength = reader.uint32(), let json = reader.bytes(Int(headerLength)) else {
            throw corrupt("header runs past the end of the file")
        }
        let header: CheckpointHeader
        do { header = try JSONDecoder().decode(CheckpointHeader.self, from: Data(json)) } catch {
            throw corrupt("header is not valid JSON")
        }
        guard header.nextEpoch >= 0, header.optimizerStep >= 0 else { throw corrupt("negative epoch or step in the header") }
        guard let count = reader.uint32() else { throw corrupt("tensor count missing") }
        var checkpoint = TrainingCheckpoint(header: header, weights: [:], best: [:], slots: [:])
        for index in 0..<Int(count) {
            guard let nameLength = reader.uint32(), let nameBytes = reader.bytes(Int(nameLength)),
                  let name = String(validating: nameBytes, as: UTF8.self) else {
                throw corrupt("tensor \(index): name runs past the end of the file or is not UTF-8")
            }
            guard let rank = reader.uint32(), rank <= 8 else { throw corrupt("tensor '\(name)': bad rank") }
            var shape: [Int] = []
            var elements = 1
            for _ in 0..<Int(rank) {
                guard let raw = reader.uint64(), raw <= UInt64(Int32.max) else { throw corrupt("tensor '\(name)': bad dimension") }
                shape.append(Int(raw))
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(raw))
                guard !overflow, product <= body else { throw corrupt("tensor '\(name)': shape \(shape) too large") }
                elements = product
            }
            guard let data = reader.floats(elements) else { throw corrupt("tensor '\(name)': data runs past the end of the file") }
            let tensor = Tensor(shape: shape, data: data)
            if name.hasPrefix("model/") {
                checkpoint.weights[String(name.dropFirst(6))] = tensor
            } else if name.hasPrefix("best/") {
                checkpoint.best[String(name.dropFirst(5))] = tensor
            } else if name.hasPrefix("optimizer/") {
                checkpoint.slots[String(name.dropFirst(10))] = tensor
            } else if name.hasPrefix("mask/") {
                guard tensor.data.allSatisfy({ $0 == 0 || $0 == 1 }) else { throw corrupt("mask '\(name)' holds values other than 0 and 1") }
                checkpoint.masks[String(name.dropFirst(5))] = tensor.data.map { $0 == 1 }
            } else {
                throw corrupt("tensor '\(name)' has an unknown prefix")
            }
        }
        guard reader.position == body else { throw corrupt("\(body - reader.position) unexpected bytes after the tensors") }
        return checkpoint
    }

    // MARK: - Files

    /// Writes `bytes` to `path` through a temporary sibling, fsync and rename: a crash leaves the
    /// previous checkpoint or the new one, never a mix.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        do { try FileAccess.writeAtomically(bytes, to: path) } catch {
            throw TrainerError.cannotWriteCheckpoint(path: path, reason: error.reason)
        }
    }

    /// Reads and decodes the checkpoint at `path`.
    static func read(path: String) throws -> TrainingCheckpoint {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainerError.corruptCheckpoint(path: path, detail: "cannot read the file")
        }
        return try decode([UInt8](data), path: path)
    }
}

/// Bounds-checked little-endian reads up to `end`.
private struct ByteReader {
    let bytes: [UInt8]
    let end: Int
    var position: Int

    mutating func uint32() -> UInt32? {
        guard position + 4 <= end else { return nil }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[position + i]) << (8 * UInt32(i)) }
        position += 4
        return v
    }

    mutating func uint64() -> UInt64? {
        guard position + 8 <= end else { return nil }
        let v = peekUInt64()
        position += 8
        return v
    }

    func peekUInt64() -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 where position + i < bytes.count { v |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        return v
    }

    mutating func bytes(_ count: Int) -> [UInt8]? {
        guard count >= 0, position + count <= end else { return nil }
        defer { position += count }
        return Array(bytes[position..<(position + count)])
    }

    mutating func floats(_ count: Int) -> [Float]? {
        guard count >= 0, count <= (end - position) / 4 else { return nil }
        let start = position
        position += count * 4
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            bytes.withUnsafeBytes { raw in
                for i in 0..<count {
                    out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start + i * 4, as: UInt32.self)))
                }
            }
            initialized = count
        }
    }
}
