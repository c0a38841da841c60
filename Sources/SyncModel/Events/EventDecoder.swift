/// Turns Kafka messages into `Change`s (docs/design.md §2).
///
/// - `lims`: topic → plant; the value is the record JSON with hex `data`.
/// - `debezium`: the change-event envelope, with or without the `schema`/`payload` wrapper; `op`
///   `c`/`r`/`u` upsert `after`, `d` deletes by `before`'s `id` (or the message key).
/// - `auto` (default): a JSON object with `op` or `payload` is Debezium, anything else LIMS.
///
/// A tombstone (null value) deletes by the message key, at the Kafka record timestamp. Millisecond
/// delete times are rounded up to the end of their millisecond, so a delete is not judged older than
/// an update of the same millisecond.
///
/// In a Debezium `after`, the unavailable-value placeholder (`unavailablePlaceholder`) in `data`,
/// `disease` or `gps_coordinates` means "not carried": the change keeps the stored value
/// (`KeptFields`, docs/design.md §2), and `decodeEvent` reports which fields held it.
public struct EventDecoder: Sendable {
    public enum Format: String, Sendable, CaseIterable { case auto, lims, debezium }

    public var format: Format
    /// Topic name → plant, for topics not named after their plant. Any other topic's plant is named by
    /// its last dot-separated segment (`cucumber` → cucumber, `lims.imagedbplantproducer.imagecolplantpotato`
    /// → potato), or else by a Debezium event's `source.collection`/`source.table`; a segment that is no
    /// valid plant name (`Plant`) makes the message a poison message (`invalidPlant`).
    public var topicPlants: [String: Plant]
    /// Largest accepted message value, in bytes.
    public var maxValueBytes: Int
    /// Debezium's unavailable-value placeholder, as the connector's `unavailable.value.placeholder`
    /// sets it (`UnavailableValuePlaceholder.debeziumDefault` by default).
    public var unavailablePlaceholder: UnavailableValuePlaceholder
    /// The producer's timestamp precision: upserts' `created_at`/`updated_at` are truncated to it.
    public var timestampPrecision: TimestampPrecision

    public static let defaultUnavailablePlaceholder = UnavailableValuePlaceholder(UnavailableValuePlaceholder.debeziumDefault)!

    public init(
        format: Format = .auto, topicPlants: [String: Plant] = [:], maxValueBytes: Int = 4 << 20,
        unavailablePlaceholder: UnavailableValuePlaceholder = EventDecoder.defaultUnavailablePlaceholder,
        timestampPrecision: TimestampPrecision = .microseconds
    ) {
        self.format = format
        self.topicPlants = topicPlants
        self.maxValueBytes = maxValueBytes
        self.unavailablePlaceholder = unavailablePlaceholder
        self.timestampPrecision = timestampPrecision
    }

    /// The change of a message that names its key. A message that names its record by the producer's
    /// `_id` only (`DecodedEvent.Effect.bySource`) needs the consumer store to be resolved: use
    /// `decodeEvent`; here it is an error.
    public func decode(_ message: some EventMessage) throws(EventDecodingError) -> Change {
        let event = try decodeEvent(message)
        guard case .change(let change) = event.effect else {
            throw EventDecodingError(
                .unsupported, field: "_id", value: nil,
                detail: "the event names its record by the producer's _id only; StreamSync resolves it against the consumer store")
        }
        return change
    }

    /// The change, and which of its fields were Debezium placeholders.
    public func decodeEvent(_ message: some EventMessage) throws(EventDecodingError) -> DecodedEvent {
        try decodeValue(message)
    }

    private func decodeValue(_ message: some EventMessage) throws(EventDecodingError) -> DecodedEvent {
        guard let value = message.value else { return DecodedEvent(change: try tombstone(message)) }
        guard value.count <= maxValueBytes else {
            throw EventDecodingError(
                .oversized, field: nil, value: "\(value.count) bytes", detail: "message value exceeds \(maxValueBytes) bytes")
        }
        if format == .debezium { return try decodeDebezium(try JSONValue.parse(value), message) }
        // A LIMS event's hex image stays in `value` and is decoded from there (no `String` of it).
        let (json, hexData) = try JSONValue.parse(value, capturing: "data")
        if format == .auto, json["op"] != nil || json["payload"] != nil {
            return try decodeDebezium(hexData == nil ? json : try JSONValue.parse(value), message)
        }
        return DecodedEvent(change: try decodeLIMS(json, message, hexData: hexData.map { value[$0] }))
    }

