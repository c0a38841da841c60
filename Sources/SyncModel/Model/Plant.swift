/// The plant types LIMS keeps images of; each has its own topic and collection.
public enum Plant: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case potato, tomato, pepper

    public var description: String { rawValue }

    /// LIMS's MongoDB collection name for this plant (`imagecolplantpotato`, …).
    public var limsCollection: String { "imagecolplant" + rawValue }

    /// Parses a plant name, also accepting LIMS collection names.
    public init?(name: String) {
        let lowered = name.lowercased()
        if let plant = Plant(rawValue: lowered) {
            self = plant
        } else if lowered.hasPrefix("imagecolplant"), let plant = Plant(rawValue: String(lowered.dropFirst(13))) {
            self = plant
        } else {
            return nil
        }
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
