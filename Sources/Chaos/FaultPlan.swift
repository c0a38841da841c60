import SyncBenchCore

/// When each fault happens, in seconds after the first event, drawn from the seed.
///
/// The stream is planned to last `duration` seconds: `events / rate`, or longer when the faults need it
/// (`secondsPerKill` per kill, and room for the outages). The PostgreSQL outage begins at 15–25 % of
/// it, the broker outage at 50–60 % (and at least a tenth of the run after PostgreSQL is back), and both
/// end by 95 %. Kills are spread over the run from 5 % on, one at a random instant in each of `kills`
/// equal slots, so they land anywhere — during the outages, during a group join, between a batch's
/// apply and its commit — but never all at once.
struct FaultPlan: Sendable, Equatable {
    struct Outage: Sendable, Equatable {
        let start: Double
        let duration: Double
        var end: Double { start + duration }
    }

    /// Room per kill: a restarted instance needs ~5 s to get its partitions back (group rejoin after the
    /// killed member's session expires), and should then process for a while before the next kill.
    static let secondsPerKill = 8.0

    let duration: Double
    let kills: [Double]
    let pgOutage: Outage?
    let brokerOutage: Outage?

    init(seed: UInt64, events: Int, rate: Double, kills: Int, pgOutage: Double, brokerOutage: Double) {
        var rng = SeededGenerator(seed: seed ^ 0xC4A0_5EED)
        var needed = max(5, Double(events) / rate, Double(kills) * Self.secondsPerKill)
        if pgOutage > 0 { needed = max(needed, pgOutage / 0.7) }
        if brokerOutage > 0 { needed = max(needed, brokerOutage / 0.35, (pgOutage + brokerOutage) / 0.6) }
        duration = needed
        let pg = pgOutage > 0 ? Outage(start: needed * Double.random(in: 0.15...0.25, using: &rng), duration: pgOutage) : nil
        if brokerOutage > 0 {
            let earliest = max((pg?.end ?? 0) + 0.1 * needed, needed * Double.random(in: 0.5...0.6, using: &rng))
            self.brokerOutage = Outage(start: min(earliest, 0.95 * needed - brokerOutage), duration: brokerOutage)
        } else {
            self.brokerOutage = nil
        }
        self.pgOutage = pg
        let slot = 0.95 * needed / Double(max(kills, 1))
        self.kills = (0..<kills).map { j in 0.05 * needed + (Double(j) + Double.random(in: 0.1...0.9, using: &rng)) * slot }
    }

    /// The rate the stream runs at (at most the requested one).
    func rate(events: Int) -> Double { Double(events) / duration }
}
