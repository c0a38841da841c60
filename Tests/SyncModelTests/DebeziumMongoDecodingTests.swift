import Foundation
import Testing

@testable import SyncModel

/// Debezium's MongoDB connector's events for LIMS's MongoDB producer, shaped as
/// https://debezium.io/documentation/reference/stable/connectors/mongodb.html shows them (keys:
/// "Change event keys"; values: "create", "update", "delete" and "Tombstone events"; capture modes:
/// `capture.mode`) and, for the legacy oplog capture mode, as
/// https://debezium.io/documentation/reference/1.7/connectors/mongodb.html#mongodb-update-events shows it.
@Suite struct DebeziumMongoDecodingTests {
    typealias E = MongoEvents
    let decoder = EventDecoder()

    /// The key: `{"id": "<_id as Extended JSON>"}`, with the `schema`/`payload` wrapper (JsonConverter,
    /// `schemas.enable=true`) or without.
    static let key = #"{"id": "{\"$oid\": \"6522cf85e2bd4ea5d1a6f3a1\"}"}"#
    static let wrappedKey =
        #"{"schema": {"type": "struct", "fields": [{"type": "string", "optional": false, "field": "id"}], "optional": false, "name": "lims.imagedbplantproducer.imagecolplanttomato.Key"}, "payload": {"id": "{\"$oid\" : \"6522cf85e2bd4ea5d1a6f3a1\"}"}}"#

    static func source(tsMillis: Int64 = E.updatedMillis, wallTime: Int64? = nil) -> String {
        #"{"version": "2.7.3.Final", "connector": "mongodb", "name": "lims", "ts_ms": \#(tsMillis), "snapshot": "false", "db": "imagedbplantproducer", "sequence": null, "collection": "imagecolplanttomato", "ord": 1, "lsid": null, "txnNumber": null\#(wallTime.map { #", "wallTime": \#($0)"# } ?? "")}"#
    }

