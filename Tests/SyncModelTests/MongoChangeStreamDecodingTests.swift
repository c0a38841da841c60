import Foundation
import Testing

@testable import SyncModel

/// The MongoDB Kafka source connector's JSON formatters (`output.json.formatter`), as
/// https://www.mongodb.com/docs/kafka-connector/current/source-connector/fundamentals/json-formatters/
/// shows them and the connector's JsonWriterSettingsProviderTest pins them
/// (https://github.com/mongodb/mongo-kafka/blob/master/src/test/java/com/mongodb/kafka/connect/source/json/formatter/JsonWriterSettingsProviderTest.java):
/// `DefaultJson` (legacy strict: `{"$oid"}`, `{"$date": <ms>}`, `{"$binary": "…", "$type": "00"}`,
/// plain int32 and double), `ExtendedJson` (canonical: `{"$numberInt"}`, `{"$numberDouble"}`,
/// `{"$date": {"$numberLong"}}`, `{"$binary": {"base64", "subType"}}`), `SimplifiedJson` (relaxed, with
/// ObjectIds as hex strings, dates as ISO-8601 strings with `Z`, binary as base64 strings).
enum MongoFormatter: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case defaultJson, extendedJson, simplifiedJson

    var testDescription: String { rawValue }

    func oid(_ hex: String) -> String { self == .simplifiedJson ? #""\#(hex)""# : #"{"$oid": "\#(hex)"}"# }

    func date(_ millis: Int64) -> String {
        switch self {
        case .defaultJson: return #"{"$date": \#(millis)}"#
        case .extendedJson: return #"{"$date": {"$numberLong": "\#(millis)"}}"#
        case .simplifiedJson: return #""\#(Self.iso(millis))""#
        }
    }

    /// Java's `DateTimeFormatter.ISO_DATE_TIME` of a UTC instant: no fraction at a whole second.
    static func iso(_ millis: Int64) -> String {
        let text = Timestamp(microsecondsSinceEpoch: millis * 1000).limsString
        return String(text.prefix(millis % 1000 == 0 ? 19 : 23)) + "Z"
    }

    func binary(_ base64: String) -> String {
        switch self {
        case .defaultJson: return #"{"$binary": "\#(base64)", "$type": "00"}"#
        case .extendedJson: return #"{"$binary": {"base64": "\#(base64)", "subType": "00"}}"#
        case .simplifiedJson: return #""\#(base64)""#
        }
    }

    func int(_ value: Int64) -> String { self == .extendedJson ? #"{"$numberInt": "\#(value)"}"# : String(value) }

    func double(_ text: String) -> String { self == .extendedJson ? #"{"$numberDouble": "\#(text)"}"# : text }
}

/// LIMS's MongoDB producer's records, and the change events the MongoDB Kafka source connector emits
/// for them (https://www.mongodb.com/docs/manual/reference/change-events/).
enum MongoEvents {
    static let oid = "6522cf85e2bd4ea5d1a6f3a1"
    static let sourceID = SourceID(rawValue: oid)!
    static let topic = "lims.imagedbplantproducer.imagecolplanttomato"
    static let createdMillis: Int64 = 1_696_779_589_123  // 2023-10-08T15:39:49.123Z
    static let updatedMillis: Int64 = 1_696_838_400_456  // 2023-10-09T08:00:00.456Z
    static let deletedMillis: Int64 = 1_696_838_500_789  // 2023-10-09T08:01:40.789Z
    static let kafkaMillis: Int64 = 1_696_838_500_999
    static let jpegBase64 = "/9j/4AAQSkZJRg=="  // ffd8ffe000104a464946, sampleRecord's bytes
    static let otherBase64 = "AAEC"  // 00 01 02

    /// `sampleRecord` as the MongoDB producer holds it (BSON dates: milliseconds), with its `_id`.
    static func record(updatedMillis: Int64? = nil, disease: String? = "Bacterial Spot") -> ImageRecord {
        var record = sampleRecord(plant: .tomato)
        record.createdAt = Timestamp(microsecondsSinceEpoch: createdMillis * 1000)
        record.updatedAt = updatedMillis.map { Timestamp(microsecondsSinceEpoch: $0 * 1000) }
        record.disease = disease
        record.sourceID = sourceID
        return record
    }

    static func document(_ f: MongoFormatter, updatedMillis: Int64? = nil, disease: String = "Bacterial Spot") -> String {
        #"{"_id": \#(f.oid(oid)), "id": \#(f.int(17)), "camera_id": \#(f.int(3)), "data": \#(f.binary(jpegBase64)), "#
            + #""gps_coordinates": [\#(f.double("52.2297")), \#(f.double("21.0122"))], "disease": "\#(disease)", "#
            + #""percentage": \#(f.double("0.87")), "created_at": \#(f.date(createdMillis)), "#
            + #""updated_at": \#(updatedMillis.map(f.date) ?? "null"), "is_active": true, "is_deleted": false}"#
    }

    /// A change stream document as the connector publishes it (`publish.full.document.only=false`).
    static func event(
        _ f: MongoFormatter, _ operationType: String, fullDocument: String? = nil, updateDescription: String? = nil,
        wallTime: Int64? = updatedMillis, clusterTime: Int64? = 1_696_838_400, extra: [String] = []
    ) -> String {
        var fields = [
            #""_id": {"_data": "826523B2C0000000012B022C0100296E5A10046D7C8B2B6B0C4F3FA5D7C2B1C0F4A2B346645F6964006465"}"#,
            #""operationType": "\#(operationType)""#,
        ]
        if let clusterTime { fields.append(#""clusterTime": {"$timestamp": {"t": \#(clusterTime), "i": 1}}"#) }
        if let wallTime { fields.append(#""wallTime": \#(f.date(wallTime))"#) }
        fields.append(#""ns": {"db": "imagedbplantproducer", "coll": "imagecolplanttomato"}"#)
        fields.append(#""documentKey": {"_id": \#(f.oid(oid))}"#)
        if let fullDocument { fields.append(#""fullDocument": \#(fullDocument)"#) }
        if let updateDescription { fields.append(#""updateDescription": \#(updateDescription)"#) }
        return "{" + (fields + extra).joined(separator: ", ") + "}"
    }

    static func message(
        _ value: String?, key: String? = nil, topic: String = topic, timestamp: Int64? = kafkaMillis
    ) -> IncomingMessage {
        IncomingMessage(topic: topic, key: key.map(bytes), value: value.map(bytes), timestampMillis: timestamp)
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
}

@Suite struct MongoChangeStreamDecodingTests {
    typealias E = MongoEvents
    let decoder = EventDecoder()
    let forced = EventDecoder(format: .mongodbChangeStream)

    /// insert: https://www.mongodb.com/docs/manual/reference/change-events/insert/ ; replace:
    /// https://www.mongodb.com/docs/manual/reference/change-events/replace/ ; update with
    /// `change.stream.full.document=updateLookup`:
    /// https://www.mongodb.com/docs/kafka-connector/current/source-connector/configuration-properties/change-stream/
    /// — each in each formatter: an upsert of the full document, its `_id` the record's `sourceID`.
    @Test(arguments: MongoFormatter.allCases, ["insert", "replace", "update"])
    func fullDocumentsAreUpserts(formatter: MongoFormatter, operationType: String) throws {
        let updated: Int64? = operationType == "insert" ? nil : E.updatedMillis
        let description = #"{"updatedFields": {"updated_at": \#(formatter.date(E.updatedMillis))}, "removedFields": [], "truncatedArrays": []}"#
        let value = E.event(
            formatter, operationType, fullDocument: E.document(formatter, updatedMillis: updated),
            updateDescription: operationType == "update" ? description : nil)
        for decoder in [decoder, forced] {
            let event = try decoder.decodeEvent(E.message(value, key: #"{"_id": \#(formatter.oid(E.oid))}"#))
            let change = try #require(event.change)
            #expect(change == .upsert(E.record(updatedMillis: updated)))
            #expect(change.record?.sourceID == E.sourceID)
            #expect(change.version.ts == (updated ?? E.createdMillis) * 1000)
            #expect(change.carriesBytes)
        }
    }

    /// `Timestamp(parsing:)` reads what SimplifiedJson writes (Java's ISO_DATE_TIME, UTC: `Z`, the
    /// fraction only when the milliseconds are not zero).
    @Test func simplifiedJSONDatesParse() {
        #expect(Timestamp(parsing: "2023-10-08T15:39:49.123Z")?.microsecondsSinceEpoch == 1_696_779_589_123_000)
        #expect(Timestamp(parsing: "2020-01-01T07:27:07Z")?.microsecondsSinceEpoch == 1_577_863_627_000_000)
        #expect(MongoFormatter.iso(1_577_863_627_000) == "2020-01-01T07:27:07Z")
        #expect(MongoFormatter.iso(E.createdMillis) == "2023-10-08T15:39:49.123Z")
    }

    /// update without `fullDocument` (the connector's default `change.stream.full.document`):
    /// https://www.mongodb.com/docs/manual/reference/change-events/update/ — a patch by `documentKey._id`.
    /// Dotted paths set an element of the coordinates; removed fields become null; `_id` and fields the
    /// record does not have are ignored.
    @Test(arguments: MongoFormatter.allCases)
    func updateWithoutFullDocumentIsAPatchByID(formatter: MongoFormatter) throws {
        let f = formatter
        let description =
            #"{"updatedFields": {"gps_coordinates.0": \#(f.double("52.5")), "percentage": \#(f.double("0.91")), "#
            + #""data": \#(f.binary(E.otherBase64)), "updated_at": \#(f.date(E.updatedMillis)), "inspected_by": "lab-2"}, "#
            + #""removedFields": ["disease", "notes"], "truncatedArrays": []}"#
        for value in [E.event(f, "update", updateDescription: description), E.event(f, "update", fullDocument: "null", updateDescription: description)] {
            let event = try decoder.decodeEvent(E.message(value))
            let expected = RecordPatch(
                data: .some([0, 1, 2]), latitude: 52.5, disease: .some(nil), percentage: .some(0.91),
                updatedAt: .some(Timestamp(microsecondsSinceEpoch: E.updatedMillis * 1000)))
            #expect(event.effect == .bySource(SourceChange(plant: .tomato, sourceID: E.sourceID, operation: .patch(expected))))
            #expect(event.change == nil)
        }
        // `decode` names only keyed changes.
        let error = #expect(throws: EventDecodingError.self) { try decoder.decode(E.message(E.event(f, "update", updateDescription: description))) }
        #expect(error?.field == "_id")
    }

    /// A patch that does not touch `data` keeps the stored bytes (the bytes register); one that does
    /// carries its own. The record it makes has the patch's `updated_at` as its version.
    @Test func aPatchKeepsTheStoredBytesUnlessItSetsThem() throws {
        let description = #"{"updatedFields": {"disease": "Late Blight", "updated_at": {"$date": \#(E.updatedMillis)}}, "removedFields": []}"#
        let event = try decoder.decodeEvent(E.message(E.event(.defaultJson, "update", updateDescription: description)))
        guard case .bySource(let source) = event.effect, case .patch(let patch) = source.operation else {
            Issue.record("not a patch: \(event)")
            return
        }
        #expect(!patch.setsData)
        #expect(patch.hasVersionTime)
        let stored = E.record()
        let change = patch.change(patching: stored)
        #expect(change.kept == .data)
        #expect(change.record?.data == nil)
        #expect(change.record?.disease == "Late Blight")
        #expect(change.record?.sourceID == E.sourceID)
        #expect(change.version.ts == E.updatedMillis * 1000)
    }

    /// delete: https://www.mongodb.com/docs/manual/reference/change-events/delete/ — by `documentKey._id`,
    /// at `wallTime` (end of its millisecond), else at the end of the `clusterTime` second, else at the
    /// Kafka timestamp.
    @Test(arguments: MongoFormatter.allCases)
    func deleteIsByIDAtWallTimeElseClusterTimeElseKafkaTime(formatter: MongoFormatter) throws {
        func deleted(_ value: String) throws -> DecodedEvent.Effect { try decoder.decodeEvent(E.message(value)).effect }
        func delete(atMicros: Int64) -> DecodedEvent.Effect {
            .bySource(SourceChange(plant: .tomato, sourceID: E.sourceID, operation: .delete(at: Timestamp(microsecondsSinceEpoch: atMicros))))
        }
        #expect(try deleted(E.event(formatter, "delete", wallTime: E.deletedMillis)) == delete(atMicros: E.deletedMillis * 1000 + 999))
        #expect(try deleted(E.event(formatter, "delete", wallTime: nil, clusterTime: 1_696_838_500)) == delete(atMicros: 1_696_838_500_999_999))
        #expect(try deleted(E.event(formatter, "delete", wallTime: nil, clusterTime: nil)) == delete(atMicros: E.kafkaMillis * 1000 + 999))
        let noTime = #expect(throws: EventDecodingError.self) {
            try decoder.decodeEvent(E.message(E.event(formatter, "delete", wallTime: nil, clusterTime: nil), timestamp: nil))
        }
        #expect(noTime?.field == "wallTime")
    }

    /// With pre-images (`change.stream.full.document.before.change`,
    /// https://www.mongodb.com/docs/manual/changeStreams/#change-streams-with-document-pre--and-post-images):
    /// a delete whose pre-image carries `id` deletes by business key; an update's pre-image with the
    /// patch applied is an upsert by business key (when the patch sets `updated_at`).
    @Test func preImagesNameTheBusinessKey() throws {
        let preImage = #""fullDocumentBeforeChange": \#(E.document(.defaultJson))"#
        let delete = try decoder.decode(E.message(E.event(.defaultJson, "delete", wallTime: E.deletedMillis, extra: [preImage])))
        #expect(delete == .delete(RecordKey(plant: .tomato, id: 17), at: Timestamp(microsecondsSinceEpoch: E.deletedMillis * 1000 + 999)))

        let description = #"{"updatedFields": {"disease": "Late Blight", "updated_at": {"$date": \#(E.updatedMillis)}}, "removedFields": []}"#
        let update = try decoder.decode(E.message(E.event(.defaultJson, "update", updateDescription: description, extra: [preImage])))
        #expect(update == .upsert(E.record(updatedMillis: E.updatedMillis, disease: "Late Blight"), keepsStoredData: true))
        #expect(update.record?.sourceID == E.sourceID)

        // Without updated_at the patched record's version cannot be told: a patch by _id.
        let unordered = #"{"updatedFields": {"disease": "Late Blight"}, "removedFields": []}"#
        let patch = try decoder.decodeEvent(E.message(E.event(.defaultJson, "update", updateDescription: unordered, extra: [preImage])))
        #expect(patch.effect == .bySource(SourceChange(plant: .tomato, sourceID: E.sourceID, operation: .patch(RecordPatch(disease: .some("Late Blight"))))))
    }

    /// Patch values are read by RecordJSON's readers, under the same rules; errors name the path.
    @Test(arguments: [
        (#"{"updatedFields": {"percentage": "high"}}"#, EventDecodingError.Kind.wrongType, "updateDescription.updatedFields.percentage"),
        (#"{"updatedFields": {"id": 18}}"#, .invalidValue, "updateDescription.updatedFields.id"),
        (#"{"updatedFields": {"camera_id": true}}"#, .wrongType, "updateDescription.updatedFields.camera_id"),
        (#"{"updatedFields": {"gps_coordinates.0": 91}}"#, .invalidValue, "updateDescription.updatedFields.gps_coordinates.0"),
        (#"{"updatedFields": {"gps_coordinates.2": 1}}"#, .invalidValue, "updateDescription.updatedFields.gps_coordinates.2"),
        (#"{"updatedFields": {"gps_coordinates": [1]}}"#, .invalidValue, "updateDescription.updatedFields.gps_coordinates"),
        (#"{"updatedFields": {"created_at": null}}"#, .invalidValue, "updateDescription.updatedFields.created_at"),
        (#"{"updatedFields": {"updated_at": "yesterday"}}"#, .invalidValue, "updateDescription.updatedFields.updated_at"),
        (#"{"updatedFields": {"data": "***"}}"#, .invalidValue, "updateDescription.updatedFields.data"),
        (#"{"updatedFields": {"is_deleted": "yes"}}"#, .wrongType, "updateDescription.updatedFields.is_deleted"),
        (#"{"updatedFields": [], "removedFields": []}"#, .wrongType, "updateDescription.updatedFields"),
        (#"{"updatedFields": {}, "removedFields": ["camera_id"]}"#, .invalidValue, "updateDescription.removedFields"),
        (#"{"updatedFields": {}, "removedFields": ["gps_coordinates.1"]}"#, .invalidValue, "updateDescription.removedFields"),
        (#"{"updatedFields": {}, "removedFields": [5]}"#, .wrongType, "updateDescription.removedFields"),
        (#"{"updatedFields": {}, "truncatedArrays": [{"field": "gps_coordinates", "newSize": 1}]}"#, .invalidValue, "updateDescription.truncatedArrays"),
        (#""set everything""#, .wrongType, "updateDescription"),
    ])
    func patchErrorsNameTheField(description: String, kind: EventDecodingError.Kind, field: String) {
        let error = #expect(throws: EventDecodingError.self) {
            try decoder.decodeEvent(E.message(E.event(.defaultJson, "update", updateDescription: description)))
        }
        #expect(error?.kind == kind, "\(String(describing: error))")
        #expect(error?.field == field, "\(String(describing: error))")
    }

    @Test func removingARequiredFieldNamesIt() {
        let error = #expect(throws: EventDecodingError.self) {
            try decoder.decodeEvent(E.message(E.event(.defaultJson, "update", updateDescription: #"{"updatedFields": {}, "removedFields": ["is_active"]}"#)))
        }
        #expect(error?.value == "\"is_active\"")
        #expect(error?.detail.contains("'is_active' cannot be removed") == true)
    }

    /// drop, rename, dropDatabase, invalidate
    /// (https://www.mongodb.com/docs/manual/reference/change-events/) change no record: unsupported,
    /// dead-lettered (and their offsets recorded as a gap by the pipeline).
    @Test(arguments: ["drop", "rename", "dropDatabase", "invalidate", "createIndexes"])
    func otherOperationTypesAreUnsupported(operationType: String) {
        let value = #"{"_id": {"_data": "8265"}, "operationType": "\#(operationType)", "clusterTime": {"$timestamp": {"t": 1696838400, "i": 1}}, "ns": {"db": "imagedbplantproducer", "coll": "imagecolplanttomato"}}"#
        let error = #expect(throws: EventDecodingError.self) { try decoder.decodeEvent(E.message(value)) }
        #expect(error?.kind == .unsupported)
        #expect(error?.field == "operationType")
        #expect(error?.value == "\"\(operationType)\"")
    }

    /// `publish.full.document.only=true`
    /// (https://www.mongodb.com/docs/kafka-connector/current/source-connector/configuration-properties/change-stream/):
    /// the value is the bare document. Forced, any formatter's document is an upsert by its `_id`; in
    /// `auto` only one whose `data` is an Extended JSON `$binary` object (a simplified document's base64
    /// string reads as LIMS's hex, which it is not).
    @Test(arguments: MongoFormatter.allCases)
    func fullDocumentOnlyValuesAreUpserts(formatter: MongoFormatter) throws {
        let value = E.document(formatter, updatedMillis: E.updatedMillis)
        let change = try forced.decode(E.message(value))
        #expect(change == .upsert(E.record(updatedMillis: E.updatedMillis)))
        #expect(change.record?.sourceID == E.sourceID)
        if formatter == .simplifiedJson {
            let error = #expect(throws: EventDecodingError.self) { try decoder.decode(E.message(value)) }
            #expect(error?.field == "data")
            #expect(error?.detail == "not a hex string")
        } else {
            #expect(try decoder.decode(E.message(value)) == change)
            #expect(try decoder.decode(E.message(value)).record?.sourceID == E.sourceID)
        }
    }

    /// `publish.full.document.only.tombstone.on.delete=true`: a delete is a tombstone whose key is the
    /// document key `{"_id": …}` (`change.stream.document.key.as.key`, default true,
    /// https://github.com/mongodb/mongo-kafka/blob/master/src/main/java/com/mongodb/kafka/connect/source/StartedMongoSourceTask.java):
    /// a delete by `_id` at the Kafka timestamp. The resume-token key names no document.
    @Test(arguments: MongoFormatter.allCases)
    func fullDocumentOnlyTombstonesDeleteByID(formatter: MongoFormatter) throws {
        let key = #"{"_id": \#(formatter.oid(E.oid))}"#
        let expected = DecodedEvent.Effect.bySource(
            SourceChange(plant: .tomato, sourceID: E.sourceID, operation: .delete(at: Timestamp(microsecondsSinceEpoch: E.kafkaMillis * 1000 + 999))))
        for decoder in [decoder, forced, EventDecoder(format: .debezium), EventDecoder(format: .lims)] {
            #expect(try decoder.decodeEvent(E.message(nil, key: key)).effect == expected)
            // a key double-encoded by JsonConverter over a string
            #expect(try decoder.decodeEvent(E.message(nil, key: JSONWriter.string(key))).effect == expected)
        }
        let token = #expect(throws: EventDecodingError.self) {
            try decoder.decodeEvent(E.message(nil, key: #"{"_id": {"_data": "826523B2C0000000012B"}}"#))
        }
        #expect(token?.kind == .unsupported)
        #expect(token?.field == "key._id")
        let unreadable = #expect(throws: EventDecodingError.self) { try decoder.decodeEvent(E.message(nil, key: #"{"_id": [1]}"#)) }
        #expect(unreadable?.kind == .invalidValue)
    }

    /// `JsonConverter` with `schemas.enable=false` over the connector's JSON string (double-encoded), and
    /// with `schemas.enable=true` (`{"schema": {"type": "string"}, "payload": "…"}`): read once.
    @Test(arguments: MongoFormatter.allCases)
    func doubleEncodedValuesAreReadOnce(formatter: MongoFormatter) throws {
        let insert = E.event(formatter, "insert", fullDocument: E.document(formatter))
        let plain = try decoder.decodeEvent(E.message(insert))
        for value in [JSONWriter.string(insert), #"{"schema": {"type": "string", "optional": false}, "payload": \#(JSONWriter.string(insert))}"#] {
            #expect(try decoder.decodeEvent(E.message(value)) == plain)
            #expect(try forced.decodeEvent(E.message(value)) == plain)
            #expect(try decoder.decodeEvent(E.message(value)).change?.record?.sourceID == E.sourceID)
        }
        // once only: a string holding a string holding the event is not unwrapped twice
        let twice = #expect(throws: EventDecodingError.self) { try decoder.decodeEvent(E.message(JSONWriter.string(JSONWriter.string(insert)))) }
        #expect(twice?.kind == .wrongType)
        // a LIMS event double-encoded too
        #expect(try decoder.decode(E.message(JSONWriter.string(limsExampleJSON))) == .upsert(sampleRecord()))
        let malformed = #expect(throws: EventDecodingError.self) { try decoder.decodeEvent(E.message(JSONWriter.string("{\"operationType\": "))) }
        #expect(malformed?.kind == .malformedJSON)
    }

    /// The connector's schema output (`output.format.value=schema`,
    /// https://www.mongodb.com/docs/kafka-connector/current/source-connector/configuration-properties/output-format/):
    /// `fullDocument`, `documentKey`, `updatedFields`, `clusterTime` are JSON strings, `wallTime` an
    /// integer of milliseconds.
    @Test func schemaOutputStringsAreRead() throws {
        let document = JSONWriter.string(E.document(.defaultJson))
        let documentKey = JSONWriter.string(#"{"_id": {"$oid": "\#(E.oid)"}}"#)
        let insert = #"{"schema": {"type": "struct"}, "payload": {"_id": "{\"_data\": \"8265\"}", "operationType": "insert", "fullDocument": \#(document), "documentKey": \#(documentKey), "ns": {"db": "imagedbplantproducer", "coll": "imagecolplanttomato"}, "wallTime": \#(E.createdMillis)}}"#
        let change = try decoder.decode(E.message(insert))
        #expect(change == .upsert(E.record()))
        #expect(change.record?.sourceID == E.sourceID)
        let delete = #"{"schema": {"type": "struct"}, "payload": {"operationType": "delete", "documentKey": \#(documentKey), "clusterTime": "{\"$timestamp\": {\"t\": 1696838500, \"i\": 3}}", "wallTime": null}}"#
        #expect(
            try decoder.decodeEvent(E.message(delete)).effect
                == .bySource(SourceChange(plant: .tomato, sourceID: E.sourceID, operation: .delete(at: Timestamp(microsecondsSinceEpoch: 1_696_838_500_999_999)))))
    }

    /// A topic that names no plant takes the plant of `ns.coll`.
    @Test func thePlantIsTheTopicsElseTheCollections() throws {
        let value = E.event(.defaultJson, "insert", fullDocument: E.document(.defaultJson))
            .replacingOccurrences(of: "imagecolplanttomato", with: "imagecolplantpepper")
        #expect(try decoder.decode(E.message(value, topic: "cdc-Leaves")).key == RecordKey(plant: .pepper, id: 17))
        #expect(try decoder.decode(E.message(value, topic: "lims.imagedbplantproducer.imagecolplantpotato")).key.plant == .potato)
    }

    /// Timestamps are truncated to the producer's precision, in patches too.
    @Test func patchesAreTruncatedToTheProducersPrecision() throws {
        let millis = EventDecoder(timestampPrecision: .milliseconds)
        let description = #"{"updatedFields": {"updated_at": "2023-10-09T08:00:00.456789", "created_at": {"$date": "2023-10-08T15:39:49.123456Z"}}}"#
        let event = try millis.decodeEvent(E.message(E.event(.defaultJson, "update", updateDescription: description)))
        let expected = RecordPatch(
            createdAt: Timestamp(microsecondsSinceEpoch: E.createdMillis * 1000), updatedAt: .some(Timestamp(microsecondsSinceEpoch: E.updatedMillis * 1000)))
        #expect(event.effect == .bySource(SourceChange(plant: .tomato, sourceID: E.sourceID, operation: .patch(expected))))
    }

    /// Dead letters of the new shapes keep their key where the event names one, so their gaps heal
    /// one key, not a plant.
    @Test func bestEffortKeysReadTheNewShapes() {
        let broken = E.event(.defaultJson, "insert", fullDocument: E.document(.defaultJson).replacingOccurrences(of: #""camera_id": 3"#, with: #""camera_id": "3""#))
        #expect(decoder.bestEffortKey(E.message(broken)) == RecordKey(plant: .tomato, id: 17))
        #expect(decoder.bestEffortKey(E.message(JSONWriter.string(broken))) == RecordKey(plant: .tomato, id: 17))
        #expect(decoder.bestEffortKey(E.message(broken, topic: "cdc-Leaves")) == RecordKey(plant: .tomato, id: 17))
        let patch = E.event(.defaultJson, "update", updateDescription: #"{"updatedFields": {"percentage": "x"}}"#)
        #expect(decoder.bestEffortKey(E.message(patch)) == nil)
    }

    /// Malformed change stream documents are typed errors naming the field.
    @Test(arguments: [
        (#"{"operationType": 3}"#, EventDecodingError.Kind.wrongType, "operationType"),
        (#"{"operationType": "insert", "documentKey": {"_id": {"$oid": "6522cf85e2bd4ea5d1a6f3a1"}}}"#, .missingField, "fullDocument"),
        (#"{"operationType": "insert", "fullDocument": 5}"#, .wrongType, "fullDocument"),
        (#"{"operationType": "insert", "fullDocument": "{oops"}"#, .malformedJSON, "fullDocument"),
        (#"{"operationType": "update", "documentKey": {"_id": {"$oid": "6522cf85e2bd4ea5d1a6f3a1"}}}"#, .missingField, "updateDescription"),
        (#"{"operationType": "update", "updateDescription": {"updatedFields": {}}}"#, .missingField, "documentKey._id"),
        (#"{"operationType": "delete", "documentKey": {"_id": {"$oid": "nothex"}}, "wallTime": {"$date": 1}}"#, .invalidValue, "documentKey._id"),
        (#"{"operationType": "delete", "documentKey": {"_id": [1]}, "wallTime": {"$date": 1}}"#, .invalidValue, "documentKey._id"),
        (#"{"operationType": "delete", "documentKey": {"_id": 5}, "wallTime": true}"#, .wrongType, "wallTime"),
        (#"{"operationType": "delete", "documentKey": {"_id": 5}, "clusterTime": {"$timestamp": {"t": -1, "i": 1}}}"#, .invalidValue, "clusterTime"),
        (#"{"operationType": "delete", "documentKey": {"_id": 5}, "clusterTime": 7}"#, .wrongType, "clusterTime"),
        (#"{"operationType": "delete", "documentKey": {"_id": 5}, "fullDocumentBeforeChange": {"id": "x"}, "wallTime": {"$date": 1}}"#, .wrongType, "fullDocumentBeforeChange.id"),
        (#"{"operationType": "update", "documentKey": {"_id": 5}, "updateDescription": {"updatedFields": {"updated_at": {"$date": 1}}}, "fullDocumentBeforeChange": {"id": 5}}"#, .missingField, "fullDocumentBeforeChange.camera_id"),
    ])
    func malformedChangeStreamDocumentsAreTypedErrors(value: String, kind: EventDecodingError.Kind, field: String) {
        let error = #expect(throws: EventDecodingError.self) { try forced.decodeEvent(E.message(value)) }
        #expect(error?.kind == kind, "\(String(describing: error))")
        #expect(error?.field == field, "\(String(describing: error))")
    }

    /// Whatever a MongoDB event is cut to or corrupted into, decoding returns a change or a typed error —
    /// never a crash — and a failed decode's best-effort key is computed without one either.
    @Test func corruptedMongoEventsNeverCrash() {
        var generator = SplitMix64(seed: 0x22)
        let description = #"{"updatedFields": {"gps_coordinates.1": 21.5, "updated_at": {"$date": 1696838400456}}, "removedFields": ["disease"], "truncatedArrays": []}"#
        var seeds = [String]()
        for f in MongoFormatter.allCases {
            seeds.append(E.event(f, "insert", fullDocument: E.document(f)))
            seeds.append(E.event(f, "update", updateDescription: description))
            seeds.append(E.event(f, "delete"))
            seeds.append(E.document(f))
        }
        seeds.append(contentsOf: DebeziumMongoDecodingTests.seedPayloads)
        var outcomes = [String: Int]()
        for seed in seeds {
            let original = Array(seed.utf8)
            for round in 0..<120 {
                var mutated = original
                switch round % 4 {
                case 0: mutated = Array(original.prefix(Int(generator.next() % UInt64(original.count))))
                case 1:
                    for _ in 0..<3 { mutated[Int(generator.next() % UInt64(mutated.count))] = UInt8(truncatingIfNeeded: generator.next()) }
                case 2:
                    let at = Int(generator.next() % UInt64(mutated.count))
                    mutated.insert(contentsOf: Array(#"{"$date": null}"#.utf8), at: at)
                default:
                    let a = Int(generator.next() % UInt64(mutated.count)), b = Int(generator.next() % UInt64(mutated.count))
                    mutated.swapAt(a, b)
                }
                for decoder in [decoder, forced, EventDecoder(format: .debezium)] {
                    let message = IncomingMessage(topic: E.topic, key: Array(#"{"id": "{\"$oid\": \"6522cf85e2bd4ea5d1a6f3a1\"}"}"#.utf8), value: mutated, timestampMillis: 1)
                    do {
                        _ = try decoder.decodeEvent(message)
                        outcomes["ok", default: 0] += 1
                    } catch {
                        outcomes[error.kind.rawValue, default: 0] += 1
                        _ = decoder.bestEffortKey(message)
                    }
                }
            }
        }
        #expect(outcomes["malformed-json", default: 0] > 0)
        #expect(outcomes.values.reduce(0, +) == seeds.count * 120 * 3)
    }
}

/// A small deterministic generator for the corruption test.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
