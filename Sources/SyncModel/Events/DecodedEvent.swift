/// A decoded Kafka message: the change, and which of its fields arrived as Debezium's unavailable-value
/// placeholder (and are therefore kept: `change.kept` holds them too), for StreamSync's
/// `plantsync_debezium_placeholders_total`.
public struct DecodedEvent: Sendable, Hashable {
    public var change: Change
    public var placeholders: KeptFields

    public init(change: Change, placeholders: KeptFields = []) {
        self.change = change
        self.placeholders = placeholders
    }
}
