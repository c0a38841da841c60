/// The MongoDB Kafka source connector's events (docs/streamsync.md, "MongoDB change events";
/// https://www.mongodb.com/docs/kafka-connector/current/source-connector/): change stream documents
/// (https://www.mongodb.com/docs/manual/reference/change-events/), or with
/// `publish.full.document.only=true` the bare documents — in any of the connector's JSON formatters
/// (`DefaultJson`, `ExtendedJson`, `SimplifiedJson`), whose values RecordJSON's readers take as they come.
///
/// - `insert`, `replace`, and `update` with `fullDocument` (`change.stream.full.document=updateLookup`):
///   an upsert of the full document, its `sourceID` the document's `_id` (else `documentKey._id`).
/// - `update` without `fullDocument`: a patch (`updateDescription`) of the document `documentKey._id`
///   names, resolved by StreamSync (`SourceChange`) — or, with the pre-image
///   (`change.stream.full.document.before.change`) and a patch that sets `updated_at`, the pre-image
///   patched: an upsert by business key.
/// - `delete`: by business key when the pre-image carries `id`, else by `documentKey._id`; at `wallTime`
///   (rounded up to the end of its millisecond), else at the end of the `clusterTime` second, else at
///   the Kafka timestamp.
/// - any other `operationType` (`drop`, `rename`, `dropDatabase`, `invalidate`, …): `unsupported`.
///
/// The plant is the topic's (`<prefix>.<db>.imagecolplant<plant>`), else `ns.coll`'s.
extension EventDecoder {
    func decodeMongoChangeStream(_ json: JSONValue, _ message: some EventMessage) throws(EventDecodingError) -> DecodedEvent {
        var event = json
        // A `JsonConverter` envelope with schemas (`output.format.value=schema`).
        if event["operationType"] == nil, event["schema"] != nil, let inner = event["payload"] {
            if inner == .null { return try tombstone(message) }
            event = inner
        }
        guard case .object(let fields) = event else {
            throw EventDecodingError.wrongType("(value)", expected: "a change stream document or a document (a JSON object)", got: event)
        }
        guard let operation = fields["operationType"] else { return try decodeMongoFullDocument(event, message) }
        guard case .string(let operationType) = operation else {
            throw EventDecodingError.wrongType("operationType", expected: "a string", got: operation)
        }
        var sourceName: String? = nil
        if case .string(let collection)? = try row(fields["ns"], field: "ns")?["coll"] { sourceName = collection }
        let plant = try plant(forTopic: message.topic, sourceName: sourceName)
        let documentKey = try row(fields["documentKey"], field: "documentKey")

        switch operationType {
        case "insert", "replace", "update":
            if let document = try row(fields["fullDocument"], field: "fullDocument") {
                return try upsert(document, plant: plant, binary: .base64, sourceIDFallback: documentKey?["_id"])
            }
            guard operationType == "update" else { throw EventDecodingError.missing("fullDocument") }
            let sourceID = try Self.sourceID(documentKey?["_id"], field: "documentKey._id")
            guard let description = fields["updateDescription"], description != .null else {
                throw EventDecodingError(
                    .missingField, field: "updateDescription", value: nil,
                    detail: "an update needs its fullDocument (change.stream.full.document=updateLookup) or its updateDescription")
            }
            let patch = try updateDescriptionPatch(description, field: "updateDescription")
            return try patchEffect(
                patch, plant: plant, sourceID: sourceID,
                preImage: try row(fields["fullDocumentBeforeChange"], field: "fullDocumentBeforeChange"),
                preImageField: "fullDocumentBeforeChange")
        case "delete":
            let at = try changeStreamTime(fields, message)
            if let before = try row(fields["fullDocumentBeforeChange"], field: "fullDocumentBeforeChange"), let raw = before["id"] {
                let id = try RecordJSON.int(raw, field: "fullDocumentBeforeChange.id")
                return DecodedEvent(change: try delete(plant: plant, id: id, field: "fullDocumentBeforeChange.id", at: at))
            }
            let sourceID = try Self.sourceID(documentKey?["_id"], field: "documentKey._id")
            return DecodedEvent(bySource: SourceChange(plant: plant, sourceID: sourceID, operation: .delete(at: at)))
        default:
            throw EventDecodingError(
                .unsupported, field: "operationType", value: operation.preview,
                detail:
                    "only insert, replace, update and delete change records; a '\(operationType)' event is dead-lettered and its range healed as a gap"
            )
        }
    }

    /// A bare document (`publish.full.document.only=true`): an upsert, its `sourceID` its `_id`; a string
    /// `data` is base64.
    func decodeMongoFullDocument(_ document: JSONValue, _ message: some EventMessage) throws(EventDecodingError) -> DecodedEvent {
        let plant = try plant(forTopic: message.topic, sourceName: nil)
        return try upsert(document, plant: plant, binary: .base64)
    }

