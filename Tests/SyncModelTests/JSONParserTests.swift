import Foundation
import SyncBenchCore
import Testing

@testable import SyncModel

@Suite struct JSONParserTests {
    // MARK: Accepted documents

    @Test(arguments: [
        ("null", JSONValue.null),
        ("true", .bool(true)),
        ("false", .bool(false)),
        ("0", .integer(0)),
        ("-0", .integer(0)),
        ("17", .integer(17)),
        ("-17", .integer(-17)),
        ("9223372036854775807", .integer(.max)),
        ("-9223372036854775808", .integer(.min)),
        ("9223372036854775808", .double(9_223_372_036_854_775_808.0)),
        ("-9223372036854775809", .double(-9_223_372_036_854_775_809.0)),
        ("100000000000000000000", .double(1e20)),
        ("123456789012345678901234567890", .double(1.2345678901234568e29)),
        ("1.5", .double(1.5)),
        ("1.0", .double(1.0)),
        ("-0.25", .double(-0.25)),
        ("0.1", .double(0.1)),
        ("0.30000000000000004", .double(0.30000000000000004)),
        ("52.2297", .double(52.2297)),
        ("1e2", .double(100)),
        ("1E+2", .double(100)),
        ("1e-2", .double(0.01)),
        ("123.456e3", .double(123_456)),
        ("1.7976931348623157e308", .double(.greatestFiniteMagnitude)),
        ("2.2250738585072014e-308", .double(.leastNormalMagnitude)),
        ("4.9e-324", .double(.leastNonzeroMagnitude)),
        ("1e-400", .double(0)),  // underflows to zero: finite, accepted
        ("12345678901234567890e-10", .double(1_234_567_890.1234567)),
        (#""""#, .string("")),
        (#""abc""#, .string("abc")),
        (#""\"\\\/\b\f\n\r\t""#, .string("\"\\/\u{08}\u{0C}\n\r\t")),
        (#""\u0041\u00e9\u20AC\u0000""#, .string("Aé€\u{0}")),
        (#""\uD83D\uDE00 \ud83d\ude00""#, .string("😀 😀")),
        (#""zażółć 😀 \u00e9""#, .string("zażółć 😀 é")),
        ("\"\u{7F}\"", .string("\u{7F}")),
        ("[]", .array([])),
        ("{}", .object([:])),
        ("[1,[2,[]],{}]", .array([.integer(1), .array([.integer(2), .array([])]), .object([:])])),
        (
            #"{"a":1,"b":[true,null],"c":{"d":"e"}}"#,
            .object(["a": .integer(1), "b": .array([.bool(true), .null]), "c": .object(["d": .string("e")])])
        ),
        (" \t\r\n[ 1 ,\n2 ]\n", .array([.integer(1), .integer(2)])),
        (#"{ "a" : [ ] , "" : { } }"#, .object(["a": .array([]), "": .object([:])])),
        (#"{"a":1,"a":2}"#, .object(["a": .integer(2)])),  // duplicate keys: the last one wins
    ])
    func accepts(text: String, expected: JSONValue) throws {
        #expect(try JSONValue.parse(bytes(text)) == expected)
    }

    @Test func keepsTheSignOfNegativeZero() throws {
        guard case .double(let value) = try JSONValue.parse(bytes("-0.0")) else {
            Issue.record()
            return
        }
        #expect(value == 0 && value.sign == .minus)
        #expect(try JSONValue.parse(bytes("-0")) == .integer(0))
        guard case .double(let exponent) = try JSONValue.parse(bytes("-0e5")) else {
            Issue.record()
            return
        }
        #expect(exponent.sign == .minus)
    }

    @Test func theLIMSExampleRecordParses() throws {
        let json = try JSONValue.parse(bytes(limsExampleJSON))
        #expect(json["id"] == .integer(17))
        #expect(json["data"] == .string("ffd8ffe000104a464946"))
        #expect(json["gps_coordinates"] == .array([.double(52.2297), .double(21.0122)]))
        #expect(json["percentage"] == .double(0.87))
        #expect(json["updated_at"] == .null)
        #expect(json["is_active"] == .bool(true))
        #expect(json == (try JSONDecoder().decode(JSONValue.self, from: Data(limsExampleJSON.utf8))))
        #expect(try RecordJSON.decode(json, plant: .tomato).record == sampleRecord())
    }

    @Test(arguments: [0, 1, 2_000, 40_000])
    func largeLIMSRecordsRoundTrip(dataBytes: Int) throws {
        var rng = SplitMix64(seed: UInt64(dataBytes))
        var record = sampleRecord()
        record.data = (0..<dataBytes).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let text = RecordJSON.encode(record)
        let json = try JSONValue.parse(bytes(text))
        #expect(json == (try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))))
        #expect(try RecordJSON.decode(json, plant: .tomato).record == record)
    }

    /// The word-at-a-time string scan: every length and every position of a special byte.
    @Test func stringsOfEveryLengthAroundTheWordSize() throws {
        for length in 0...40 {
            let plain = String(repeating: "a", count: length)
            #expect(try JSONValue.parse(bytes("\"\(plain)\"")) == .string(plain))
            let accented = String(repeating: "é", count: length)
            #expect(try JSONValue.parse(bytes("\"\(accented)\"")) == .string(accented))
            for position in 0...length {
                let prefix = String(plain.prefix(position))
                let suffix = String(plain.dropFirst(position))
                #expect(try JSONValue.parse(bytes("\"\(prefix)\\n\(suffix)\"")) == .string(prefix + "\n" + suffix))
                #expect(try JSONValue.parse(bytes("\"\(prefix)\\\"\(suffix)\"")) == .string(prefix + "\"" + suffix))
                let control = expectMalformed(bytes("\"\(prefix)\u{1F}\(suffix)\""))
                #expect(control?.detail.contains("at byte \(position + 1)") == true, "\(control?.detail ?? "")")
                let unterminated = expectMalformed(bytes("\"\(prefix)"))
                #expect(unterminated?.detail == "unterminated string at byte 0")
            }
        }
    }

    @Test func nestingIsLimitedTo512Levels() throws {
        let deepest = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(throws: Never.self) { try JSONValue.parse(bytes(deepest)) }
        let tooDeep = expectMalformed(bytes(String(repeating: "[", count: 513) + String(repeating: "]", count: 513)))
        #expect(tooDeep?.detail.contains("at byte 512") == true)
        let objects = String(repeating: #"{"a":"#, count: 513) + "1" + String(repeating: "}", count: 513)
        let tooDeepObjects = expectMalformed(bytes(objects))
        #expect(tooDeepObjects?.detail.contains("at byte \(512 * 5)") == true)
        let okObjects = String(repeating: #"{"a":"#, count: 512) + "1" + String(repeating: "}", count: 512)
        #expect(throws: Never.self) { try JSONValue.parse(bytes(okObjects)) }
    }

    // MARK: Rejected documents

    /// Each malformation, with the byte offset its error must name.
    @Test(arguments: [
        ("", 0), (" \n", 2),
        // numbers
        ("01", 0), ("[01]", 1), ("-01", 0), ("+1", 0), (".5", 0), ("1.", 0), ("1.e5", 0), ("1e", 0), ("1e+", 0),
        ("-", 0), ("--1", 0), ("[-]", 1), ("NaN", 0), ("Infinity", 0), ("-Infinity", 0), ("0x10", 1),
        ("1e400", 0), ("[1, -1e400]", 4), ("1" + String(repeating: "0", count: 400), 0),
        // strings
        (#""abc"#, 0), (#"["abc"#, 1), (#""ab\"#, 0), (#""\x""#, 1), (#""\u12""#, 1), (#""\u12"#, 0),
        (#""\uD83D""#, 1), (#""\uDE00""#, 1), (#""x\uD83D\u0041""#, 2), (#""\uD83Dx""#, 1), ("\"a\nb\"", 2),
        ("\"\t\"", 1), ("\"\u{0}\"", 1), ("'a'", 0),
        // structure
        ("[1,]", 3), ("[1 2]", 3), (#"{"a" 1}"#, 5), (#"{"a":1,}"#, 7), ("{a:1}", 1), ("{'a':1}", 1),
        ("[", 1), ("{", 1), (#"{"a":"#, 5), ("[1,2", 4), (#"{"a":1 "b":2}"#, 7), ("{,}", 1), ("[,1]", 1),
        (#"{"a":1]"#, 6), ("[1}", 2), ("]", 0),
        // literals
        ("tru", 3), ("trUe", 2), ("True", 0), ("nul", 3), ("nulll", 4), ("undefined", 0),
        // trailing content, whitespace that JSON does not allow, comments
        ("[1]]", 3), ("1 2", 2), ("{}x", 2), ("\"a\"\"b\"", 3), ("\u{FEFF}{}", 0), ("\u{0C}1", 0), ("\u{A0}1", 0),
        ("// c\n1", 0), ("[1 /* c */]", 3),
    ])
    func rejects(text: String, offset: Int) {
        let error = expectMalformed(bytes(text))
        #expect(error?.detail.contains("at byte \(offset)") == true, "\(error?.detail ?? "no error")")
    }

    @Test(
        arguments: [
            ([0x22, 0xFF, 0x22], 0),
            ([0x22, 0xC0, 0xAF, 0x22], 0),  // overlong '/'
            ([0x22, 0xE2, 0x82, 0x22], 0),  // truncated '€'
            ([0x22, 0xED, 0xA0, 0x80, 0x22], 0),  // an encoded surrogate
            ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 0),  // beyond U+10FFFF
            ([0x22, 0x5C, 0x6E, 0xFF, 0x22], 0),  // after an escape
            ([0x20, 0x22] + Array(repeating: 0x61, count: 20) + [0xFF, 0x22], 1),  // after a long ASCII run
            ([0x5B, 0x22, 0xE2, 0x82, 0x5C, 0x75, 0x30, 0x30, 0x41, 0x43, 0x22, 0x5D], 1),  // cut short by an escape
            ([0xFF], 0),
        ] as [([UInt8], Int)])
    func rejectsInvalidUTF8(input: [UInt8], offset: Int) {
        let error = expectMalformed(input)
        #expect(error?.detail.contains("at byte \(offset)") == true, "\(error?.detail ?? "no error")")
    }

    @Test func errorDetailsAreShortAndNameTheOffset() {
        #expect(expectMalformed(bytes(#"{"id": 17, x}"#))?.detail == "unexpected character 'x' at byte 11, expected a string key")
        #expect(expectMalformed(bytes(#"[1, "abc"#))?.detail == "unterminated string at byte 4")
        #expect(expectMalformed(bytes(#"{"a": 01}"#))?.detail == "invalid number '01' at byte 6")
        #expect(expectMalformed(bytes("1e400"))?.detail == "number '1e400' out of range at byte 0")
        #expect(expectMalformed(bytes(#""\uD83D""#))?.detail == #"lone surrogate \uD83D at byte 1"#)
        #expect(throws: Never.self) { try JSONValue.parse(bytes("[1]\n")) }
        #expect(expectMalformed(bytes("[1] 2"))?.detail == "unexpected character '2' at byte 4 after the top-level value")
        #expect(expectMalformed(bytes("[1,\n"))?.detail == "unexpected end of input at byte 4")
        #expect(expectMalformed(bytes("\"\u{1}\""))?.detail == "unescaped control character 0x01 in a string at byte 1")
    }

    // MARK: Properties

    /// Random documents: the parser returns the value they were generated from, and what
    /// Foundation's `JSONDecoder` (the previous parser) returns, up to the known difference that
    /// `JSONDecoder` reads integral numbers written with `.`/`e` (`1.0`, `1e2`) as integers.
    @Test func randomDocumentsMatchTheirSourceAndJSONDecoder() throws {
        var generator = RandomJSON(seed: 0x5EED_0001)
        for _ in 0..<3_000 {
            let (text, expected) = generator.document()
            let parsed: JSONValue
            do {
                parsed = try JSONValue.parse(bytes(text))
            } catch {
                Issue.record("rejected \(text.debugDescription): \(error)")
                continue
            }
            #expect(parsed == expected, "\(text.debugDescription)")
            let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            #expect(Self.matches(parsed, foundation), "\(text.debugDescription): ours \(parsed), JSONDecoder \(foundation)")
        }
    }

    /// Random corruptions of random documents: whenever either parser accepts, both accept and agree.
    @Test func corruptedDocumentsAreAcceptedExactlyWhenJSONDecoderAcceptsThem() throws {
        var generator = RandomJSON(seed: 0x5EED_0002)
        let alphabet = Array(#"{}[]:,"\ -+.eE0123456789tfnulx/"#.utf8) + [0x00, 0x09, 0x0A, 0x1F, 0x80, 0xC3, 0xFF]
        var accepted = 0
        for _ in 0..<3_000 {
            var input = Array(generator.document(maxDepth: 2).text.utf8)
            for _ in 0..<Int.random(in: 1...2, using: &generator.rng) where !input.isEmpty {
                let at = Int.random(in: 0..<input.count, using: &generator.rng)
                switch Int.random(in: 0..<3, using: &generator.rng) {
                case 0: input.remove(at: at)
                case 1: input.insert(alphabet.randomElement(using: &generator.rng)!, at: at)
                default: input[at] = alphabet.randomElement(using: &generator.rng)!
                }
            }
            let ours = try? JSONValue.parse(input)
            let foundation = try? JSONDecoder().decode(JSONValue.self, from: Data(input))
            let text = String(decoding: input, as: UTF8.self).debugDescription
            if ours != nil, Self.containsDuplicateKey(input) { continue }  // JSONDecoder keeps the first, we the last
            switch (ours, foundation) {
            case (let ours?, let foundation?):
                accepted += 1
                #expect(Self.matches(ours, foundation), "\(text): ours \(ours), JSONDecoder \(foundation)")
            case (nil, let foundation?):
                // JSONDecoder's one leniency: a trailing comma in an array or object (`[1,]`).
                let strict = Self.removingTrailingCommas(input)
                #expect(strict != input, "JSONDecoder alone accepts \(text)")
                let reparsed = try? JSONValue.parse(strict)
                #expect(reparsed.map { Self.matches($0, foundation) } == true, "\(text): JSONDecoder \(foundation)")
            case (let ours?, nil):
                Issue.record("we alone accept \(text) as \(ours)")
            case (nil, nil):
                break
            }
        }
        #expect(accepted > 100)
    }

    /// The exact fast path for short decimals agrees bit for bit with `Double(String)`.
    @Test func shortDecimalsRoundLikeDoubleFromString() throws {
        var rng = SplitMix64(seed: 0xD0_0B1E)
        for _ in 0..<20_000 {
            let integerDigits = Int.random(in: 1...9, using: &rng)
            let fractionDigits = Int.random(in: 0...9, using: &rng)
            var text = Bool.random(using: &rng) ? "-" : ""
            text += String(Int.random(in: 1...9, using: &rng))
            for _ in 1..<integerDigits { text += String(Int.random(in: 0...9, using: &rng)) }
            if fractionDigits > 0 {
                text += "."
                for _ in 0..<fractionDigits { text += String(Int.random(in: 0...9, using: &rng)) }
            }
            if fractionDigits == 0 || Bool.random(using: &rng) {
                text += Bool.random(using: &rng) ? "e" : "E"
                text += ["", "+", "-"].randomElement(using: &rng)!
                text += String(Int.random(in: 0...40, using: &rng))
            }
            guard case .double(let parsed) = try JSONValue.parse(bytes(text)) else {
                Issue.record("\(text) is not a double")
                continue
            }
            #expect(parsed.bitPattern == Double(text)!.bitPattern, "\(text)")
        }
    }

    // MARK: Helpers

    /// Whether our reading equals `JSONDecoder`'s, allowing for `JSONDecoder` reading numbers
    /// written with `.`/`e` as integers when they denote one (`1.0`, `1e2`, `-0.0`), where we
    /// read a double (which then equals the integer, the literal's value, rounded).
    static func matches(_ ours: JSONValue, _ foundation: JSONValue) -> Bool {
        switch (ours, foundation) {
        case (.double(let d), .integer(let i)): return d == Double(i)
        case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy(matches)
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { matches(value, $0) } ?? false }
        default: return ours == foundation
        }
    }

    /// The input without commas that directly (but for whitespace) precede `]` or `}`.
    static func removingTrailingCommas(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var inString = false
        var escaped = false
        var pendingComma: Int? = nil  // index in `out` of a comma that may be trailing
        for byte in input {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                out.append(byte)
                continue
            }
            switch byte {
            case UInt8(ascii: " "), 0x09, 0x0A, 0x0D: break
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                if let comma = pendingComma { out.remove(at: comma) }
                pendingComma = nil
            case UInt8(ascii: ","): pendingComma = out.count
            default:
                pendingComma = nil
                if byte == UInt8(ascii: "\"") { inString = true }
            }
            out.append(byte)
        }
        return out
    }

    /// Whether some object of a valid document has the same key twice (keys compared as raw text).
    static func containsDuplicateKey(_ input: [UInt8]) -> Bool {
        var stack: [Set<[UInt8]>?] = []
        var index = 0
        var expectingKey = false
        while index < input.count {
            let byte = input[index]
            switch byte {
            case UInt8(ascii: "{"):
                stack.append([])
                expectingKey = true
            case UInt8(ascii: "["): stack.append(nil)
            case UInt8(ascii: "}"), UInt8(ascii: "]"): _ = stack.popLast()
            case UInt8(ascii: ","): expectingKey = stack.last.map { $0 != nil } ?? false
            case UInt8(ascii: "\""):
                var end = index + 1
                while end < input.count, input[end] != UInt8(ascii: "\"") { end += input[end] == UInt8(ascii: "\\") ? 2 : 1 }
                if expectingKey, var keys = stack.last ?? nil {
                    let key = Array(input[(index + 1)..<min(end, input.count)])
                    if keys.contains(key) { return true }
                    keys.insert(key)
                    stack[stack.count - 1] = keys
                    expectingKey = false
                }
                index = end
            default: break
            }
            index += 1
        }
        return false
    }
}

/// Asserts that parsing fails with `.malformedJSON` and no field, and returns the error.
@discardableResult
private func expectMalformed(_ input: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> EventDecodingError? {
    do {
        let value = try JSONValue.parse(input)
        Issue.record("accepted \(String(decoding: input, as: UTF8.self).debugDescription) as \(value)", sourceLocation: sourceLocation)
        return nil
    } catch {
        #expect(error.kind == .malformedJSON, sourceLocation: sourceLocation)
        #expect(error.field == nil, sourceLocation: sourceLocation)
        return error
    }
}

/// Random JSON text together with the value it denotes. Numbers are written in many shapes
/// (the denoted double is `Double(String)` of the literal); strings mix ASCII, escapes and
/// multi-byte characters, raw or as `\u` escapes; whitespace is sprinkled between tokens.
struct RandomJSON {
    var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func document(maxDepth: Int = 4) -> (text: String, value: JSONValue) {
        let (text, value) = self.value(depth: maxDepth)
        return (space() + text + space(), value)
    }

    mutating func value(depth: Int) -> (String, JSONValue) {
        switch Int.random(in: 0..<(depth > 0 ? 9 : 7), using: &rng) {
        case 0: return ("null", .null)
        case 1:
            let b = Bool.random(using: &rng)
            return (String(b), .bool(b))
        case 2: return integer()
        case 3, 4: return double()
        case 5, 6:
            let (text, s) = string()
            return (text, .string(s))
        case 7:
            var parts: [String] = []
            var values: [JSONValue] = []
            for _ in 0..<Int.random(in: 0...5, using: &rng) {
                let (childText, child) = value(depth: depth - 1)
                parts.append(space() + childText + space())
                values.append(child)
            }
            return ("[" + (parts.isEmpty ? space() : parts.joined(separator: ",")) + "]", .array(values))
        default:
            var parts: [String] = []
            var fields: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...5, using: &rng) {
                let (keyText, key) = string(maxLength: 8)
                guard fields[key] == nil else { continue }
                let (childText, child) = value(depth: depth - 1)
                parts.append(space() + keyText + space() + ":" + space() + childText + space())
                fields[key] = child
            }
            return ("{" + (parts.isEmpty ? space() : parts.joined(separator: ",")) + "}", .object(fields))
        }
    }

    mutating func space() -> String {
        guard Int.random(in: 0..<4, using: &rng) == 0 else { return "" }
        return String((0..<Int.random(in: 1...3, using: &rng)).map { _ in [" ", "\t", "\n", "\r"].randomElement(using: &rng)! })
    }

    mutating func integer() -> (String, JSONValue) {
        let value: Int64
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: value = Int64.random(in: -10...10, using: &rng)
        case 1: value = Int64.random(in: -1_000_000...1_000_000, using: &rng)
        case 2:
            value = [Int64.max, .min, .max - 1, .min + 1, 999_999_999_999_999_999, -1_000_000_000_000_000_000].randomElement(using: &rng)!
        default: value = Int64.random(in: .min ... .max, using: &rng)
        }
        if Int.random(in: 0..<8, using: &rng) == 0 {  // beyond Int64: a double
            let text = (Bool.random(using: &rng) ? "-" : "") + "9" + String(repeating: "1", count: Int.random(in: 19...30, using: &rng))
            return (text, .double(Double(text)!))
        }
        return (String(value), .integer(value))
    }

    mutating func double() -> (String, JSONValue) {
        let text: String
        switch Int.random(in: 0..<4, using: &rng) {
        case 0:  // Swift's shortest round-trip rendering: 0.1, 1e-05, 1.5e+20, 5e-324, 1.0 ...
            let d: Double =
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: Double.random(in: -1000...1000, using: &rng)
                case 1: Double.random(in: -1...1, using: &rng) * pow(10, Double.random(in: -300...300, using: &rng))
                case 2: Double(bitPattern: UInt64.random(in: 0...0x7FEF_FFFF_FFFF_FFFF, using: &rng))
                default:
                    [0.0, -0.0, 1.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .leastNormalMagnitude, 0.1, 1e22, 1e23]
                        .randomElement(using: &rng)!
                }
            text = "\(d)"
        case 1:  // a decimal in the fast path's range
            text = "\(Int.random(in: -99999...99999, using: &rng)).\(Int.random(in: 0...99999, using: &rng))"
        default:  // digits, optional fraction, optional exponent in every spelling
            var t = Bool.random(using: &rng) ? "-" : ""
            t += Bool.random(using: &rng) ? "0" : String(Int.random(in: 1...9, using: &rng))
            if !t.hasSuffix("0") {  // no leading zeros
                for _ in 0..<Int.random(in: 0...20, using: &rng) { t += String(Int.random(in: 0...9, using: &rng)) }
            }
            let fraction = Bool.random(using: &rng)
            if fraction {
                t += "."
                for _ in 0..<Int.random(in: 1...20, using: &rng) { t += String(Int.random(in: 0...9, using: &rng)) }
            }
            if !fraction || Bool.random(using: &rng) {
                t += ["e", "E"].randomElement(using: &rng)! + ["", "+", "-"].randomElement(using: &rng)!
                t += String(Int.random(in: 0...300, using: &rng))
            }
            text = Double(t)!.isFinite ? t : "1.5"
        }
        return (text, .double(Double(text)!))
    }

    /// A JSON string literal and its value.
    mutating func string(maxLength: Int = 40) -> (String, String) {
        var length = Int.random(in: 0...maxLength, using: &rng)
        if maxLength > 8, Int.random(in: 0..<20, using: &rng) == 0 { length = Int.random(in: 100...3000, using: &rng) }
        let pool: [Unicode.Scalar] = [
            "a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "ł", "€", "中", "😀", "𝄞", "\u{FFFD}",
            "\u{FEFF}",
        ]
        var value = String.UnicodeScalarView()
        var text = "\""
        for _ in 0..<length {
            let scalar =
                Int.random(in: 0..<3, using: &rng) == 0
                ? pool.randomElement(using: &rng)!
                : Unicode.Scalar(UInt8.random(in: 0x61...0x7A, using: &rng))
            value.append(scalar)
            text += escape(scalar)
        }
        return (text + "\"", String(value))
    }

    mutating func escape(_ scalar: Unicode.Scalar) -> String {
        let forced = scalar == "\"" || scalar == "\\" || scalar.value < 0x20
        switch forced ? Int.random(in: 1..<3, using: &rng) : Int.random(in: 0..<6, using: &rng) {
        case 1:
            switch scalar {
            case "\"": return "\\\""
            case "\\": return "\\\\"
            case "/": return "\\/"
            case "\n": return "\\n"
            case "\t": return "\\t"
            default: return unicodeEscape(scalar)
            }
        case 2: return unicodeEscape(scalar)
        default: return String(scalar)
        }
    }

    mutating func unicodeEscape(_ scalar: Unicode.Scalar) -> String {
        func hex(_ unit: UInt16, upper: Bool) -> String {
            let digits = String(unit, radix: 16, uppercase: upper)
            return "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
        }
        let upper = Bool.random(using: &rng)
        return String(scalar).utf16.map { hex($0, upper: upper) }.joined()
    }
}
