// Typed errors of the data pipeline (CSV, datasets, splits, loader settings). Each case names the
// file, row, column or image involved so the CLI prints one clear line. Image decoding failures
// keep their own `ImageError` text inside `.badImage`.

/// A failure to read a dataset, a split or a loader setting.
public enum DatasetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The dataset folder does not exist or is not a directory.
    case directoryNotFound(path: String)
    /// A folder has neither a labels CSV nor class subfolders with images.
    case noLabelsOrClassFolders(path: String, labelsFile: String)
    /// A file could not be read.
    case unreadableFile(path: String, reason: String)
    /// A CSV file is not valid UTF-8.
    case notUTF8(path: String)
    /// A CSV file has no header row.
    case emptyCSV(path: String)
    /// A quoted CSV field is never closed.
    case unterminatedQuote(path: String, line: Int)
    /// A character follows a closing quote inside a field.
    case textAfterQuote(path: String, line: Int)
    /// A CSV row has a different number of fields than the header.
    case fieldCount(path: String, line: Int, expected: Int, found: Int)
    /// The header names the same column twice.
    case duplicateColumn(path: String, column: String)
    /// A required column is not in the header.
    case missingColumn(path: String, column: String, available: [String])
    /// A label is not a non-negative integer (or is out of range for the task).
    case badLabel(path: String, line: Int, column: String, value: String)
    /// A row has an empty image id.
    case emptyImageID(path: String, line: Int)
    /// The same image id appears on two rows.
    case duplicateImageID(path: String, line: Int, imageID: String)
    /// No image file exists for a row (`<id>.jpg`, `.jpeg` or `.png`).
    case missingImage(path: String, line: Int, imageID: String)
    /// An image file cannot be read or decoded; the detail is the `ImageError` text, naming the file.
    case badImage(path: String, detail: String)
    /// The dataset holds no images (after skipping, if enabled).
    case noImages(path: String)
    /// Only one class is present where two or more are needed.
    case singleClass(path: String)
    /// The model's head has a different number of classes from the data.
    case classCountMismatch(path: String, modelClasses: Int, dataClasses: Int, labelColumn: String)
    /// A setting is out of range (fractions, batch size, image size, normalisation).
    case invalidOption(String)
    /// A split file names an image the dataset does not have.
    case unknownImageInSplit(path: String, line: Int, imageID: String)
    /// A split file has a subset name other than train, validation (val) or test.
    case badSubset(path: String, line: Int, value: String)
    /// A split file cannot be written.
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .directoryNotFound(let path): "\(path): no such dataset folder"
        case .noLabelsOrClassFolders(let path, let labels):
            "\(path): no \(labels) and no class subfolders with .jpg/.png images"
        case .unreadableFile(let path, let reason): "\(path): cannot read: \(reason)"
        case .notUTF8(let path): "\(path): not UTF-8 text"
        case .emptyCSV(let path): "\(path): empty CSV (no header row)"
        case .unterminatedQuote(let path, let line): "\(path):\(line): quoted field is never closed"
        case .textAfterQuote(let path, let line): "\(path):\(line): text after a closing quote"
        case .fieldCount(let path, let line, let expected, let found):
            "\(path):\(line): \(found) fields, the header has \(expected)"
        case .duplicateColumn(let path, let column): "\(path): column '\(column)' appears twice in the header"
        case .missingColumn(let path, let column, let available):
            "\(path): no column '\(column)' (columns: \(available.joined(separator: ", ")))"
        case .badLabel(let path, let line, let column, let value):
            "\(path):\(line): label '\(value)' in column '\(column)' is not a class index (0, 1, ...)"
        case .emptyImageID(let path, let line): "\(path):\(line): empty image id"
        case .duplicateImageID(let path, let line, let id): "\(path):\(line): image id '\(id)' appears twice"
        case .missingImage(let path, let line, let id):
            "\(path): no image file for '\(id)' (row at line \(line); tried .jpg, .jpeg, .png)"
        case .badImage(_, let detail): detail
        case .noImages(let path): "\(path): no images"
        case .singleClass(let path): "\(path): all images have the same label; two classes are needed"
        case .classCountMismatch(let path, let m, let d, let column):
            "\(path): the model's head has \(m == 1 ? "one sigmoid output" : "\(m) classes") but the data has \(d) classes "
                + "(label column '\(column)'); choose the column with --label-column or a new head with 'spruce train --num-classes'"
        case .invalidOption(let message): message
        case .unknownImageInSplit(let path, let line, let id):
            "\(path):\(line): image '\(id)' is not in the dataset"
        case .badSubset(let path, let line, let value):
            "\(path):\(line): split '\(value)' is not train, validation or test"
        case .cannotWrite(let path, let reason): "\(path): cannot write: \(reason)"
        }
    }
}
