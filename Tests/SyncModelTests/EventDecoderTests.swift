import Foundation
import Testing

@testable import SyncModel

@Suite struct EventDecoderTests {
    let decoder = EventDecoder()

    func message(_ topic: String, _ value: String?, key: String? = nil, timestamp: Int64? = 1_700_000_000_000) -> IncomingMessage {
        IncomingMessage(topic: topic, partition: 0, offset: 0, key: key.map(bytes), value: value.map(bytes), timestampMillis: timestamp)
    }

    /// A LIMS event's hex image is decoded from the event's bytes in place (no `String` of it): the
    /// same bytes as the plain parse gives, whatever the spacing, case or key order; an escaped hex
    /// string (never LIMS's) still decodes; the last of two `data` keys wins; bad hex is dead-lettered.
    @Test func hexImagesDecodeInPlaceLikeThePlainParse() throws {
        let fields = """
            "id": 7, "camera_id": 1, "gps_coordinates": [1.5, 2], "created_at": "2023-10-08T15:39:49.123123", \
            "is_active": true, "is_deleted": false
            """
        for (data, expected) in [
            ("\"00ff10Ab\"", [0, 255, 16, 171] as [UInt8]?), ("  \"\"", []), ("null", nil), ("\"\\u0030a\"", [10]),
        ] {
            let value = "{\"data\": \(data), \(fields)}"
            let change = try decoder.decode(message("tomato", value))
            #expect(change.record?.data == expected, "\(data)")
            let plain = try RecordJSON.decode(try JSONValue.parse(bytes(value)), plant: .tomato)
            #expect(change.record == plain.record, "\(data)")
        }
        let twice = try decoder.decode(message("tomato", "{\"data\": \"01\", \(fields), \"data\": \"0203\"}"))
        #expect(twice.record?.data == [2, 3])
        let dropped = try decoder.decode(message("tomato", "{\"data\": \"01\", \(fields), \"data\": null}"))
        #expect(dropped.record?.data == nil)
        #expect(dropped.kept.isEmpty)
        let bad = #expect(throws: EventDecodingError.self) { try decoder.decode(message("tomato", "{\"data\": \"0g\", \(fields)}")) }
        #expect(bad?.field == "data")
    }

    @Test func limsEventBecomesAnUpsertOfTheTopicsPlant() throws {
        let change = try decoder.decode(message("tomato", limsExampleJSON))
        #expect(change == .upsert(sampleRecord(plant: .tomato)))
        #expect(change.version.ts == 1_696_779_589_123_123)
        let potato = try decoder.decode(message("potato", limsExampleJSON))
        #expect(potato.key == RecordKey(plant: .potato, id: 17))
    }

    /// Beside a MongoDB producer (BSON dates keep milliseconds) events are truncated to milliseconds, so
    /// the event and BatchSync's read of the document give the record one version.
    @Test func millisecondPrecisionTruncatesEventTimestamps() throws {
        let millis = EventDecoder(timestampPrecision: .milliseconds)
        let change = try millis.decode(message("tomato", limsExampleJSON))
        var stored = sampleRecord(plant: .tomato)
        stored.createdAt = Timestamp(microsecondsSinceEpoch: 1_696_779_589_123_000)
        stored.updatedAt = stored.updatedAt.map { Timestamp(microsecondsSinceEpoch: $0.microsecondsSinceEpoch / 1000 * 1000) }
        #expect(change == .upsert(stored))
        #expect(change.version.ts == 1_696_779_589_123_000)
        #expect(TimestampPrecision.milliseconds.truncate(-1) == -1000)
        let keepingData = try millis.decode(message("pepper", RecordJSON.encode(sampleRecord(plant: .pepper), includeData: false)))
        #expect(keepingData.kept == .data)
        #expect(keepingData.version.ts % 1000 == 0)
    }

    /// LIMS's record table lists the document's `_id` (the example event carries it as a hex string):
    /// the record keeps it as its `sourceID`, whatever the ObjectId's form; an event without one has none,
    /// and an `_id` StreamSync cannot name is ignored, never an error.
    @Test func aLimsEventsIDIsKeptAsTheRecordsSourceID() throws {
        let oid = "6522cf85e2bd4ea5d1a6f3a1"
        let original = #""_id": "\#(oid)", "#
        #expect(limsExampleJSON.contains(original))
        for form in [original, #""_id": {"$oid": "\#(oid)"}, "#, #""_id": "\#(oid.uppercased())", "#] {
            let change = try decoder.decode(message("tomato", limsExampleJSON.replacingOccurrences(of: original, with: form)))
            #expect(change.record?.sourceID == SourceID(rawValue: oid), "\(form)")
            #expect(change == .upsert(sampleRecord(plant: .tomato)))
        }
        for form in ["", #""_id": [1], "#] {
            let change = try decoder.decode(message("tomato", limsExampleJSON.replacingOccurrences(of: original, with: form)))
            #expect(change.record?.sourceID == nil, "\(form)")
        }
    }

