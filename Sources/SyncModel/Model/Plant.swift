import Foundation

/// A plant LIMS keeps images of: a validated name, not a closed list (docs/design.md §1). A plant LIMS
/// adds is configuration — its topic, its `imagecolplant<plant>` collection or table, a value of a plant
/// column — never code. LIMS's own three (`potato`, `tomato`, `pepper`) are `Plant.lims`, the defaults.
///
/// A name is 1…`maxLength` lower-case ASCII letters, digits and `_`, starting with a letter, and does not
/// start with LIMS's collection prefix (`imagecolplant`, which the parser strips): safe as an SQL value,
/// a MongoDB collection suffix, a Kafka topic, a Prometheus label value and a URL path segment.
/// `Plant(validating:field:)` is the one parser; `Plant(rawValue:)` accepts exactly the valid names.
public struct Plant: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    /// The longest name: with a 23-byte prefix such as `imagecolplant` or `app.images_`, a table name
    /// still fits PostgreSQL's 63-byte identifiers.
    public static let maxLength = 40

    /// LIMS's collection (and table) prefix: `imagecolplantpotato` names potato.
    public static let limsCollectionPrefix = "imagecolplant"

    public static let potato = Plant(known: "potato")
    public static let tomato = Plant(known: "tomato")
    public static let pepper = Plant(known: "pepper")

    /// LIMS's plants, the default wherever a list of plants is configured.
    public static let lims: [Plant] = [.potato, .tomato, .pepper]

    private init(known name: String) { rawValue = name }

    /// Exactly a valid name (no prefix stripped); `nil` for anything else.
    public init?(rawValue: String) {
        guard Self.problem(rawValue) == nil else { return nil }
        self.rawValue = rawValue
    }

    /// The one parser of plant names (flags, topics, event fields, URLs, discovered tables and
    /// collections). With `collectionNames`, LIMS's collection names are accepted too
    /// (`imagecolplantpotato` → potato), as flags and topics always did.
    /// - Throws: `PlantNameError` naming `field`, the value and what is wrong with it.
    public init(validating text: String, field: String, collectionNames: Bool = true) throws(PlantNameError) {
        var name = text
        if collectionNames, text.hasPrefix(Self.limsCollectionPrefix), text.utf8.count > Self.limsCollectionPrefix.utf8.count {
            name = String(text.dropFirst(Self.limsCollectionPrefix.count))
        }
        if let problem = Self.problem(name) { throw PlantNameError(field: field, value: text, reason: problem) }
        rawValue = name
    }

    /// What makes `name` invalid, or `nil`.
    static func problem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        let letter = { (b: UInt8) in b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z") }
        let digit = { (b: UInt8) in b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        guard let first = bytes.first else { return "a plant name must not be empty" }
        guard bytes.count <= maxLength else { return "a plant name has at most \(maxLength) characters" }
        guard letter(first) else { return "a plant name starts with a lower-case letter a-z" }
        guard bytes.allSatisfy({ letter($0) || digit($0) || $0 == UInt8(ascii: "_") }) else {
            return "a plant name holds only lower-case letters a-z, digits and '_'"
        }
        guard !name.hasPrefix(limsCollectionPrefix) else {
            return "a plant name does not start with '\(limsCollectionPrefix)' (LIMS's collection prefix: name the plant after it)"
        }
        return nil
    }

    /// The name rule's characters and length as a POSIX regular expression, for a database's own check
    /// (PostgreSQL's `CHECK (plant ~ …)`); the parser checks the rest.
    public static var namePattern: String { "^[a-z][a-z0-9_]{0,\(maxLength - 1)}$" }

    public var description: String { rawValue }

    /// LIMS's MongoDB collection name for this plant (`imagecolplantpotato`, …).
    public var limsCollection: String { Self.limsCollectionPrefix + rawValue }

    public static func < (lhs: Plant, rhs: Plant) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do throws(PlantNameError) {
            try self.init(validating: text, field: "plant", collectionNames: false)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// Parses a comma-separated list of plant names (`potato,tomato`; spaces around a name ignored,
    /// duplicates dropped); the error names `field` and the offending value.
    public static func list(_ text: String, field: String) throws(PlantNameError) -> [Plant] {
        var plants: [Plant] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let plant = try Plant(validating: item.trimmingCharacters(in: .whitespaces), field: field)
            if !plants.contains(plant) { plants.append(plant) }
        }
        return plants
    }
}

/// A plant name that breaks the rule of `Plant`: names the flag or field, the value and the reason.
public struct PlantNameError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String
    public let value: String
    public let reason: String

    public init(field: String, value: String, reason: String) {
        self.field = field
        self.value = value
        self.reason = reason
    }

    public var description: String {
        let shown = value.count > 60 ? String(value.prefix(60)) + "…" : value
        return "\(field): '\(shown)' is not a valid plant name: \(reason)"
    }
}

/// The business key of a record: `(plant, id)`. MongoDB's `_id` is not part of it.
public struct RecordKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let plant: Plant
    public let id: Int64

    public init(plant: Plant, id: Int64) {
        self.plant = plant
        self.id = id
    }

    public static func < (lhs: RecordKey, rhs: RecordKey) -> Bool {
        (lhs.plant.rawValue, lhs.id) < (rhs.plant.rawValue, rhs.id)
    }

    public var description: String { "\(plant)/\(id)" }
}
