import SyncBenchCore

/// When each fault happens, in seconds after the first event, drawn from the seed.
///
/// The stream is planned to last `duration` seconds: `events / rate`, or longer when the faults need it
/// (`secondsPerKill` per kill, and room for the outages). The PostgreSQL outage begins at 15–25 % of
/// it, the broker outage at 50–60 % (and at least a tenth of the run after PostgreSQL is back), and both
/// end by 95 %. Kills are spread over the run from 5 % on, one at a random instant in each of `kills`
/// equal slots, so they land anywhere — during the outages, during a group join, between a batch's
/// apply and its commit — but never all at once.
///
/// Silent-connection faults (`LinkFault`: StreamSync's links through the chaos proxies go silent for good,
/// or freeze for a while) come after that, each in a slot of its own appended to the stream
/// (`silentRoom`, or the freeze and `freezeRoom` more), in the order PostgreSQL silent, PostgreSQL
/// freeze, brokers silent, brokers freeze, each 1–3 s into its slot. No kill lands in those slots, so
/// whatever recovery follows is StreamSync's own. Without them the plan is the same as before they
/// existed, seed for seed.
///
/// Gap faults (`GapFault`: StreamSync taken down while Kafka loses changes it has not read) come last, in
/// slots of their own after the link faults — retention gap, then offset reset — each 1–3 s into its slot
/// (drawn from a generator of their own, so the rest of the plan is the same with or without them), with
/// `gapRoom` seconds of stream after StreamSync is back.
struct FaultPlan: Sendable, Equatable {
    struct Outage: Sendable, Equatable {
        let start: Double
        let duration: Double
        var end: Double { start + duration }
    }

    /// Room per kill: a restarted instance needs ~5 s to get its partitions back (group rejoin after the
    /// killed member's session expires), and should then process for a while before the next kill.
    static let secondsPerKill = 8.0

    /// A fault of one link through the chaos proxies (`ChaosLinks`).
    struct LinkFault: Sendable, Equatable {
        enum Kind: Sendable, Equatable {
            /// blackhole-existing: the connections open at `start` pass nothing ever again, unclosed; new ones work.
            case silent
            /// freeze-all: every connection, open or new, passes nothing for this many seconds.
            case freeze(Double)
        }

        let link: ChaosLinks.Link
        let kind: Kind
        let start: Double
        /// When the fault is over for new work: the thaw of a freeze; the start of a silent fault.
        var end: Double {
            if case .freeze(let seconds) = kind { return start + seconds }
            return start
        }
        /// A freeze is also a SIGTERM test: StreamSync must drain and exit within its drain timeout
        /// while the link passes nothing.
        var sigtermAt: Double? {
            if case .freeze = kind { return start + FaultPlan.sigtermIntoFreeze }
            return nil
        }

        var name: String {
            let what = link == .postgres ? "pg" : "broker"
            if case .freeze = kind { return "\(what)-freeze" }
            return "\(what)-silent"
        }
    }

    /// StreamSync down while Kafka loses changes it has not read (docs/design.md §8). The generator carries
    /// these out between two events (`GapFaults`): the lost events are changes of its own stream.
    struct GapFault: Sendable, Equatable {
        enum Kind: String, Sendable, Equatable {
            /// SIGKILL; large changes of one partition push its log past the mock's retention, beyond the
            /// group's committed offset; restart.
            case retention = "retention-gap"
            /// SIGTERM; changes of one partition, then an operator commits the group's offset of it forward
            /// past them; restart.
            case offsetReset = "offset-reset"
        }
        let kind: Kind
        /// Seconds after the first event (the generator carries it out at its first event from then on).
        let start: Double
        var name: String { kind.rawValue }
    }

    /// Stream time after StreamSync is back from a gap fault before the next fault (or the end).
    static let gapRoom = 5.0

    /// Stream time after a freeze's thaw before the next fault.
    static let freezeRoom = 10.0
    /// The SIGTERM of a freeze comes this long after the freeze began.
    static let sigtermIntoFreeze = 2.0

