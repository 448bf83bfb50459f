// A small RFC 4180 CSV reader for label and split files: quoted fields with doubled quotes and
// embedded commas or newlines, LF or CRLF line ends, a UTF-8 byte-order mark, blank lines skipped.
// It does not guess delimiters or types; every field is a String.
import Foundation

/// A parsed CSV file: a header and rows of equal width, each with the line it starts on.
public struct CSVTable: Sendable, Equatable {
    /// Column names from the first row.
    public var header: [String]
    /// Data rows; each has `header.count` fields.
    public var rows: [[String]]
    /// 1-based line number each row starts on, for error messages.
    public var lines: [Int]
    /// The file name used in errors.
    public var path: String

    /// Reads and parses the CSV file at `path`.
    public static func read(path: String) throws -> CSVTable {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw DatasetError.unreadableFile(path: path, reason: FileManager.default.fileExists(atPath: path)
                ? error.localizedDescription : "no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw DatasetError.notUTF8(path: path) }
        return try parse(text, path: path)
    }

    /// Parses CSV `text`; `path` only names the source in errors.
    public static func parse(_ text: String, path: String) throws -> CSVTable {
        var records: [(line: Int, fields: [String])] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1, recordLine = 1
        var inQuotes = false, afterQuote = false, fieldStarted = false
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }

        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            afterQuote = false
            fieldStarted = false
        }
        func endRecord() {
            endField()
            // A blank line is one empty field: skip it rather than report a short row.
            if !(fields.count == 1 && fields[0].isEmpty) { records.append((recordLine, fields)) }
            fields.removeAll(keepingCapacity: true)
        }

        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if inQuotes {
                if c == UInt8(ascii: "\"") {
                    if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\"") {
                        field.append(c)
                        i += 1
                    } else {
                        inQuotes = false
                        afterQuote = true
                    }
                } else {
                    if c == UInt8(ascii: "\n") { line += 1 }
                    field.append(c)
                }
            } else {
                switch c {
                case UInt8(ascii: ","):
                    endField()
                case UInt8(ascii: "\r") where i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "\n"):
                    break  // the LF that follows ends the record
                case UInt8(ascii: "\n"):
                    endRecord()
                    line += 1
                    recordLine = line
                case UInt8(ascii: "\"") where !fieldStarted:
                    inQuotes = true
                    fieldStarted = true
                default:
                    if afterQuote { throw DatasetError.textAfterQuote(path: path, line: line) }
                    field.append(c)
                    fieldStarted = true
                }
            }
            i += 1
        }
        if inQuotes { throw DatasetError.unterminatedQuote(path: path, line: recordLine) }
        if !field.isEmpty || !fields.isEmpty || afterQuote { endRecord() }

        guard let first = records.first else { throw DatasetError.emptyCSV(path: path) }
        let header = first.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        var seen = Set<String>()
        for name in header where !seen.insert(name).inserted {
            throw DatasetError.duplicateColumn(path: path, column: name)
        }
        var table = CSVTable(header: header, rows: [], lines: [], path: path)
        for record in records.dropFirst() {
            guard record.fields.count == header.count else {
                throw DatasetError.fieldCount(path: path, line: record.line, expected: header.count, found: record.fields.count)
            }
            table.rows.append(record.fields)
            table.lines.append(record.line)
        }
        return table
    }

    /// Index of the column named `name`, or a `.missingColumn` error.
    public func column(_ name: String) throws -> Int {
        guard let index = header.firstIndex(of: name) else {
            throw DatasetError.missingColumn(path: path, column: name, available: header)
        }
        return index
    }
}
