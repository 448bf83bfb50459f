// The version of the Spruce tools, written into every artifact's metadata (`packed_by`).
// The CLI's `--version` should read it from here too, so the two never disagree.

/// Spruce's release version.
public enum SpruceVersion {
    /// `major.minor.patch`.
    public static let current = "0.1.0"
}