    @Test func limsEventWithoutDataKeepsStoredBytes() throws {
        let change = try decoder.decode(message("pepper", RecordJSON.encode(sampleRecord(plant: .pepper), includeData: false)))
        guard case .upsert(let record, let keeps) = change.operation else {
            Issue.record("not an upsert")
            return
        }
        #expect(keeps == .data)
        #expect(record.data == nil)
        #expect(change.version == sampleRecord(plant: .pepper).version)
    }

    @Test func topicMappingIsConfigurable() throws {
        let custom = EventDecoder(format: .lims, topicPlants: ["lims-tomatoes": .tomato])
        #expect(try custom.decode(message("lims-tomatoes", limsExampleJSON)).key.plant == .tomato)
        let error = #expect(throws: EventDecodingError.self) { try custom.decode(message("lims-cucumbers", limsExampleJSON)) }
        #expect(error?.kind == .invalidPlant)
        #expect(error?.field == "topic")
        #expect(error?.value == "\"lims-cucumbers\"")
        #expect(error?.detail.contains("'lims-cucumbers' is not a valid plant name") == true, "\(String(describing: error))")
        #expect(error?.detail.contains("--topic-plant") == true)
    }

    /// A plant LIMS adds needs no mapping: its topic names it (docs/design.md §1, §2).
    @Test func anyTopicNamingAValidPlantIsThatPlant() throws {
        let cucumber = try #require(Plant(rawValue: "cucumber"))
        #expect(try decoder.decode(message("cucumber", limsExampleJSON)) == .upsert(sampleRecord(plant: cucumber)))
        #expect(try decoder.decode(message("lims.imagedbplantproducer.imagecolplantcucumber", limsExampleJSON)).key.plant == cucumber)
        let deleted = try decoder.decode(message("bell_pepper2", nil, key: "5"))
        #expect(deleted.key == RecordKey(plant: try #require(Plant(rawValue: "bell_pepper2")), id: 5))
        // A Debezium topic whose last segment names no plant takes the plant of its source collection.
        let value = #"{"before": null, "after": \#(Self.after), "op": "c", "source": {"collection": "imagecolplantcucumber"}}"#
        #expect(try decoder.decode(message("cdc.Leaves-2024", value)).key.plant == cucumber)
    }

    /// Topics that name no valid plant are poison messages of kind invalid-plant, saying why.
    @Test(arguments: [
        ("Cucumber", "lower-case letter"), ("lims.1cucumber", "lower-case letter"), ("cu-cumber", "only lower-case letters"),
        ("lims.", "must not be empty"), (String(repeating: "k", count: 41), "at most 40"),
        ("imagecolplantimagecolplantx", "does not start with 'imagecolplant'"),
    ])
    func topicsNamingNoValidPlantAreRefused(topic: String, reason: String) throws {
        let error = #expect(throws: EventDecodingError.self) { try decoder.decode(message(topic, limsExampleJSON)) }
        #expect(error?.kind == .invalidPlant)
        #expect(error?.value == "\"\(topic)\"")
        #expect(error?.detail.contains(reason) == true, "\(String(describing: error))")
    }

    @Test func tombstoneDeletesByKeyAtTheKafkaTimestamp() throws {
        for key in ["17", "{\"id\": 17}", "{\"schema\": {}, \"payload\": {\"id\": 17}}"] {
            let change = try decoder.decode(message("tomato", nil, key: key, timestamp: 1_700_000_000_123))
            #expect(change == .delete(RecordKey(plant: .tomato, id: 17), at: Timestamp(microsecondsSinceEpoch: 1_700_000_000_123_999)))
        }
        let noKey = #expect(throws: EventDecodingError.self) { try decoder.decode(message("tomato", nil)) }
        #expect(noKey?.field == "key")
        let badKey = #expect(throws: EventDecodingError.self) { try decoder.decode(message("tomato", nil, key: "-3")) }
        #expect(badKey?.kind == .invalidValue)
    }

    static let after =
        #"{"id": 17, "camera_id": 3, "data": "/9j/4AAQSkZJRg==", "gps_coordinates": [52.2297, 21.0122], "disease": "Bacterial Spot", "percentage": 0.87, "created_at": 1696779589123123, "updated_at": null, "is_active": true, "is_deleted": false}"#

    @Test(arguments: ["c", "r", "u"])
    func debeziumUpsertsAfterWithAndWithoutSchemaWrapper(op: String) throws {
        let bare =
            #"{"before": null, "after": \#(Self.after), "op": "\#(op)", "ts_ms": 1700000000000, "source": {"table": "tomato", "ts_ms": 1699999999999}}"#
        let wrapped = #"{"schema": {"type": "struct"}, "payload": \#(bare)}"#
        for value in [bare, wrapped] {
            let change = try decoder.decode(message("dbserver.public.tomato", value))
            #expect(change == .upsert(sampleRecord()))
        }
    }

