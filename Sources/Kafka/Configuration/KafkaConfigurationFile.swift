import Foundation

extension KafkaConfiguration {
    /// Loads a LIMS-style JSON file (`{"bootstrap.servers": …, "group.id": …, "client.id": …,
    /// "auto.offset.reset": "earliest"}`) over `base`. Every key is a librdkafka property; numbers and
    /// booleans are accepted and passed as text.
    public static func load(file path: String, over base: KafkaConfiguration = KafkaConfiguration())
        throws(KafkaConfigurationError) -> KafkaConfiguration
    {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KafkaConfigurationError(field: "config file", value: path, detail: "cannot be read")
        }
        let fields: [String: Scalar]
        do {
            fields = try JSONDecoder().decode([String: Scalar].self, from: data)
        } catch {
            throw KafkaConfigurationError(
                field: "config file", value: path,
                detail: "must hold one JSON object of strings, numbers or booleans (\(error))")
        }
        var configuration = base
        for key in fields.keys.sorted() { try configuration.set(key, fields[key]!.text) }
        return configuration
    }

    /// A JSON scalar as librdkafka property text.
    struct Scalar: Decodable {
        let text: String
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) {
                text = b ? "true" : "false"
            } else if let i = try? c.decode(Int64.self) {
                text = String(i)
            } else if let d = try? c.decode(Double.self) {
                text = String(d)
            } else {
                text = try c.decode(String.self)
            }
        }
    }

    /// The LIMS convention: `kafka.<ENV>.json` in `directory`, `ENV` from the environment
    /// (`dev`, `stg`, `prod`). Nil when `ENV` is unset.
    public static func environmentFile(directory: String, environment: [String: String]) throws(KafkaConfigurationError) -> String? {
        guard let env = environment["ENV"], !env.isEmpty else { return nil }
        guard env.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw KafkaConfigurationError(field: "ENV", value: env, detail: "must be a plain name such as dev, stg or prod")
        }
        return (directory as NSString).appendingPathComponent("kafka.\(env).json")
    }
}
