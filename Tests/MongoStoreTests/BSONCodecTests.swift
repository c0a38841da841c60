import LibMongoC
import Testing

@Suite struct BSONCodecTests {
    @Test func roundTripsEveryValueKind() throws {
        let document: BSONDocument = [
            "i32": .int32(-7), "i64": .int64(Int64.min), "d": .double(-0.5), "t": true, "s": "naïve \"quoted\"\0nul",
            "bin": .bytes([0, 1, 255]), "date": .datetime(-1), "null": nil,
            "arr": [.int32(1), "two", [.double(3)]], "sub": ["a": ["b": .int64(2)]],
            "oid": .objectId(Array(0..<12)), "ts": .other(type: 0x11, raw: [1, 2, 3, 4, 5, 6, 7, 8]),
        ]
        let decoded = try BSONDocument(bson: document.encoded())
        #expect(decoded == document)
        #expect(decoded.keys.first == "i32")
        #expect(decoded[path: "sub.a.b"] == .int64(2))
        #expect(decoded[path: "sub.x"] == nil)
    }

    @Test func matchesTheSpecEncoding() {
        // {"hello": "world"} from bsonspec.org
        let bytes: [UInt8] = [
            0x16, 0, 0, 0, 0x02, 0x68, 0x65, 0x6C, 0x6C, 0x6F, 0, 0x06, 0, 0, 0, 0x77, 0x6F, 0x72, 0x6C, 0x64, 0, 0,
        ]
        #expect((["hello": "world"] as BSONDocument).encoded() == bytes)
    }

    @Test func rejectsMalformedBytesWithoutCrashing() {
        let good = (["a": .int64(1), "b": "x"] as BSONDocument).encoded()
        for cut in 0..<good.count {
            #expect(throws: BSONDecodingError.self) { try BSONDocument(bson: Array(good.prefix(cut))) }
        }
        var bad = good
        bad[4] = 0x42  // unknown type
        #expect(throws: BSONDecodingError.self) { try BSONDocument(bson: bad) }
    }

    @Test func numbersReadLeniently() {
        #expect(BSONValue.int32(5).int64Value == 5)
        #expect(BSONValue.double(5).int64Value == 5)
        #expect(BSONValue.double(5.5).int64Value == nil)
        #expect(BSONValue.string("5").int64Value == nil)
        #expect(BSONValue.int64(2).doubleValue == 2)
    }
}
