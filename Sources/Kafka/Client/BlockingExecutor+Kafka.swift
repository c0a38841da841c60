import BlockingExecutor

extension BlockingExecutor {
    /// Runs `body` on the executor with typed errors: anything that is not a `KafkaError` (the task was
    /// cancelled, a deadline passed) becomes one naming `operation`.
    func runKafka<T: Sendable>(
        _ operation: String, timeout: Duration? = nil, interrupt: (@Sendable () -> Void)? = nil,
        _ body: @escaping @Sendable () throws(KafkaError) -> T
    ) async throws(KafkaError) -> T {
        do {
            return try await run(timeout: timeout, interrupt: interrupt) { () throws -> T in try body() }
        } catch let error as KafkaError {
            throw error
        } catch {
            throw KafkaError(operation: operation, message: "\(error)")
        }
    }
}