    @Test func debeziumMongoAfterIsAnExtendedJSONString() throws {
        let mongoAfter =
            #"{\"_id\": {\"$oid\": \"6522cf85e2bd4ea5d1a6f3a1\"}, \"id\": {\"$numberLong\": \"17\"}, \"camera_id\": 3, \"data\": {\"$binary\": {\"base64\": \"/9j/4AAQSkZJRg==\", \"subType\": \"00\"}}, \"gps_coordinates\": [52.2297, 21.0122], \"disease\": \"Bacterial Spot\", \"percentage\": 0.87, \"created_at\": {\"$date\": 1696779589123}, \"updated_at\": null, \"is_active\": true, \"is_deleted\": false}"#
        let value = #"{"after": "\#(mongoAfter)", "op": "u", "source": {"collection": "imagecolplantpepper", "ts_ms": 1}}"#
        let change = try decoder.decode(message("lims.imagedbplantproducer.imagecolplantpepper", value))
        #expect(change.key == RecordKey(plant: .pepper, id: 17))
        #expect(change.record?.createdAt.microsecondsSinceEpoch == 1_696_779_589_123_000)
    }

    @Test func debeziumDeleteUsesBeforeOrKeyAndSourceTime() throws {
        let withBefore =
            #"{"before": \#(Self.after), "after": null, "op": "d", "ts_ms": 1700000000500, "source": {"ts_ms": 1700000000000}}"#
        #expect(
            try decoder.decode(message("tomato", withBefore))
                == .delete(RecordKey(plant: .tomato, id: 17), at: Timestamp(microsecondsSinceEpoch: 1_700_000_000_000_999)))
        let keyOnly = #"{"before": null, "after": null, "op": "d", "ts_ms": 1700000000500}"#
        #expect(
            try decoder.decode(message("tomato", keyOnly, key: #"{"id": 9}"#))
                == .delete(RecordKey(plant: .tomato, id: 9), at: Timestamp(microsecondsSinceEpoch: 1_700_000_000_500_999)))
        let wrappedNull = #"{"schema": null, "payload": null}"#
        #expect(try decoder.decode(message("tomato", wrappedNull, key: "9", timestamp: 5)).operation == .delete)
        let noKey = #expect(throws: EventDecodingError.self) { try decoder.decode(message("tomato", keyOnly)) }
        #expect(noKey?.field == "before.id")
    }

    @Test(arguments: [
        (#"{"id": 17,"#, EventDecodingError.Kind.malformedJSON, nil as String?),
        ("[1, 2]", .wrongType, "(record)"),
        ("\"text\"", .wrongType, "(record)"),
        (#"{"op": "x", "after": {}}"#, .invalidValue, "op"),
        (#"{"op": 5}"#, .wrongType, "op"),
        (#"{"payload": {"after": {}}}"#, .missingField, "op"),
        (#"{"op": "u", "after": null}"#, .unsupported, "after"),
        (#"{"op": "c", "after": 7}"#, .wrongType, "after"),
        (#"{"op": "c", "after": "{not json"}"#, .malformedJSON, "after"),
        (#"{"op": "d", "before": null}"#, .missingField, "before.id"),
        // MongoDB shapes (MongoChangeStreamDecodingTests, DebeziumMongoDecodingTests)
        (#"{"operationType": "drop", "ns": {"db": "imagedbplantproducer", "coll": "imagecolplanttomato"}}"#, .unsupported, "operationType"),
        (#"{"operationType": "delete", "documentKey": {}}"#, .missingField, "documentKey._id"),
        (#"{"op": "u", "updateDescription": {"updatedFields": "{}"}, "source": {"connector": "mongodb"}}"#, .missingField, "key"),
        (#"{"op": "d", "source": {"connector": "mongodb"}}"#, .missingField, "key"),
        (#""{\"op\": 5}""#, .wrongType, "op"),
        (#""{\"op\": ""#, .malformedJSON, nil),
    ])
    func poisonMessagesAreTypedErrors(value: String, kind: EventDecodingError.Kind, field: String?) {
        let error = #expect(throws: EventDecodingError.self) { try decoder.decode(message("tomato", value, timestamp: 1)) }
        #expect(error?.kind == kind)
        #expect(error?.field == field)
    }

    @Test func oversizedValuesAreRejectedBeforeParsing() {
        let small = EventDecoder(maxValueBytes: 100)
        let error = #expect(throws: EventDecodingError.self) { try small.decode(message("tomato", limsExampleJSON)) }
        #expect(error?.kind == .oversized)
    }

    @Test func formatCanBeForced() throws {
        let lims = EventDecoder(format: .lims)
        let error = #expect(throws: EventDecodingError.self) {
            try lims.decode(message("tomato", #"{"op": "c", "after": \#(Self.after)}"#))
        }
        #expect(error?.kind == .missingField)
        let debezium = EventDecoder(format: .debezium)
        #expect(throws: EventDecodingError.self) { try debezium.decode(message("tomato", limsExampleJSON)) }
    }
}
