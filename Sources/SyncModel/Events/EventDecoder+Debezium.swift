/// Debezium change events (docs/design.md §2): the relational connectors' and the MongoDB connector's
/// (`source.connector` `mongodb`, https://debezium.io/documentation/reference/stable/connectors/mongodb.html).
///
/// What the MongoDB connector's capture modes give StreamSync:
/// - `change_streams_update_full` (the default), `change_streams_update_full_with_pre_image`: every
///   create, read and update carries `after` (an Extended JSON string): an upsert, its `sourceID` the
///   document's `_id`.
/// - `change_streams`: an update carries only `updateDescription` (`updatedFields` a JSON string,
///   `removedFields`, `truncatedArrays`): a patch of the document the message key names (`{"id":
///   "<_id as Extended JSON>"}`), resolved by StreamSync (`SourceChange`).
/// - `change_streams_with_pre_image`: the same with `before`, the document before the update: the
///   pre-image with the patch applied is the document after it — an upsert by business key, when the
///   patch sets `updated_at` (else its version cannot be told: a patch by `_id`, as above).
/// - legacy `oplog` (Debezium 1.x): an update carries `patch` (a JSON string) and `filter` (`{"_id":
///   …}`): `$set`/`$unset` (`$v` absent or 1) and `$v: 2` diffs with `u`/`i`/`d` entries are patches;
///   a diff into a sub-document or array (`s<field>`) is refused (`unsupported`); a patch without any
///   `$` operator replaces the whole document: an upsert.
/// - deletes: with a `before` carrying `id` (`*_with_pre_image`), by business key; else by `_id`, from
///   the message key (or `filter`); at `source.wallTime`, else at the end of the `source.ts_ms` second
///   (`clusterTime`, whole seconds), else `ts_ms`, else the Kafka timestamp (`deleteTime`).
extension EventDecoder {
    func decodeDebezium(_ json: JSONValue, _ message: some EventMessage) throws(EventDecodingError) -> DecodedEvent {
        var payload = json
        if let inner = json["payload"] {
            if inner == .null { return try tombstone(message) }
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
        let mongo = source?["connector"] == .string("mongodb")

        switch op {
        case "c", "r", "u":
            if let after = try row(payload["after"], field: "after") {
                return try upsert(after, plant: plant, binary: .base64, placeholder: unavailablePlaceholder)
            }
            if op == "u", let update = try debeziumMongoUpdate(payload, plant: plant, message) { return update }
            throw EventDecodingError(
                .unsupported, field: "after", value: "null",
                detail: "op '\(op)' without a full 'after' image (MongoDB connector: set capture.mode to a *_update_full mode)")
        case "d":
            let at = try deleteTime(payload: payload, message: message, mongo: mongo)
            if let before = try row(payload["before"], field: "before"), before["id"] != nil {
                guard case .object(let fields) = before else { throw EventDecodingError.missing("before.id") }
                let id = try RecordJSON.int(fields, "id")
                return DecodedEvent(change: try delete(plant: plant, id: id, field: "before.id", at: at))
            }
            if mongo {
                let sourceID = try debeziumMongoDocumentID(payload, message)
                return DecodedEvent(bySource: SourceChange(plant: plant, sourceID: sourceID, operation: .delete(at: at)))
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

    /// A Debezium MongoDB update without `after`: `updateDescription` (change streams capture modes) or
    /// `patch` (legacy oplog mode); `nil` when the event carries neither.
    func debeziumMongoUpdate(
        _ payload: JSONValue, plant: Plant, _ message: some EventMessage
    ) throws(EventDecodingError) -> DecodedEvent? {
        if let description = payload["updateDescription"], description != .null {
            let patch = try updateDescriptionPatch(description, field: "updateDescription")
            let sourceID = try debeziumMongoDocumentID(payload, message)
            return try patchEffect(
                patch, plant: plant, sourceID: sourceID, preImage: try row(payload["before"], field: "before"),
                preImageField: "before")
        }
        guard let raw = payload["patch"], raw != .null, let patchDocument = try row(raw, field: "patch") else { return nil }
        guard case .object(let operations) = patchDocument else {
            throw EventDecodingError.wrongType("patch", expected: "an object", got: patchDocument)
        }
        guard operations.keys.contains(where: { $0.hasPrefix("$") }) || operations["diff"] != nil else {
            // An oplog update without operators replaces the whole document.
            var fallback: JSONValue? = nil
            if let filter = try row(payload["filter"], field: "filter") { fallback = filter["_id"] }
            return try upsert(patchDocument, plant: plant, binary: .base64, sourceIDFallback: fallback)
        }
        let sourceID = try debeziumMongoDocumentID(payload, message)
        var reader = RecordJSON.PatchReader(binary: .base64, maxDataBytes: maxValueBytes)
        let version = operations["$v"].map(RecordJSON.unwrapNumber)
        if version == .integer(2) || operations["diff"] != nil {
            guard case .object(let diff)? = operations["diff"] else {
                throw EventDecodingError.wrongType("patch.diff", expected: "an object", got: operations["diff"] ?? .null)
            }
            for key in diff.keys.sorted() {
                switch (key, diff[key]!) {
                case ("u", .object(let fields)), ("i", .object(let fields)):
                    try reader.set(fields, field: "patch.diff.\(key)")
                case ("d", .object(let fields)):
                    for path in fields.keys.sorted() { try reader.remove(path, field: "patch.diff.d") }
                case ("u", let other), ("i", let other), ("d", let other):
                    throw EventDecodingError.wrongType("patch.diff.\(key)", expected: "an object", got: other)
                default:
                    throw EventDecodingError(
                        .unsupported, field: "patch.diff.\(key)", value: diff[key]!.preview,
                        detail:
                            "a $v: 2 diff of a sub-document or array is not supported: set capture.mode to change_streams_update_full"
                    )
                }
            }
        } else {
            if let version, version != .integer(1) {
                throw EventDecodingError(
                    .unsupported, field: "patch.$v", value: version.preview, detail: "only $v 1 ($set/$unset) and 2 (diff) patches are supported")
            }
            for key in operations.keys.sorted() {
                switch (key, operations[key]!) {
                case ("$v", _):
                    continue
                case ("$set", .object(let fields)):
                    try reader.set(fields, field: "patch.$set")
                case ("$unset", .object(let fields)):
                    for path in fields.keys.sorted() { try reader.remove(path, field: "patch.$unset") }
                case ("$set", let other), ("$unset", let other):
                    throw EventDecodingError.wrongType("patch.\(key)", expected: "an object", got: other)
                default:
                    throw EventDecodingError(
                        .unsupported, field: "patch.\(key)", value: operations[key]!.preview,
                        detail: "an oplog patch holds $set and $unset only: '\(key)' is not supported")
                }
            }
        }
        return try patchEffect(
            timestampPrecision.truncate(reader.patch), plant: plant, sourceID: sourceID, preImage: nil, preImageField: "before")
    }

    /// The `_id` of the document a Debezium MongoDB event changes: the message key's (`{"id": "<_id as
    /// Extended JSON>"}`), else `filter._id` (legacy oplog mode), else `before._id`.
    func debeziumMongoDocumentID(_ payload: JSONValue, _ message: some EventMessage) throws(EventDecodingError) -> SourceID {
        if case .source(let sourceID)? = try messageKey(message) { return sourceID }
        if let filter = try row(payload["filter"], field: "filter"), let raw = filter["_id"] {
            return try Self.sourceID(raw, field: "filter._id")
        }
        if let before = try row(payload["before"], field: "before"), let raw = before["_id"] {
            return try Self.sourceID(raw, field: "before._id")
        }
        throw EventDecodingError(
            .missingField, field: "key", value: nil,
            detail:
                "a MongoDB update or delete without the full document needs the document's _id: the message key {\"id\": \"<_id>\"}, 'filter' or 'before'"
        )
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

    /// The time of a delete: `source.ts_ms`, else `ts_ms`, else the Kafka timestamp, each rounded up to
    /// the end of its millisecond. The MongoDB connector's `source.ts_ms` is the change's `wallTime` when
    /// MongoDB gives one (6.0 and later: then `source.wallTime` holds it too), else its `clusterTime`,
    /// which counts whole seconds: without `source.wallTime` a MongoDB delete is at the end of its second,
    /// so that it is not judged older than an update earlier in that second.
    func deleteTime(payload: JSONValue, message: some EventMessage, mongo: Bool = false) throws(EventDecodingError) -> Timestamp {
        if mongo, let source = payload["source"] {
            if let raw = source["wallTime"], case .integer(let millis) = RecordJSON.unwrapNumber(raw) {
                return Self.endOfMillisecond(millis)
            }
            if let raw = source["ts_ms"], case .integer(let millis) = RecordJSON.unwrapNumber(raw) {
                return Self.endOfSecond(millis.floorDiv(1000))
            }
        }
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
}
