extension ApplyOutcome {
    /// A plant's share of an `ApplyOutcome`.
    public struct PlantCounts: Sendable, Hashable {
        public var applied: Int
        public var skippedStale: Int

        public init(applied: Int, skippedStale: Int) {
            self.applied = applied
            self.skippedStale = skippedStale
        }
    }

    /// The outcome of applying `changes` in one go, from the writes that took effect per plant: a
    /// plant's skipped changes are its other changes (the counting rule above, per plant); every plant
    /// of the batch is listed, at 0 applied if none of its writes took effect.
    public init(changes: [Change], appliedByPlant: [Plant: Int]) {
        var byPlant: [Plant: PlantCounts] = [:]
        for change in changes { byPlant[change.key.plant, default: PlantCounts(applied: 0, skippedStale: 0)].skippedStale += 1 }
        for (plant, applied) in appliedByPlant {
            byPlant[plant, default: PlantCounts(applied: 0, skippedStale: 0)].applied += applied
            byPlant[plant]!.skippedStale -= applied
        }
        let applied = appliedByPlant.values.reduce(0, +)
        self.init(applied: applied, skippedStale: changes.count - applied)
        self.byPlant = byPlant
    }

    /// The per-plant counts of a batch of `plants`: `byPlant`, or — from an applier that does not
    /// break its outcome down — the totals when the batch holds one plant (`nil` otherwise).
    public func perPlant(of plants: Set<Plant>) -> [Plant: PlantCounts]? {
        if !byPlant.isEmpty { return byPlant }
        guard plants.count == 1, let plant = plants.first else { return plants.isEmpty ? [:] : nil }
        return [plant: PlantCounts(applied: applied, skippedStale: skippedStale)]
    }
}

extension ApplyOutcome {
    /// The totals alone (no per-plant breakdown): what callers that do not count per plant compare.
    public var totals: ApplyOutcome { ApplyOutcome(applied: applied, skippedStale: skippedStale) }
}
