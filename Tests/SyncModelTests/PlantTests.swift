import Foundation
import Testing

@testable import SyncModel

/// A plant is a validated name (docs/design.md §1): any name of the rule, none listed; one parser.
@Suite struct PlantTests {
    @Test(arguments: ["cucumber", "a", "bell_pepper2", "k" + String(repeating: "1", count: 39), "potato"])
    func validNamesAreTheirOwnPlant(name: String) throws {
        let plant = try Plant(validating: name, field: "--plants")
        #expect(plant.rawValue == name)
        #expect(Plant(rawValue: name) == plant)
        #expect(plant.limsCollection == "imagecolplant" + name)
        // The same rule as a database's check.
        #expect(name.wholeMatch(of: try Regex(Plant.namePattern.dropFirst().dropLast().description)) != nil)
    }

    @Test func limsPlantsAreTheDefaultsAndKeepTheirNames() {
        #expect(Plant.lims.map(\.rawValue) == ["potato", "tomato", "pepper"])
        #expect(Plant.potato == Plant(rawValue: "potato"))
    }

    /// Flags and topics accept LIMS's collection names; a URL or a stored value does not.
    @Test func collectionNamesAreAcceptedWhereTheyAlwaysWere() throws {
        #expect(try Plant(validating: "imagecolplantcucumber", field: "topic").rawValue == "cucumber")
        #expect(Plant(rawValue: "imagecolplantcucumber") == nil)
        #expect(throws: PlantNameError.self) { try Plant(validating: "imagecolplantcucumber", field: "plant", collectionNames: false) }
    }

    @Test(arguments: [
        ("", "must not be empty"), ("Cucumber", "starts with a lower-case letter"), ("1cucumber", "starts with a lower-case letter"),
        ("_cucumber", "starts with a lower-case letter"), ("cu-cumber", "only lower-case letters a-z, digits and '_'"),
        ("cu cumber", "only lower-case letters"), ("gurke✓", "only lower-case letters"), ("a'b", "only lower-case letters"),
        ("../etc", "starts with a lower-case letter"), (String(repeating: "k", count: 41), "at most 40 characters"),
        (" potato", "starts with a lower-case letter"), ("imagecolplant", "does not start with 'imagecolplant'"),
    ])
    func invalidNamesAreAClearErrorNamingTheFieldAndValue(name: String, reason: String) {
        let error = #expect(throws: PlantNameError.self) { try Plant(validating: name, field: "--plants") }
        #expect(error?.field == "--plants")
        #expect(error?.value == name)
        #expect(error?.description.hasPrefix("--plants: '\(name.prefix(60))") == true, "\(String(describing: error))")
        #expect(error?.description.contains("is not a valid plant name: ") == true)
        #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
        #expect(Plant(rawValue: name) == nil)
    }

    @Test func listsTrimSpacesDropDuplicatesAndNameTheBadItem() throws {
        #expect(try Plant.list("potato, cucumber,potato", field: "--plants").map(\.rawValue) == ["potato", "cucumber"])
        let empty = #expect(throws: PlantNameError.self) { try Plant.list("potato,,tomato", field: "--plants") }
        #expect(empty?.description == "--plants: '' is not a valid plant name: a plant name must not be empty")
        let bad = #expect(throws: PlantNameError.self) { try Plant.list("potato,Kale", field: "--plants") }
        #expect(bad?.value == "Kale")
    }

    @Test func codableIsTheNameAndDecodingValidates() throws {
        let cucumber = try Plant(validating: "cucumber", field: "x")
        let data = try JSONEncoder().encode([cucumber])
        #expect(String(decoding: data, as: UTF8.self) == #"["cucumber"]"#)
        #expect(try JSONDecoder().decode([Plant].self, from: data) == [cucumber])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Plant].self, from: Data(#"["Cu cumber"]"#.utf8)) }
    }

    @Test func orderIsByName() throws {
        #expect(Plant.lims.sorted().map(\.rawValue) == ["pepper", "potato", "tomato"])
    }
}

/// A layout's `{plant}` matches plant names only, so tables or collections beside a producer's plants
/// are not plants (`DiffSource.plants()` of the foreign stores).
@Suite struct ForeignLayoutPlantTests {
    @Test func thePlaceholderMatchesValidPlantNamesOnly() {
        #expect(ForeignLayout.plant(named: "images_cucumber_v1", in: "images_{plant}_v1")?.rawValue == "cucumber")
        #expect(ForeignLayout.plant(named: "imagecolplantkale", in: ForeignLayout.lims.container)?.rawValue == "kale")
        #expect(ForeignLayout.plant(named: "images_Old-2023_v1", in: "images_{plant}_v1") == nil)
        #expect(ForeignLayout.plant(named: "images__v1", in: "images_{plant}_v1") == nil)
        #expect(ForeignLayout.plant(named: "images_kale", in: "images_{plant}_v1") == nil)
        #expect(ForeignLayout.plant(named: "system.views", in: ForeignLayout.lims.container) == nil)
        #expect(ForeignLayout.plant(named: "images", in: "images") == nil)
    }
}
