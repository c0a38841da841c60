import SyncModel

/// What one key needs, from the producer's and consumer's versions of it (either may be absent).
enum KeyAction: Equatable {
    case none
    /// Producer's record is newer (or consumer lacks the key, or holds the same record without its
    /// bytes): upsert under the version rule.
    case upsert
    /// Consumer holds a live row the producer lacks: tombstone it.
    case delete
    /// Producer's tombstone is newer than the consumer's row: apply that tombstone.
    case applyProducerTombstone(Version)
    /// Consumer holds a version the producer does not have (newer, or equal with other content):
    /// re-read the producer and, if still so, rewrite compare-and-set on the consumer's version.
    case conflict(consumer: Version)

    static func decide(producer p: KeyVersion?, consumer c: KeyVersion?) -> KeyAction {
        switch (p, c) {
        case (nil, nil):
            return .none
        case (nil, let c?):
            return c.isTombstone ? .none : .delete
        case (let p?, nil):
            return p.isTombstone ? .none : .upsert
        case (let p?, let c?):
            if p.isTombstone {
                if c.isTombstone { return .none }
                return p.version > c.version ? .applyProducerTombstone(p.version) : .conflict(consumer: c.version)
            }
            if p.version > c.version { return .upsert }
            if p.version == c.version && p.digest == c.digest { return .none }
            // Same record, other digest, and the consumer's bytes are not yet known or came with an
            // older version (docs/design.md §1, bytes register): the producer's record fills them under
            // the version rule — the record part is a no-op, the bytes part is newer.
            if p.version == c.version, !c.isTombstone, c.dataVersion.map({ $0 < p.version }) ?? true { return .upsert }
            return .conflict(consumer: c.version)
        }
    }
}

/// Merge-joins two id-ordered version lists and calls `body` for every key present on either side.
func mergeJoin(_ producer: [KeyVersion], _ consumer: [KeyVersion], _ body: (Int64, KeyVersion?, KeyVersion?) -> Void) {
    var i = 0
    var j = 0
    while i < producer.count || j < consumer.count {
        let p = i < producer.count ? producer[i] : nil
        let c = j < consumer.count ? consumer[j] : nil
        if let p, let c, p.id == c.id {
            body(p.id, p, c)
            i += 1
            j += 1
        } else if let p, c == nil || p.id < c!.id {
            body(p.id, p, nil)
            i += 1
        } else if let c {
            body(c.id, nil, c)
            j += 1
        }
    }
}
