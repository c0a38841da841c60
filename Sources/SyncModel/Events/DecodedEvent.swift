/// A decoded Kafka message: what it changes, and which of its fields arrived as Debezium's
/// unavailable-value placeholder (and are therefore kept: the change's `kept` holds them too), for
/// StreamSync's `plantsync_debezium_placeholders_total`.
public struct DecodedEvent: Sendable, Hashable {
    /// What a message changes.
    public enum Effect: Sendable, Hashable {
        /// A change of a known key.
        case change(Change)
        /// A change that names its record by the producer's `_id` only: StreamSync resolves it
        /// against the consumer store first (`SourceChange`).
        case bySource(SourceChange)
    }

    public var effect: Effect
    public var placeholders: KeptFields

    public init(change: Change, placeholders: KeptFields = []) {
        effect = .change(change)
        self.placeholders = placeholders
    }

    public init(bySource change: SourceChange) {
        effect = .bySource(change)
        placeholders = []
    }

    /// The change, when the message names its key; `nil` for a `bySource` one.
    public var change: Change? {
        if case .change(let change) = effect { return change }
        return nil
    }
}
