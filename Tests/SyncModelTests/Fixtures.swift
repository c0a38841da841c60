import SyncModel
@_exported import TestSupport

/// The example record of lims.md, as LIMS's Image API publishes it.
let limsExampleJSON = """
    {"_id": "6522cf85e2bd4ea5d1a6f3a1", "id": 17, "camera_id": 3, "data": "ffd8ffe000104a464946",
     "gps_coordinates": [52.2297, 21.0122], "disease": "Bacterial Spot", "percentage": 0.87,
     "created_at": "2023-10-08T15:39:49.123123", "updated_at": null, "is_active": true, "is_deleted": false}
    """

func sampleRecord(plant: Plant = .tomato, id: Int64 = 17) -> ImageRecord {
    ImageRecord(
        plant: plant, id: id, cameraId: 3, data: [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46],
        latitude: 52.2297, longitude: 21.0122, disease: "Bacterial Spot", percentage: 0.87,
        createdAt: Timestamp(parsing: "2023-10-08T15:39:49.123123")!, updatedAt: nil, isActive: true, isDeleted: false)
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
