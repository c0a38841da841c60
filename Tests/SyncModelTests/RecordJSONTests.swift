import SyncBenchCore
import Testing

@testable import SyncModel

@Suite struct RecordJSONTests {
    @Test func decodesTheLIMSExampleRecord() throws {
        let decoded = try RecordJSON.decode(try JSONValue.parse(bytes(limsExampleJSON)), plant: .tomato)
        #expect(decoded.hasData)
        #expect(decoded.record == sampleRecord())
    }

    @Test func roundTripsThroughLIMSJSON() throws {
        var rng = SplitMix64(seed: 3)
        for i in 0..<300 {
            var r = sampleRecord(plant: Plant.lims[i % 3], id: Int64(i + 1))
            r.cameraId = Int64.random(in: -5...1000, using: &rng)
            r.data =
                Bool.random(using: &rng)
                ? nil : (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            r.latitude = Double.random(in: -90...90, using: &rng)
            r.longitude = Double.random(in: -180...180, using: &rng)
            r.disease = Bool.random(using: &rng) ? nil : ["Healthy", "Late \"Blight\"", "ü\n\t\\"].randomElement(using: &rng)!
            r.percentage = Bool.random(using: &rng) ? nil : Double.random(in: 0...1, using: &rng)
            r.createdAt = Timestamp(microsecondsSinceEpoch: Int64.random(in: 0...2_000_000_000_000_000, using: &rng))
            r.updatedAt = Bool.random(using: &rng) ? nil : Timestamp(microsecondsSinceEpoch: r.createdAt.microsecondsSinceEpoch + 5)
            r.isActive = Bool.random(using: &rng)
            r.isDeleted = Bool.random(using: &rng)
            let text = RecordJSON.encode(r)
            let back = try RecordJSON.decode(try JSONValue.parse(bytes(text)), plant: r.plant)
            #expect(back.record == r, "\(text)")
            #expect(back.record.version == r.version)
        }
    }

    @Test func missingDataMeansKeepAndNullMeansNull() throws {
        let r = sampleRecord()
        let withoutData = try RecordJSON.decode(try JSONValue.parse(bytes(RecordJSON.encode(r, includeData: false))), plant: .tomato)
        #expect(!withoutData.hasData)
        var nullData = r
        nullData.data = nil
        let withNull = try RecordJSON.decode(try JSONValue.parse(bytes(RecordJSON.encode(nullData))), plant: .tomato)
        #expect(withNull.hasData)
        #expect(withNull.record.data == nil)
    }

    /// Each malformed input names the field and the offending value.
    @Test(arguments: [
        ("id", #""id": -4"#, EventDecodingError.Kind.invalidValue, "-4"),
        ("id", #""id": 0"#, .invalidValue, "0"),
        ("id", #""id": "17""#, .wrongType, "\"17\""),
        ("id", #""id": 1.5"#, .wrongType, "1.5"),
        ("camera_id", #""camera_id": true"#, .wrongType, "true"),
        ("gps_coordinates", #""gps_coordinates": [1.0]"#, .invalidValue, "an array of 1"),
        ("gps_coordinates", #""gps_coordinates": "52,21""#, .wrongType, "\"52,21\""),
        ("gps_coordinates[0]", #""gps_coordinates": [95.0, 1.0]"#, .invalidValue, "95.0"),
        ("gps_coordinates[1]", #""gps_coordinates": [1.0, "x"]"#, .wrongType, "\"x\""),
        ("disease", #""disease": 5"#, .wrongType, "5"),
        ("percentage", #""percentage": "high""#, .wrongType, "\"high\""),
        ("created_at", #""created_at": "2023-13-01T00:00:00""#, .invalidValue, "\"2023-13-01T00:00:00\""),
        ("created_at", #""created_at": null"#, .invalidValue, "null"),
        ("updated_at", #""updated_at": false"#, .wrongType, "false"),
        ("is_active", #""is_active": 1"#, .wrongType, "1"),
        ("is_deleted", #""is_deleted": "no""#, .wrongType, "\"no\""),
        ("data", #""data": "xyz""#, .invalidValue, "\"xyz\""),
        ("data", #""data": 12"#, .wrongType, "12"),
    ])
    func rejectsAndNames(field: String, replacement: String, kind: EventDecodingError.Kind, value: String) throws {
        let key = replacement.split(separator: ":")[0]
        let text = limsExampleJSON.split(separator: "\n").joined()
            .replacing(try Regex("\(key): (\\[[^\\]]*\\]|\"[^\"]*\"|[^,}]*)"), with: replacement)
        #expect(text.contains(replacement))
        let error = #expect(throws: EventDecodingError.self) {
            try RecordJSON.decode(try JSONValue.parse(bytes(text)), plant: .tomato)
        }
        #expect(error?.kind == kind)
        #expect(error?.field == field)
        #expect(error?.value == value)
        #expect(error?.description.contains(field) == true)
    }

    @Test(arguments: ["id", "camera_id", "gps_coordinates", "created_at", "is_active", "is_deleted"])
    func requiresField(field: String) throws {
        guard case .object(var fields) = try JSONValue.parse(bytes(limsExampleJSON)) else {
            Issue.record()
            return
        }
        fields[field] = nil
        let error = #expect(throws: EventDecodingError.self) { try RecordJSON.decode(.object(fields), plant: .potato) }
        #expect(error?.kind == .missingField)
        #expect(error?.field == field)
    }

    @Test func acceptsExtendedJSONAndIntegerTimestamps() throws {
        let text = """
            {"_id": {"$oid": "6522cf85e2bd4ea5d1a6f3a1"}, "id": {"$numberLong": "17"}, "camera_id": {"$numberInt": "3"},
             "data": {"$binary": {"base64": "/9j/4AAQSkZJRg==", "subType": "00"}},
             "gps_coordinates": [52.2297, {"$numberDouble": "21.0122"}], "disease": "Bacterial Spot",
             "percentage": 0.87, "created_at": {"$date": 1696779589123}, "updated_at": 1696779590000001,
             "is_active": true, "is_deleted": false}
            """
        let r = try RecordJSON.decode(try JSONValue.parse(bytes(text)), plant: .tomato).record
        #expect(r.id == 17)
        #expect(r.cameraId == 3)
        #expect(r.data == sampleRecord().data)
        #expect(r.longitude == 21.0122)
        #expect(r.createdAt.microsecondsSinceEpoch == 1_696_779_589_123_000)
        #expect(r.updatedAt?.microsecondsSinceEpoch == 1_696_779_590_000_001)
    }
}
