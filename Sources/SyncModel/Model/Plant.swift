import Foundation

/// The plant types LIMS keeps images of; each has its own topic and collection.
public enum Plant: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case potato, tomato, pepper

    public var description: String { rawValue }

    /// LIMS's MongoDB collection name for this plant (`imagecolplantpotato`, …).
    public var limsCollection: String { "imagecolplant" + rawValue }

    /// The one parser of plant names (flags, URLs, config, collection names): case-insensitive,
    /// surrounding whitespace ignored, LIMS collection names (`imagecolplantpotato`) accepted.
    public init?(name: String) {
        let lowered = name.trimmingCharacters(in: .whitespaces).lowercased()
        if let plant = Plant(rawValue: lowered) {
            self = plant
        } else if lowered.hasPrefix("imagecolplant"), let plant = Plant(rawValue: String(lowered.dropFirst(13))) {
            self = plant
        } else {
            return nil
        }
    }

    /// Parses a comma-separated list of plant names (`potato,tomato`); the error names `field` and the
    /// offending value.
    public static func list(_ text: String, field: String) throws(PlantListError) -> [Plant] {
        var plants: [Plant] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let plant = Plant(name: String(item)) else { throw PlantListError(field: field, value: String(item)) }
            if !plants.contains(plant) { plants.append(plant) }
        }
        return plants
    }
}

/// A plant list that names something other than potato, tomato or pepper.
public struct PlantListError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String
    public let value: String

    public var description: String { "\(field): '\(value)' is not one of potato, tomato, pepper" }
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
