import Foundation
import Kafka
import Testing

@Suite struct KafkaConfigurationTests {
    @Test func passthroughUpdatesTypedFieldsAndKeepsOthers() throws {
        var c = KafkaConfiguration()
        try c.set(passthrough: "bootstrap.servers=broker:9093")
        try c.set(passthrough: "auto.offset.reset=latest")
        try c.set(passthrough: "socket.timeout.ms=1234")
        #expect(c.bootstrapServers == "broker:9093")
        #expect(c.autoOffsetReset == .latest)
        let props = Dictionary(uniqueKeysWithValues: c.consumerProperties())
        #expect(props["socket.timeout.ms"] == "1234")
        #expect(props["enable.auto.commit"] == "false")
        #expect(props["partition.assignment.strategy"] == "cooperative-sticky")
        #expect(Dictionary(uniqueKeysWithValues: c.producerProperties())["group.id"] == nil)
    }

    @Test func badValuesNameFieldAndValue() {
        var c = KafkaConfiguration()
        #expect(throws: KafkaConfigurationError(field: "-X", value: "novalue", detail: "expected key=value")) {
            try c.set(passthrough: "novalue")
        }
        do {
            try c.set(passthrough: "auto.offset.reset=sometimes")
            Issue.record("accepted a bad auto.offset.reset")
        } catch {
            #expect(error.field == "auto.offset.reset" && error.value == "sometimes")
        }
        #expect(throws: KafkaConfigurationError.self) { try c.set(passthrough: "enable.auto.commit=true") }
    }

    @Test func loadsLIMSFileChosenByENV() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kcfg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let json = """
            {"bootstrap.servers": "kafka-service:9092", "group.id": "pepper-potato-tomato-group",
             "client.id": "consumer-stg", "auto.offset.reset": "earliest", "session.timeout.ms": 45000,
             "enable.ssl.certificate.verification": false}
            """
        try json.write(toFile: dir + "/kafka.stg.json", atomically: true, encoding: .utf8)
        let path = try #require(try KafkaConfiguration.environmentFile(directory: dir, environment: ["ENV": "stg"]))
        let c = try KafkaConfiguration.load(file: path)
        #expect(c.bootstrapServers == "kafka-service:9092")
        #expect(c.groupId == "pepper-potato-tomato-group")
        #expect(c.clientId == "consumer-stg")
        #expect(c.autoOffsetReset == .earliest)
        #expect(c.properties["session.timeout.ms"] == "45000")
        #expect(c.properties["enable.ssl.certificate.verification"] == "false")
        #expect(try KafkaConfiguration.environmentFile(directory: dir, environment: [:]) == nil)
        #expect(throws: KafkaConfigurationError.self) { try KafkaConfiguration.load(file: dir + "/kafka.prod.json") }
    }
}