    // MARK: LIMS

    func decodeLIMS(
        _ json: JSONValue, _ message: some EventMessage, hexData: ArraySlice<UInt8>? = nil
    ) throws(EventDecodingError) -> Change {
        let plant = try plant(forTopic: message.topic, sourceName: nil)
        let decoded = try RecordJSON.decode(json, plant: plant, binary: .hex, maxDataBytes: maxValueBytes, hexData: hexData)
        // At the producer's precision before `.upsert` computes the version: one content hash per event.
        return .upsert(timestampPrecision.truncate(decoded.record), keeping: decoded.kept)
    }

    // MARK: Debezium

    func decodeDebezium(_ json: JSONValue, _ message: some EventMessage) throws(EventDecodingError) -> DecodedEvent {
        var payload = json
        if let inner = json["payload"] {
            if inner == .null { return DecodedEvent(change: try tombstone(message)) }
            payload = inner
        }
        guard case .object = payload else {
            throw EventDecodingError.wrongType("payload", expected: "an object", got: payload)
        }
        guard let opValue = payload["op"] else { throw EventDecodingError.missing("op") }
        guard case .string(let op) = opValue else {
            throw EventDecodingError.wrongType("op", expected: "a string", got: opValue)
        }
        let source = payload["source"]
        var sourceName: String? = nil
        if case .string(let name)? = source?["collection"] ?? source?["table"] { sourceName = name }
        let plant = try plant(forTopic: message.topic, sourceName: sourceName)

        switch op {
        case "c", "r", "u":
            guard let after = try row(payload["after"], field: "after") else {
                throw EventDecodingError(
                    .unsupported, field: "after", value: "null",
                    detail: "op '\(op)' without a full 'after' image (MongoDB connector: set capture.mode to a *_update_full mode)")
            }
            let decoded = try RecordJSON.decode(
                after, plant: plant, binary: .base64, maxDataBytes: maxValueBytes, placeholder: unavailablePlaceholder)
            return DecodedEvent(
                change: .upsert(timestampPrecision.truncate(decoded.record), keeping: decoded.kept), placeholders: decoded.placeholders)
        case "d":
            let at = try deleteTime(payload: payload, message: message)
            if let before = try row(payload["before"], field: "before"), before["id"] != nil {
                guard case .object(let fields) = before else { throw EventDecodingError.missing("before.id") }
                let id = try RecordJSON.int(fields, "id")
                return DecodedEvent(change: try delete(plant: plant, id: id, field: "before.id", at: at))
            }
            guard let id = try keyID(message) else {
                throw EventDecodingError(
                    .missingField, field: "before.id", value: nil,
                    detail: "a delete needs the business key 'id' in 'before' or in the message key")
            }
            return DecodedEvent(change: try delete(plant: plant, id: id, field: "key", at: at))
        default:
            throw EventDecodingError.invalid("op", "\"\(op)\"", "expected one of c, r, u, d")
        }
    }

    /// `after`/`before` may be an object or (MongoDB connector) a string holding Extended JSON.
    func row(_ value: JSONValue?, field: String) throws(EventDecodingError) -> JSONValue? {
        switch value {
        case nil, .null?: return nil
        case .object?: return value
        case .string(let text)?:
            do {
                return try JSONValue.parse(Array(text.utf8))
            } catch {
                throw EventDecodingError(.malformedJSON, field: field, value: nil, detail: error.detail)
            }
        case let other?: throw EventDecodingError.wrongType(field, expected: "an object", got: other)
        }
    }