    /// The time of a change stream event: `wallTime` (milliseconds: `{"$date": …}` in any formatter, an
    /// ISO-8601 string in SimplifiedJson, an integer in the connector's schema output), rounded up to the
    /// end of its millisecond; else the end of the `clusterTime` second (`{"$timestamp": {"t", "i"}}`);
    /// else the Kafka timestamp's millisecond.
    func changeStreamTime(_ fields: [String: JSONValue], _ message: some EventMessage) throws(EventDecodingError) -> Timestamp {
        if let raw = fields["wallTime"], raw != .null {
            if case .integer(let millis) = RecordJSON.unwrapNumber(raw) { return Self.endOfMillisecond(millis) }
            let time = try RecordJSON.timestamp(raw, field: "wallTime")
            return Self.endOfMillisecond(time.microsecondsSinceEpoch.floorDiv(1000))
        }
        if let clusterTime = try row(fields["clusterTime"], field: "clusterTime") {
            guard case .object(let timestamp)? = clusterTime["$timestamp"], let t = timestamp["t"],
                case .integer(let seconds) = RecordJSON.unwrapNumber(t), (0...Int64(UInt32.max)).contains(seconds)
            else {
                throw EventDecodingError.invalid(
                    "clusterTime", clusterTime.preview, "expected {\"$timestamp\": {\"t\": <seconds>, \"i\": <increment>}}")
            }
            return Self.endOfSecond(seconds)
        }
        if let millis = message.timestampMillis { return Self.endOfMillisecond(millis) }
        throw EventDecodingError(
            .missingField, field: "wallTime", value: nil, detail: "a delete needs a time: wallTime, clusterTime or the Kafka timestamp")
    }

    // MARK: Shared by the MongoDB source connector and Debezium MongoDB

    /// An upsert of a whole document (a Debezium `after`, a change stream's `fullDocument`, a bare full
    /// document), its `sourceID` the document's `_id` (else `sourceIDFallback`; an `_id` that is no
    /// ObjectId, string or integer leaves it unknown: provenance, not content), at the producer's
    /// timestamp precision.
    func upsert(
        _ document: JSONValue, plant: Plant, binary: RecordJSON.BinaryEncoding,
        placeholder: UnavailableValuePlaceholder? = nil, sourceIDFallback: JSONValue? = nil
    ) throws(EventDecodingError) -> DecodedEvent {
        let decoded = try RecordJSON.decode(
            document, plant: plant, binary: binary, maxDataBytes: maxValueBytes, placeholder: placeholder)
        // At the producer's precision before `.upsert` computes the version: one content hash per event.
        var record = timestampPrecision.truncate(decoded.record)
        record.sourceID = document["_id"].flatMap(SourceID.init(json:)) ?? sourceIDFallback.flatMap(SourceID.init(json:))
        return DecodedEvent(change: .upsert(record, keeping: decoded.kept), placeholders: decoded.placeholders)
    }

    /// The patch of an `updateDescription` (a change stream's, or Debezium MongoDB's, whose
    /// `updatedFields` is a JSON string), at the producer's timestamp precision.
    func updateDescriptionPatch(_ description: JSONValue, field: String) throws(EventDecodingError) -> RecordPatch {
        guard case .object(let fields) = description else {
            throw EventDecodingError.wrongType(field, expected: "an object", got: description)
        }
        var reader = RecordJSON.PatchReader(binary: .base64, maxDataBytes: maxValueBytes)
        switch try row(fields["updatedFields"], field: field + ".updatedFields") {
        case nil: break
        case .object(let updated)?: try reader.set(updated, field: field + ".updatedFields")
        case let other?: throw EventDecodingError.wrongType(field + ".updatedFields", expected: "an object", got: other)
        }
        try reader.remove(fields["removedFields"], field: field + ".removedFields")
        try reader.truncate(fields["truncatedArrays"], field: field + ".truncatedArrays")
        return timestampPrecision.truncate(reader.patch)
    }

    /// What a patch of the document `sourceID` does: with the document's pre-image and a patch that sets
    /// `updated_at` (its version), the patched pre-image — an upsert by business key that keeps the
    /// stored bytes unless the patch sets them; else a `SourceChange` for StreamSync to resolve.
    func patchEffect(
        _ patch: RecordPatch, plant: Plant, sourceID: SourceID, preImage: JSONValue?, preImageField: String
    ) throws(EventDecodingError) -> DecodedEvent {
        if let preImage, patch.hasVersionTime {
            let before: RecordJSON.Decoded
            do {
                before = try RecordJSON.decode(preImage, plant: plant, binary: .base64, maxDataBytes: maxValueBytes)
            } catch {
                throw EventDecodingError(
                    error.kind, field: preImageField + (error.field.map { "." + $0 } ?? ""), value: error.value, detail: error.detail)
            }
            var record = timestampPrecision.truncate(before.record)
            record.sourceID = sourceID
            return DecodedEvent(change: patch.change(patching: record))
        }
        return DecodedEvent(bySource: SourceChange(plant: plant, sourceID: sourceID, operation: .patch(patch)))
    }

    /// A required `_id`: an ObjectId (`{"$oid": …}` or, SimplifiedJson, its 24 hex digits), a string or
    /// an integer.
    static func sourceID(_ raw: JSONValue?, field: String) throws(EventDecodingError) -> SourceID {
        guard let raw, raw != .null else { throw EventDecodingError.missing(field) }
        guard let sourceID = SourceID(json: raw) else {
            throw EventDecodingError.invalid(field, raw.preview, "not a MongoDB _id StreamSync can name (an ObjectId, a string or an integer)")
        }
        return sourceID
    }
}
