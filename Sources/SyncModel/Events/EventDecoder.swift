/// Turns Kafka messages into `Change`s (docs/design.md §2, docs/streamsync.md "MongoDB change events").
///
/// - `lims`: topic → plant; the value is the record JSON with hex `data`.
/// - `debezium`: the change-event envelope, with or without the `schema`/`payload` wrapper; `op`
///   `c`/`r`/`u` upsert `after`, `d` deletes by `before`'s `id` (or the message key). From the MongoDB
///   connector (`source.connector` `mongodb`) also: an update without `after` (`updateDescription`, or
///   the legacy oplog `patch`) and a delete naming the document by its `_id` only
///   (EventDecoder+Debezium.swift).
/// - `mongodbChangeStream`: the MongoDB Kafka source connector's change stream documents
///   (`operationType`), in any of its JSON formatters, or with `publish.full.document.only=true` the bare
///   document (EventDecoder+MongoChangeStream.swift).
/// - `auto` (default): a JSON object with `operationType` is a change stream document, one with `op` or
///   `payload` Debezium, a bare document whose `data` is an Extended JSON `{"$binary": …}` object a
///   MongoDB full document; anything else LIMS. (A bare document with a string `data` stays LIMS's, hex:
///   a hex string is valid base64 too, so the simplified-JSON full documents of
///   `publish.full.document.only=true` need `--format mongodb-change-stream`.)
///
/// A value that is a JSON string holding a JSON object (Kafka Connect's `JsonConverter` over a string,
/// e.g. the MongoDB source connector's `output.format.value=json`) is that object, in any format, once.
///
/// A tombstone (null value) deletes by the message key, at the Kafka record timestamp: a business id
/// (`5`, `{"id": 5}`), or a MongoDB `_id` (Debezium MongoDB's `{"id": "<_id as Extended JSON>"}`, the
/// source connector's `{"_id": …}`) — a delete by `_id` (`DecodedEvent.Effect.bySource`). Millisecond
/// delete times are rounded up to the end of their millisecond, so a delete is not judged older than
/// an update of the same millisecond.
///
/// A change that names its record by the producer's `_id` only (a delete, an update without its full
/// document) is a `SourceChange`: `decodeEvent` returns it for StreamSync to resolve; `decode` refuses it.
///
/// In a Debezium `after`, the unavailable-value placeholder (`unavailablePlaceholder`) in `data`,
/// `disease` or `gps_coordinates` means "not carried": the change keeps the stored value
/// (`KeptFields`, docs/design.md §2), and `decodeEvent` reports which fields held it.
public struct EventDecoder: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case auto, lims, debezium
        /// The MongoDB Kafka source connector's change stream documents (or bare full documents).
        case mongodbChangeStream = "mongodb-change-stream"
    }

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
        guard let value = message.value else { return try tombstone(message) }
        guard value.count <= maxValueBytes else {
            throw EventDecodingError(
                .oversized, field: nil, value: "\(value.count) bytes", detail: "message value exceeds \(maxValueBytes) bytes")
        }
        return try decodeDocument(value, message, nested: false)
    }

    /// Decodes a message value; `nested`: `value` is the content of a double-encoded value.
    private func decodeDocument(
        _ value: [UInt8], _ message: some EventMessage, nested: Bool
    ) throws(EventDecodingError) -> DecodedEvent {
        // A LIMS event's hex image stays in `value` and is decoded from there (no `String` of it).
        let (json, hexData) = try JSONValue.parse(value, capturing: "data")
        if !nested, let inner = Self.doubleEncoded(json) { return try decodeDocument(inner, message, nested: true) }
        func whole() throws(EventDecodingError) -> JSONValue { hexData == nil ? json : try JSONValue.parse(value) }
        switch format {
        case .debezium:
            return try decodeDebezium(try whole(), message)
        case .mongodbChangeStream:
            return try decodeMongoChangeStream(try whole(), message)
        case .lims:
            break
        case .auto:
            if json["operationType"] != nil || json["payload"]?["operationType"] != nil {
                return try decodeMongoChangeStream(try whole(), message)
            }
            if json["op"] != nil || json["payload"] != nil { return try decodeDebezium(try whole(), message) }
            if case .object(let data)? = json["data"], data["$binary"] != nil {
                return try decodeMongoFullDocument(json, message)
            }
        }
        return DecodedEvent(change: try decodeLIMS(json, message, hexData: hexData.map { value[$0] }))
    }

    /// The content of a double-encoded value: a JSON string holding a JSON object, or the string
    /// `payload` of a `JsonConverter` envelope (`{"schema": {"type": "string"}, "payload": "{…}"}`).
    static func doubleEncoded(_ json: JSONValue) -> [UInt8]? {
        var candidate = json
        if case .object(let fields) = json, fields["schema"] != nil, let payload = fields["payload"] { candidate = payload }
        guard case .string(let text) = candidate,
            let first = text.utf8.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }), first == UInt8(ascii: "{")
        else { return nil }
        return Array(text.utf8)
    }

    // MARK: LIMS

    func decodeLIMS(
        _ json: JSONValue, _ message: some EventMessage, hexData: ArraySlice<UInt8>? = nil
    ) throws(EventDecodingError) -> Change {
        let plant = try plant(forTopic: message.topic, sourceName: nil)
        var decoded = try RecordJSON.decode(json, plant: plant, binary: .hex, maxDataBytes: maxValueBytes, hexData: hexData)
        // LIMS's Image API may send the document's `_id` with the record: kept, as a MongoDB event's is
        // (docs/design.md §2), so deletes by `_id` find records that came this way too. Any other value is ignored.
        if let raw = json["_id"] { decoded.record.sourceID = SourceID(json: raw) }
        // At the producer's precision before `.upsert` computes the version: one content hash per event.
        return .upsert(timestampPrecision.truncate(decoded.record), keeping: decoded.kept)
    }

    // MARK: Tombstones and keys

    /// A tombstone: a delete of the message key's record at the Kafka record timestamp — by business id,
    /// or by `_id` for a MongoDB key (`MessageKey`).
    func tombstone(_ message: some EventMessage) throws(EventDecodingError) -> DecodedEvent {
        let plant = try plant(forTopic: message.topic, sourceName: nil)
        guard let key = try messageKey(message) else {
            throw EventDecodingError(.missingField, field: "key", value: nil, detail: "a tombstone needs a message key naming the id")
        }
        guard let millis = message.timestampMillis else {
            throw EventDecodingError(.missingField, field: "timestamp", value: nil, detail: "a tombstone needs a Kafka record timestamp")
        }
        let at = Self.endOfMillisecond(millis)
        switch key {
        case .id(let id):
            return DecodedEvent(change: try delete(plant: plant, id: id, field: "key", at: at))
        case .source(let sourceID):
            return DecodedEvent(bySource: SourceChange(plant: plant, sourceID: sourceID, operation: .delete(at: at)))
        }
    }

    /// The key of a message that did not decode (a dead letter), as far as it can be told: the plant of
    /// its topic (or of its event's `ns.coll`, `source.collection`/`source.table`), and the id of its
    /// message key or of its value's `id` (`id`, `after.id`, `before.id`, `fullDocument.id`,
    /// `fullDocumentBeforeChange.id`, under `payload` too, `after`/`before` also as Debezium MongoDB's
    /// JSON strings, in a double-encoded value too); `nil` when either is missing (docs/design.md §8: such
    /// a gap heals its whole plant).
    public func bestEffortKey(_ message: some EventMessage) -> RecordKey? {
        var id = (try? keyID(message)) ?? nil
        var root: JSONValue? = nil
        if let value = message.value, var json = try? JSONValue.parse(value) {
            if let inner = Self.doubleEncoded(json), let parsed = try? JSONValue.parse(inner) { json = parsed }
            root = json["payload"] ?? json
        }
        var sourceName: String? = nil
        if case .string(let name)? = root?["ns"]?["coll"] ?? root?["source"]?["collection"] ?? root?["source"]?["table"] {
            sourceName = name
        }
        guard let plant = try? plant(forTopic: message.topic, sourceName: sourceName) else { return nil }
        if id == nil, let root {
            let documents = [
                root, root["fullDocument"], root["after"], root["before"], root["fullDocumentBeforeChange"],
            ]
            for document in documents {
                guard let document, let row = try? row(document, field: ""), let candidate = row["id"] else { continue }
                if case .integer(let found) = RecordJSON.unwrapNumber(candidate) {
                    id = found
                    break
                }
            }
        }
        guard let id, id > 0 else { return nil }
        return RecordKey(plant: plant, id: id)
    }

    /// What a message key names.
    enum MessageKey: Equatable {
        /// A business id: `5`, `"5"`, `{"id": 5}`, `{"payload": {"id": 5}}`.
        case id(Int64)
        /// A MongoDB `_id`: Debezium MongoDB's `{"id": "<the _id as Extended JSON text>"}` (with or
        /// without the `schema`/`payload` wrapper), or the MongoDB source connector's document key
        /// `{"_id": …}` (`change.stream.document.key.as.key`, its default).
        case source(SourceID)
    }

    /// What the message key names, `nil` without a key or for a key that names neither (a JSON key
    /// double-encoded as a string is read once). The source connector's resume-token key
    /// (`{"_id": {"_data": …}}`, `change.stream.document.key.as.key=false`) names no document: an error.
    func messageKey(_ message: some EventMessage) throws(EventDecodingError) -> MessageKey? {
        guard let key = message.key, !key.isEmpty else { return nil }
        let text = String(decoding: key, as: UTF8.self)
        if let id = Int64(text) { return .id(id) }
        guard var json = try? JSONValue.parse(key) else {
            throw EventDecodingError.invalid("key", "\"\(text.prefix(40))\"", "not an id nor a JSON key")
        }
        if let inner = Self.doubleEncoded(json), let parsed = try? JSONValue.parse(inner) { json = parsed }
        if let inner = json["payload"] { json = inner }
        switch json {
        case .integer(let id):
            return .id(id)
        case .string(let s):
            return Int64(s).map(MessageKey.id)
        case .object(let fields) where fields["id"] != nil:
            guard case .string(let idText) = fields["id"]! else { return .id(try RecordJSON.int(fields, "id")) }
            // Debezium MongoDB: the `_id` as Extended JSON text (`{"$oid": …}`, `"\"text\""`, `1234`).
            guard let idJSON = try? JSONValue.parse(Array(idText.utf8)), let sourceID = SourceID(json: idJSON) else {
                throw EventDecodingError.invalid(
                    "key.id", JSONValue.string(idText).preview,
                    "neither a business id nor a MongoDB _id as Extended JSON (an ObjectId, a string or an integer)")
            }
            return .source(sourceID)
        case .object(let fields) where fields["_id"] != nil:
            let raw = fields["_id"]!
            if case .object(let token) = raw, token["_data"] != nil {
                throw EventDecodingError(
                    .unsupported, field: "key._id", value: raw.preview,
                    detail:
                        "the key is the change stream's resume token, which names no document: set the source connector's change.stream.document.key.as.key=true (its default)"
                )
            }
            guard let sourceID = SourceID(json: raw) else {
                throw EventDecodingError.invalid("key._id", raw.preview, "not a MongoDB _id (an ObjectId, a string or an integer)")
            }
            return .source(sourceID)
        default:
            return nil
        }
    }

    /// The business id from a message key, `nil` when it names none (or names a MongoDB `_id`).
    func keyID(_ message: some EventMessage) throws(EventDecodingError) -> Int64? {
        if case .id(let id)? = try messageKey(message) { return id }
        return nil
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

    /// The last microsecond of a whole second: the time of a delete known only to the second (a MongoDB
    /// `clusterTime`), so that it is not judged older than an update earlier in that second.
    static func endOfSecond(_ seconds: Int64) -> Timestamp {
        Timestamp(microsecondsSinceEpoch: seconds &* 1_000_000 &+ 999_999)
    }

    static func endOfMillisecond(_ millis: Int64) -> Timestamp {
        Timestamp(microsecondsSinceEpoch: millis &* 1000 &+ 999)
    }
}
