import Foundation
import Testing

@testable import SyncModel

/// Debezium's unavailable-value placeholder in an `after` means "not carried": the field is kept, the
/// store keeps its value, and the decoder reports it (docs/design.md §2).
@Suite struct DebeziumPlaceholderTests {
    static let placeholder = UnavailableValuePlaceholder.debeziumDefault

    /// A Debezium update of the fixture record with `fields` replaced (raw JSON values).
    static func update(_ replacements: [String: String], decoder: EventDecoder = EventDecoder()) throws(EventDecodingError) -> DecodedEvent
    {
        var fields: [String: String] = [
            "id": "17", "camera_id": "3", "data": "\"/9j/4AAQSkZJRg==\"", "gps_coordinates": "[52.2297, 21.0122]",
            "disease": "\"Bacterial Spot\"", "percentage": "0.87", "created_at": "1696779589123123", "updated_at": "1696779599000000",
            "is_active": "true", "is_deleted": "false",
        ]
        for (key, value) in replacements { fields[key] = value }
        let after = "{" + fields.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ") + "}"
        let value = #"{"before": null, "after": \#(after), "op": "u", "source": {"table": "tomato", "ts_ms": 1}}"#
        return try decoder.decodeEvent(IncomingMessage(topic: "dbserver.public.tomato", value: Array(value.utf8)))
    }

    static var whole: ImageRecord {
        var record = sampleRecord()
        record.data = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46]
        record.updatedAt = Timestamp(microsecondsSinceEpoch: 1_696_779_599_000_000)
        return record
    }

    /// The `bytea` column arrives base64-encoded (the connector's default `binary.handling.mode`), as hex
    /// (`binary.handling.mode=hex`, either case), URL-safe or unpadded base64, or as the raw string.
    @Test(arguments: [
        BinaryText.base64(Array(placeholder.utf8)),
        String(BinaryText.base64(Array(placeholder.utf8)).prefix { $0 != "=" }),
        BinaryText.hex(Array(placeholder.utf8)),
        BinaryText.hex(Array(placeholder.utf8)).uppercased(),
        placeholder,
    ])
    func thePlaceholderInDataIsNotCarried(encoded: String) throws {
        let decoded = try Self.update(["data": "\"\(encoded)\""])
        #expect(decoded.placeholders == .data)
        #expect(decoded.change?.kept == .data)
        #expect(decoded.change?.carriesBytes == false)
        #expect(decoded.change?.record?.data == nil)
        // the bytes are outside the tiebreak: the same version as the whole record
        #expect(decoded.change?.version == Self.whole.version)
        #expect(decoded.change == .upsert(Self.whole, keepsStoredData: true))
    }

    @Test func realBytesAndAMissingDataKeyAreNoPlaceholder() throws {
        let whole = try Self.update([:])
        #expect(whole.placeholders == [])
        #expect(whole.change == .upsert(Self.whole))
        // bytes as long as the placeholder's encodings, but other bytes
        let other = BinaryText.base64(Array("__debezium_unavailable_valuf".utf8))
        let near = try Self.update(["data": "\"\(other)\""])
        #expect(near.placeholders == [])
        #expect(near.change?.record?.data == Array("__debezium_unavailable_valuf".utf8))
    }

    @Test func thePlaceholderInDiseaseAndCoordinatesKeepsThoseFields() throws {
        let disease = try Self.update(["disease": "\"\(Self.placeholder)\""])
        #expect(disease.placeholders == .disease)
        #expect(disease.change?.kept == .disease)
        #expect(disease.change?.keepsRecordFields == true)
        #expect(disease.change?.carriesBytes == true)
        #expect(disease.change?.record?.disease == nil)
        // its content hash cannot be known: the version ranks below every whole record of its ts
        #expect(disease.change?.version == .keepingFields(ts: Self.whole.versionTimestamp.microsecondsSinceEpoch))
        #expect(try #require(disease.change).version < Self.whole.version)

        for coordinates in ["\"\(Self.placeholder)\"", "[\"\(Self.placeholder)\"]"] {
            let gps = try Self.update(["gps_coordinates": coordinates, "data": "\"\(Self.placeholder)\""])
            #expect(gps.placeholders == [.gpsCoordinates, .data])
            #expect(gps.change?.kept == [.gpsCoordinates, .data])
            #expect(gps.change?.record?.latitude == 0)
        }
        // LIMS names, for the metric's label
        #expect(KeptFields([.disease, .data, .gpsCoordinates]).names == ["data", "gps_coordinates", "disease"])
    }

    /// `unavailable.value.placeholder` set in the connector: the decoder takes it instead of the default.
    @Test func thePlaceholderIsConfigurable() throws {
        let custom = EventDecoder(unavailablePlaceholder: UnavailableValuePlaceholder("<toasted>")!)
        let raw = try Self.update(["data": "\"<toasted>\"", "disease": "\"<toasted>\""], decoder: custom)
        #expect(raw.placeholders == [.data, .disease])
        let encoded = try Self.update(["data": "\"\(BinaryText.base64(Array("<toasted>".utf8)))\""], decoder: custom)
        #expect(encoded.placeholders == .data)
        // the default is then an ordinary value
        let ordinary = try Self.update(["disease": "\"\(Self.placeholder)\""], decoder: custom)
        #expect(ordinary.placeholders == [])
        #expect(ordinary.change?.record?.disease == Self.placeholder)
        #expect(EventDecoder().unavailablePlaceholder.text == "__debezium_unavailable_value")
        #expect(UnavailableValuePlaceholder("") == nil)
    }

    /// Only Debezium `after` images can hold it: a LIMS event's `data` is the record's bytes.
    @Test func limsEventsAndDeletesCarryNoPlaceholder() throws {
        let hex = BinaryText.hex(Array(Self.placeholder.utf8))
        let lims = RecordJSON.encode(sampleRecord(), includeData: false).replacingOccurrences(of: "{", with: "{\"data\":\"\(hex)\",")
        let decoded = try EventDecoder(format: .lims).decodeEvent(IncomingMessage(topic: "tomato", value: Array(lims.utf8)))
        #expect(decoded.placeholders == [])
        #expect(decoded.change?.record?.data == Array(Self.placeholder.utf8))
        let delete = try EventDecoder().decodeEvent(
            IncomingMessage(topic: "tomato", key: Array("17".utf8), value: nil, timestampMillis: 1))
        #expect(delete.placeholders == [])
        #expect(delete.change?.operation == .delete)
    }
}
