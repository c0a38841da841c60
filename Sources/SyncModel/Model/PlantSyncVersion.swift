/// The version every executable prints with `--version`.
public enum PlantSyncVersion {
    public static let current = "0.1.0"
}