    func deleteTime(payload: JSONValue, message: some EventMessage) throws(EventDecodingError) -> Timestamp {
        for candidate in [payload["source"]?["ts_ms"], payload["ts_ms"]] {
            if let raw = candidate, case .integer(let millis) = RecordJSON.unwrapNumber(raw) {
                return Self.endOfMillisecond(millis)
            }
        }
        if let millis = message.timestampMillis { return Self.endOfMillisecond(millis) }
        throw EventDecodingError(
            .missingField, field: "source.ts_ms", value: nil,
            detail: "a delete needs a time: source.ts_ms, ts_ms or the Kafka timestamp")
    }

    // MARK: Tombstones and keys

    func tombstone(_ message: some EventMessage) throws(EventDecodingError) -> Change {
        let plant = try plant(forTopic: message.topic, sourceName: nil)
        guard let id = try keyID(message) else {
            throw EventDecodingError(.missingField, field: "key", value: nil, detail: "a tombstone needs a message key naming the id")
        }
        guard let millis = message.timestampMillis else {
            throw EventDecodingError(.missingField, field: "timestamp", value: nil, detail: "a tombstone needs a Kafka record timestamp")
        }
        return try delete(plant: plant, id: id, field: "key", at: Self.endOfMillisecond(millis))
    }

    /// The key of a message that did not decode (a dead letter), as far as it can be told: the plant of
    /// its topic, and the id of its message key or of its value's `id` (`after.id`, `before.id`, under
    /// `payload` too); `nil` when either is missing (docs/design.md §8: such a gap heals its whole plant).
    public func bestEffortKey(_ message: some EventMessage) -> RecordKey? {
        guard let plant = try? plant(forTopic: message.topic) else { return nil }
        var id = (try? keyID(message)) ?? nil
        if id == nil, let value = message.value, let json = try? JSONValue.parse(value) {
            let root = json["payload"] ?? json
            for candidate in [root["id"], root["after"]?["id"], root["before"]?["id"]] {
                guard let candidate else { continue }
                if case .integer(let found) = RecordJSON.unwrapNumber(candidate) {
                    id = found
                    break
                }
            }
        }
        guard let id, id > 0 else { return nil }
        return RecordKey(plant: plant, id: id)
    }

    /// The business id from a message key: `5`, `"5"`, `{"id": 5}` or `{"payload": {"id": 5}}`.
    func keyID(_ message: some EventMessage) throws(EventDecodingError) -> Int64? {
        guard let key = message.key, !key.isEmpty else { return nil }
        let text = String(decoding: key, as: UTF8.self)
        if let id = Int64(text) { return id }
        guard let json = try? JSONValue.parse(key) else {
            throw EventDecodingError.invalid("key", "\"\(text.prefix(40))\"", "not an id nor a JSON key")
        }
        var object = json
        if let inner = json["payload"] { object = inner }
        switch object {
        case .integer(let id): return id
        case .string(let s): return Int64(s)
        case .object(let fields) where fields["id"] != nil: return try RecordJSON.int(fields, "id")
        default: return nil
        }
    }

    func delete(plant: Plant, id: Int64, field: String, at: Timestamp) throws(EventDecodingError) -> Change {
        guard id > 0 else { throw EventDecodingError.invalid(field, String(id), "must be a positive integer") }
        return .delete(RecordKey(plant: plant, id: id), at: at)
    }

    /// The plant of a topic's messages: its mapping, else its last dot-separated segment, else (a
    /// Debezium event) its source collection or table.
    public func plant(forTopic topic: String, sourceName: String? = nil) throws(EventDecodingError) -> Plant {
        if let plant = topicPlants[topic] { return plant }
        let segment = topic.split(separator: ".", omittingEmptySubsequences: false).last.map(String.init) ?? topic
        do {
            return try Plant(validating: segment, field: "topic")
        } catch {
            if let sourceName, let plant = try? Plant(validating: sourceName, field: "source") { return plant }
            throw EventDecodingError(
                .invalidPlant, field: "topic", value: "\"\(topic)\"",
                detail:
                    "the topic names no plant: its last segment '\(segment)' is not a valid plant name (\(error.reason)); map the topic with --topic-plant"
            )
        }
    }

    static func endOfMillisecond(_ millis: Int64) -> Timestamp {
        Timestamp(microsecondsSinceEpoch: millis &* 1000 &+ 999)
    }
}
