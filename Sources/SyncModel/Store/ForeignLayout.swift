import Foundation

/// Where and under which names a foreign producer keeps LIMS's records (docs/design.md §3): a table
/// (PostgreSQL) or collection (MongoDB) per plant, or one for every plant told apart by a plant column,
/// and the name of each LIMS field. Defaults are LIMS's own names (`imagecolplant<plant>`, `id`,
/// `camera_id`, …). One parser serves every command line (`ForeignLayout.parse`).
public struct ForeignLayout: Sendable, Hashable, CustomStringConvertible {
    /// The LIMS fields a foreign record is read from.
    public enum Field: String, Sendable, Hashable, CaseIterable {
        case id
        case cameraId = "camera_id"
        case data
        /// `[latitude, longitude]` as one array (MongoDB array, PostgreSQL `double precision[]`).
        case gpsCoordinates = "gps_coordinates"
        /// Latitude and longitude in columns of their own: used when both are mapped.
        case latitude, longitude
        case disease, percentage
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case isActive = "is_active"
        case isDeleted = "is_deleted"
    }

    /// The placeholder a per-plant container name holds.
    public static let plantPlaceholder = "{plant}"

    /// Table or collection name; `{plant}` stands for the plant. PostgreSQL accepts `schema.table`.
    public var container: String
    /// The column naming the plant when one container holds every plant.
    public var plantColumn: String?
    /// Field names that differ from LIMS's.
    public var renamed: [Field: String]

    public init(
        container: String = Plant.limsCollectionPrefix + ForeignLayout.plantPlaceholder, plantColumn: String? = nil,
        renamed: [Field: String] = [:]
    ) {
        self.container = container
        self.plantColumn = plantColumn
        self.renamed = renamed
    }

    /// LIMS's own layout: `imagecolplant<plant>`, LIMS's field names.
    public static let lims = ForeignLayout()

    public func name(_ field: Field) -> String { renamed[field] ?? field.rawValue }

    /// One container per plant (`{plant}` in the name) rather than one with a plant column.
    public var isPerPlant: Bool { container.contains(Self.plantPlaceholder) }

    public func container(for plant: Plant) -> String {
        container.replacingOccurrences(of: Self.plantPlaceholder, with: plant.rawValue)
    }

    /// The plant a table or collection called `name` holds under `template` (a name with `{plant}`):
    /// `{plant}` matches a valid plant name (`Plant`) and nothing else, so other tables or collections
    /// beside a producer's are no plants. `nil` when `name` has not the template's form.
    public static func plant(named name: String, in template: String) -> Plant? {
        guard let placeholder = template.range(of: plantPlaceholder) else { return nil }
        let prefix = template[..<placeholder.lowerBound]
        let suffix = template[placeholder.upperBound...]
        guard name.count > prefix.count + suffix.count, name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        guard let plant = Plant(rawValue: String(name.dropFirst(prefix.count).dropLast(suffix.count))),
            template.replacingOccurrences(of: plantPlaceholder, with: plant.rawValue) == name
        else { return nil }
        return plant
    }

    /// GPS coordinates in two columns (both mapped) rather than one array.
    public var splitsCoordinates: Bool { renamed[.latitude] != nil && renamed[.longitude] != nil }

    public var description: String {
        var text = container
        if let plantColumn { text += " (plant column \(plantColumn))" }
        for field in Field.allCases { if let name = renamed[field] { text += ", \(field.rawValue)=\(name)" } }
        return text
    }

    /// Builds a layout from command-line values; errors name the flag and the value.
    /// - Parameters:
    ///   - container: `--producer-table` (`nil`: LIMS's `imagecolplant{plant}`).
    ///   - plantColumn: `--producer-plant-column`.
    ///   - fields: `--producer-field FIELD=NAME` values.
    public static func parse(container: String?, plantColumn: String?, fields: [String]) throws(ForeignLayoutError) -> ForeignLayout {
        var layout = ForeignLayout(container: container ?? ForeignLayout.lims.container, plantColumn: plantColumn)
        for assignment in fields {
            let parts = assignment.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else {
                throw ForeignLayoutError(flag: "producer-field", value: assignment, reason: "expected FIELD=NAME")
            }
            guard let field = Field(rawValue: parts[0]) else {
                throw ForeignLayoutError(
                    flag: "producer-field", value: assignment,
                    reason: "unknown field '\(parts[0])'; one of \(Field.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard layout.renamed[field] == nil else {
                throw ForeignLayoutError(flag: "producer-field", value: assignment, reason: "field '\(parts[0])' is mapped twice")
            }
            layout.renamed[field] = parts[1]
        }
        try layout.validate()
        return layout
    }

    /// Checks the layout is complete and unambiguous.
    public func validate() throws(ForeignLayoutError) {
        guard !container.isEmpty else { throw ForeignLayoutError(flag: "producer-table", value: container, reason: "must not be empty") }
        if isPerPlant {
            if let plantColumn {
                throw ForeignLayoutError(
                    flag: "producer-plant-column", value: plantColumn,
                    reason: "a per-plant table ('\(container)' names {plant}) has no plant column")
            }
        } else if plantColumn?.isEmpty ?? true {
            throw ForeignLayoutError(
                flag: "producer-table", value: container,
                reason: "one table for every plant needs --producer-plant-column (or put {plant} in the name)")
        }
        if (renamed[.latitude] == nil) != (renamed[.longitude] == nil) {
            throw ForeignLayoutError(
                flag: "producer-field", value: renamed[.latitude] ?? renamed[.longitude] ?? "",
                reason: "map both latitude and longitude (two columns) or neither (gps_coordinates array)")
        }
        let names = Field.allCases.filter { $0 != .latitude && $0 != .longitude || splitsCoordinates }.map(name)
        if let duplicate = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
            throw ForeignLayoutError(flag: "producer-field", value: duplicate, reason: "two fields are mapped to one name")
        }
    }
}

public struct ForeignLayoutError: Error, CustomStringConvertible, Equatable {
    public let flag: String
    public let value: String
    public let reason: String

    public init(flag: String, value: String, reason: String) {
        self.flag = flag
        self.value = value
        self.reason = reason
    }

    public var description: String { "--\(flag) '\(value)': \(reason)" }
}

/// What a producer store is (docs/design.md §3): PlantSync's own (with version bookkeeping, as a
/// consumer is) or `lims`, a foreign producer in `ForeignLayout` — LIMS's MongoDB documents or an
/// application's PostgreSQL tables, read-only.
public enum ProducerLayout: String, Sendable, Hashable, CaseIterable, Codable {
    case plantsync
    case lims
}

/// How a foreign MongoDB producer's digests are computed (docs/design.md §3, "Digest domains").
public enum MongoDigestMode: String, Sendable, Hashable, CaseIterable, Codable {
    /// `.mongo` when the server has `$toHashedIndexKey` (`buildInfo` version ≥ 7.0), else `.metadata` only.
    case auto
    /// `.mongo` whatever the server reports.
    case hashed
    /// `.metadata` only (computed on the client).
    case client
}