    /// A value payload; `fields` are JSON members (`"after": …`).
    static func value(_ op: String, _ fields: [String], source: String = source(), wrapped: Bool = true) -> String {
        let payload = "{" + (fields + [#""source": \#(source)"#, #""op": "\#(op)""#, #""ts_ms": 1696838501000"#, #""transaction": null"#])
            .joined(separator: ", ") + "}"
        return wrapped ? #"{"schema": {"type": "struct", "optional": false, "name": "lims.imagedbplantproducer.imagecolplanttomato.Envelope"}, "payload": \#(payload)}"# : payload
    }

    /// `after`/`before` are Extended JSON strings: v1 strict by default (`json.serialization.mode=legacy`),
    /// v2 canonical with `extended`.
    static func document(_ f: MongoFormatter = .defaultJson, updatedMillis: Int64? = nil, disease: String = "Bacterial Spot") -> String {
        JSONWriter.string(E.document(f, updatedMillis: updatedMillis, disease: disease))
    }

    /// `updateDescription` as the change streams capture modes emit it: `updatedFields` a JSON string,
    /// v2 relaxed by default (dates `{"$date": "<ISO>"}`).
    static let updateDescription =
        #""updateDescription": {"removedFields": ["percentage"], "updatedFields": "{\"disease\": \"Late Blight\", \"gps_coordinates.1\": 21.5, \"updated_at\": {\"$date\": \"2023-10-09T08:00:00.456Z\"}}", "truncatedArrays": null}"#
    static let patch = RecordPatch(
        longitude: 21.5, disease: .some("Late Blight"), percentage: .some(nil), updatedAt: .some(Timestamp(microsecondsSinceEpoch: E.updatedMillis * 1000)))

    /// Payloads for the corruption test (MongoChangeStreamDecodingTests).
    static let seedPayloads: [String] = [
        value("c", [#""before": null"#, #""after": \#(document())"#, #""updateDescription": null"#]),
        value("u", [#""before": null"#, #""after": null"#, updateDescription]),
        value("u", [#""patch": "{\"$v\": 2, \"diff\": {\"u\": {\"disease\": \"Late Blight\"}}}""#, #""filter": "{\"_id\": {\"$oid\": \"6522cf85e2bd4ea5d1a6f3a1\"}}""#], wrapped: false),
        value("d", [#""before": null"#, #""after": null"#]),
    ]

    func message(_ value: String?, key: String? = DebeziumMongoDecodingTests.key, timestamp: Int64? = E.kafkaMillis) -> IncomingMessage {
        E.message(value, key: key, timestamp: timestamp)
    }

    /// create (`op: c`), snapshot read (`op: r`), and update in `change_streams_update_full` (the default
    /// capture mode) or `change_streams_update_full_with_pre_image`: an upsert of `after`, its `sourceID`
    /// `after._id`; in either `json.serialization.mode` (legacy strict, extended canonical).
    @Test(arguments: ["c", "r", "u"], [MongoFormatter.defaultJson, .extendedJson])
    func fullAfterImagesAreUpserts(op: String, formatter: MongoFormatter) throws {
        let updated: Int64? = op == "u" ? E.updatedMillis : nil
        var fields = [#""before": null"#, #""after": \#(Self.document(formatter, updatedMillis: updated))"#]
        if op == "u" {
            fields.append(Self.updateDescription)
            fields[0] = #""before": \#(Self.document(formatter))"#  // *_with_pre_image
        }
        for wrapped in [true, false] {
            let change = try decoder.decode(message(Self.value(op, fields, wrapped: wrapped)))
            #expect(change == .upsert(E.record(updatedMillis: updated)))
            #expect(change.record?.sourceID == E.sourceID)
            #expect(change.carriesBytes)
        }
    }

    /// `change_streams`: an update carries only `updateDescription`: a patch of the document the key names.
    @Test func changeStreamsUpdatesArePatchesByTheKeysID() throws {
        let value = Self.value("u", [#""before": null"#, #""after": null"#, Self.updateDescription])
        for key in [Self.key, Self.wrappedKey] {
            let event = try decoder.decodeEvent(message(value, key: key))
            #expect(event.effect == .bySource(SourceChange(plant: .tomato, sourceID: E.sourceID, operation: .patch(Self.patch))))
        }
        // Without a key, before._id or filter, the document cannot be named.
        let error = #expect(throws: EventDecodingError.self) { try decoder.decodeEvent(message(value, key: nil)) }
        #expect(error?.field == "key")
        #expect(error?.kind == .missingField)
    }

    /// `change_streams_with_pre_image`: `before` and `updateDescription`, no `after`: the pre-image
    /// patched is the document after the update — an upsert by business key that keeps the stored bytes.
    @Test func preImageUpdatesAreThePatchedPreImage() throws {
        let value = Self.value("u", [#""before": \#(Self.document())"#, #""after": null"#, Self.updateDescription])
        let change = try decoder.decode(message(value))
        var expected = E.record(updatedMillis: E.updatedMillis, disease: "Late Blight")
        expected.longitude = 21.5
        expected.percentage = nil
        #expect(change == .upsert(expected, keepsStoredData: true))
        #expect(change.record?.sourceID == E.sourceID)
        #expect(change.version.ts == E.updatedMillis * 1000)
    }

    /// delete in the change streams capture modes: no `before` (unless `*_with_pre_image`), the key names
    /// the `_id`: a delete by `_id` at `source.wallTime`, else at the end of the `source.ts_ms` second
    /// (`clusterTime`), else `ts_ms`.
    @Test func deletesWithoutPreImageAreByTheKeysID() throws {
        func delete(_ micros: Int64) -> DecodedEvent.Effect {
            .bySource(SourceChange(plant: .tomato, sourceID: E.sourceID, operation: .delete(at: Timestamp(microsecondsSinceEpoch: micros))))
        }
        let withWallTime = Self.value("d", [#""before": null"#, #""after": null"#], source: Self.source(tsMillis: E.deletedMillis, wallTime: E.deletedMillis))
        for key in [Self.key, Self.wrappedKey] {
            #expect(try decoder.decodeEvent(message(withWallTime, key: key)).effect == delete(E.deletedMillis * 1000 + 999))
        }
        let clusterSeconds = Self.value("d", [#""before": null"#, #""after": null"#], source: Self.source(tsMillis: 1_696_838_500_000))
        #expect(try decoder.decodeEvent(message(clusterSeconds)).effect == delete(1_696_838_500_999_999))
        // With a pre-image carrying `id`: by business key, as every Debezium delete.
        let preImage = Self.value("d", [#""before": \#(Self.document())"#, #""after": null"#], source: Self.source(tsMillis: E.deletedMillis, wallTime: E.deletedMillis))
        #expect(
            try decoder.decode(message(preImage))
                == .delete(RecordKey(plant: .tomato, id: 17), at: Timestamp(microsecondsSinceEpoch: E.deletedMillis * 1000 + 999)))
    }

    /// Key shapes: Debezium MongoDB's `{"id": "<Extended JSON>"}` for an ObjectId, a string and an integer
    /// `_id` (the table "Examples of representing document _id fields in event key payloads"); a
    /// relational connector's `{"id": 5}` stays the business id; a non-MongoDB event never reads a key
    /// as an `_id`.
    @Test func keysNameObjectIDsStringsAndIntegers() throws {
        let value = Self.value("d", [#""before": null"#, #""after": null"#])
        for (key, expected) in [
            (#"{"id": "{\"$oid\" : \"596e275826f08b2730779e1f\"}"}"#, "596e275826f08b2730779e1f"),
            (#"{"id": "\"1234\""}"#, "1234"), (#"{"id": "1234"}"#, "1234"), (#"{"id": "{\"$numberLong\": \"1234\"}"}"#, "1234"),
        ] {
            guard case .bySource(let source) = try decoder.decodeEvent(message(value, key: key)).effect else {
                Issue.record("not a delete by _id: \(key)")
                continue
            }
            #expect(source.sourceID.rawValue == expected, "\(key)")
        }
        let relational = #"{"before": null, "after": null, "op": "d", "source": {"connector": "postgresql", "table": "tomato", "ts_ms": 1}}"#
        #expect(try decoder.decode(message(relational, key: #"{"id": 5}"#)).key == RecordKey(plant: .tomato, id: 5))
        let notMongo = #expect(throws: EventDecodingError.self) { try decoder.decode(message(relational, key: Self.key)) }
        #expect(notMongo?.field == "before.id")
        let unreadable = #expect(throws: EventDecodingError.self) { try decoder.decodeEvent(message(value, key: #"{"id": "not json"}"#)) }
        #expect(unreadable?.field == "key.id")
        #expect(unreadable?.kind == .invalidValue)
    }

    /// The tombstone Debezium emits after a delete (`tombstones.on.delete`, default true) has the same key:
    /// a delete by `_id` at the Kafka timestamp (the same delete again, later: harmless).
    @Test func tombstonesDeleteByTheKeysID() throws {
        for key in [Self.key, Self.wrappedKey] {
            let event = try decoder.decodeEvent(message(nil, key: key))
            #expect(
                event.effect
                    == .bySource(SourceChange(plant: .tomato, sourceID: E.sourceID, operation: .delete(at: Timestamp(microsecondsSinceEpoch: E.kafkaMillis * 1000 + 999)))))
        }
    }

    /// Legacy oplog capture mode (Debezium 1.x): `patch` (`$set`/`$unset`, `$v` 1, or `$v: 2` diffs) and
    /// `filter` naming the `_id`.
    @Test func oplogPatchesArePatchesByTheFiltersID() throws {
        let filter = #""filter": "{\"_id\" : {\"$oid\" : \"6522cf85e2bd4ea5d1a6f3a1\"}}""#
        let set = #""patch": "{\"$v\": 1, \"$set\": {\"disease\": \"Late Blight\", \"gps_coordinates\": [52.2297, 21.5], \"updated_at\": {\"$date\": 1696838400456}}, \"$unset\": {\"percentage\": true}}""#
        let diff = #""patch": "{\"$v\": 2, \"diff\": {\"u\": {\"disease\": \"Late Blight\", \"updated_at\": {\"$date\": 1696838400456}}, \"i\": {\"gps_coordinates\": [52.2297, 21.5]}, \"d\": {\"percentage\": false}}}""#
        var expected = Self.patch
        expected.latitude = 52.2297
        for patch in [set, diff] {
            for key in [nil, Self.key] {
                let event = try decoder.decodeEvent(message(Self.value("u", [patch, filter], wrapped: false), key: key))
                #expect(event.effect == .bySource(SourceChange(plant: .tomato, sourceID: E.sourceID, operation: .patch(expected))), "\(patch)")
            }
        }
        // An update without operators replaces the whole document: an upsert.
        let replacement = #""patch": \#(Self.document(updatedMillis: E.updatedMillis))"#
        let change = try decoder.decode(message(Self.value("u", [replacement, filter]), key: nil))
        #expect(change == .upsert(E.record(updatedMillis: E.updatedMillis)))
        #expect(change.record?.sourceID == E.sourceID)
        // The oplog delete names its document by `filter`.
        let delete = try decoder.decodeEvent(message(Self.value("d", [filter], source: Self.source(tsMillis: 1_696_838_500_000)), key: nil))
        #expect(delete.effect == .bySource(SourceChange(plant: .tomato, sourceID: E.sourceID, operation: .delete(at: Timestamp(microsecondsSinceEpoch: 1_696_838_500_999_999)))))
    }

    /// What StreamSync does not apply, it refuses with the field and a reason.
    @Test(arguments: [
        (#""patch": "{\"$v\": 2, \"diff\": {\"sgps_coordinates\": {\"a\": true, \"u1\": 21.5}}}""#, EventDecodingError.Kind.unsupported, "patch.diff.sgps_coordinates"),
        (#""patch": "{\"$inc\": {\"camera_id\": 1}}""#, .unsupported, "patch.$inc"),
        (#""patch": "{\"$v\": 3, \"$set\": {}}""#, .unsupported, "patch.$v"),
        (#""patch": "{\"$set\": {\"id\": 18}}""#, .invalidValue, "patch.$set.id"),
        (#""patch": "{\"$set\": {\"camera_id\": \"three\"}}""#, .wrongType, "patch.$set.camera_id"),
        (#""patch": "{\"$unset\": {\"created_at\": true}}""#, .invalidValue, "patch.$unset"),
        (#""patch": "{\"$v\": 2, \"diff\": {\"u\": 5}}""#, .wrongType, "patch.diff.u"),
        (#""patch": "[1]""#, .wrongType, "patch"),
        (#""patch": "{oops""#, .malformedJSON, "patch"),
        (#""updateDescription": {"updatedFields": "{\"percentage\": \"x\"}", "removedFields": null}"#, .wrongType, "updateDescription.updatedFields.percentage"),
        (#""updateDescription": {"updatedFields": "{nope", "removedFields": null}"#, .malformedJSON, "updateDescription.updatedFields"),
        (#""updateDescription": {"updatedFields": "{}", "removedFields": ["is_deleted"]}"#, .invalidValue, "updateDescription.removedFields"),
        (#""updateDescription": {"updatedFields": "{}", "truncatedArrays": [{"field": "gps_coordinates", "newSize": 1}]}"#, .invalidValue, "updateDescription.truncatedArrays"),
        (#""after": null"#, .unsupported, "after"),
    ])
    func unsupportedAndMalformedUpdatesAreTypedErrors(field: String, kind: EventDecodingError.Kind, name: String) {
        let error = #expect(throws: EventDecodingError.self) { try decoder.decodeEvent(message(Self.value("u", [field]))) }
        #expect(error?.kind == kind, "\(String(describing: error))")
        #expect(error?.field == name, "\(String(describing: error))")
    }

    /// Dead letters keep the business id where `after` (a JSON string) or `before` carries it.
    @Test func bestEffortKeysReadExtendedJSONStrings() {
        let broken = Self.value("u", [#""after": \#(JSONWriter.string(E.document(.defaultJson).replacingOccurrences(of: #""is_active": true"#, with: #""is_active": 1"#)))"#])
        #expect(throws: EventDecodingError.self) { try decoder.decodeEvent(message(broken)) }
        #expect(decoder.bestEffortKey(message(broken)) == RecordKey(plant: .tomato, id: 17))
        let patch = Self.value("u", [#""patch": "{\"$inc\": {\"camera_id\": 1}}""#])
        #expect(decoder.bestEffortKey(message(patch)) == nil)
    }
}