    let duration: Double
    let kills: [Double]
    let pgOutage: Outage?
    let brokerOutage: Outage?
    let linkFaults: [LinkFault]
    let gapFaults: [GapFault]
    /// Indices (in the event sequence, ascending) of the poison events (`--poison`): the first update, full
    /// or partial, or soft delete at or after each index goes out with a corrupt value. Drawn from a
    /// generator of their own, so the rest of the plan is the same with or without them.
    let poison: [Int]
    /// Stream time after a silent fault before the next one (`--silent-room`): StreamSync's own deadlines
    /// must notice it by then; the stream goes on meanwhile, so there is work stuck behind the silent
    /// connections.
    let silentRoom: Double

    init(
        seed: UInt64, events: Int, rate: Double, kills: Int, pgOutage: Double, brokerOutage: Double, pgSilent: Bool = false,
        pgFreeze: Double = 0, brokerSilent: Bool = false, brokerFreeze: Double = 0, silentRoom: Double = 30, poison: Int = 0,
        retentionGap: Bool = false, offsetReset: Bool = false
    ) {
        var poisonRNG = SeededGenerator(seed: seed ^ 0x9015_0AED)
        self.poison = (0..<poison).map { j in
            // One in each of `poison` equal slots of the first 90 % of the events, from 5 % on.
            let slot = 0.85 * Double(events) / Double(max(poison, 1))
            return Int(0.05 * Double(events) + (Double(j) + Double.random(in: 0.1...0.9, using: &poisonRNG)) * slot)
        }
        self.silentRoom = silentRoom
        var rng = SeededGenerator(seed: seed ^ 0xC4A0_5EED)
        var needed = max(5, Double(events) / rate, Double(kills) * Self.secondsPerKill)
        if pgOutage > 0 { needed = max(needed, pgOutage / 0.7) }
        if brokerOutage > 0 { needed = max(needed, brokerOutage / 0.35, (pgOutage + brokerOutage) / 0.6) }
        let pg = pgOutage > 0 ? Outage(start: needed * Double.random(in: 0.15...0.25, using: &rng), duration: pgOutage) : nil
        if brokerOutage > 0 {
            let earliest = max((pg?.end ?? 0) + 0.1 * needed, needed * Double.random(in: 0.5...0.6, using: &rng))
            self.brokerOutage = Outage(start: min(earliest, 0.95 * needed - brokerOutage), duration: brokerOutage)
        } else {
            self.brokerOutage = nil
        }
        self.pgOutage = pg
        var linkFaults: [LinkFault] = []
        var slotStart = needed
        let requested: [(ChaosLinks.Link, LinkFault.Kind?)] = [
            (.postgres, pgSilent ? .silent : nil), (.postgres, pgFreeze > 0 ? .freeze(pgFreeze) : nil),
            (.brokers, brokerSilent ? .silent : nil), (.brokers, brokerFreeze > 0 ? .freeze(brokerFreeze) : nil),
        ]
        for case (let link, let kind?) in requested {
            let fault = LinkFault(link: link, kind: kind, start: slotStart + Double.random(in: 1...3, using: &rng))
            linkFaults.append(fault)
            slotStart = fault.end + (fault.kind == .silent ? silentRoom : Self.freezeRoom)
        }
        self.linkFaults = linkFaults
        // The gap faults' own generator: their instants do not move the rest of the plan.
        var gapRNG = SeededGenerator(seed: seed ^ 0x6A9F_A017)
        var gapFaults: [GapFault] = []
        for case (let kind, true) in [(GapFault.Kind.retention, retentionGap), (.offsetReset, offsetReset)] {
            let fault = GapFault(kind: kind, start: slotStart + Double.random(in: 1...3, using: &gapRNG))
            gapFaults.append(fault)
            // The fault itself takes a few seconds (StreamSync's stop, the changes, its restart): the
            // generator is busy with it meanwhile, so the room counts from about when it is back.
            slotStart = fault.start + Self.gapRoom
        }
        self.gapFaults = gapFaults
        duration = slotStart
        let slot = 0.95 * needed / Double(max(kills, 1))
        self.kills = (0..<kills).map { j in 0.05 * needed + (Double(j) + Double.random(in: 0.1...0.9, using: &rng)) * slot }
    }

    /// The rate the stream runs at (at most the requested one).
    func rate(events: Int) -> Double { Double(events) / duration }
}
