/// The precision a producer keeps its timestamps at (docs/design.md §1: a version's `ts` is the
/// record's `updated_at ?? created_at` "at the precision the engine keeps").
///
/// LIMS's events carry microseconds, but a MongoDB producer stores BSON dates, which hold
/// milliseconds: BatchSync reads `…49.123` where the event said `…49.123123`. For stream and batch to
/// describe one record with one version, StreamSync truncates event timestamps to the producer's
/// precision (`--timestamp-precision milliseconds` beside a MongoDB producer).
public enum TimestampPrecision: String, Sendable, Hashable, CaseIterable, Codable {
    case microseconds
    case milliseconds

    /// `us` truncated to this precision (towards negative infinity, as BSON dates are).
    public func truncate(_ us: Int64) -> Int64 {
        switch self {
        case .microseconds: return us
        case .milliseconds: return us >= 0 ? us / 1000 * 1000 : -((-us + 999) / 1000) * 1000
        }
    }

    public func truncate(_ timestamp: Timestamp) -> Timestamp {
        Timestamp(microsecondsSinceEpoch: truncate(timestamp.microsecondsSinceEpoch))
    }

    /// The record with `created_at` and `updated_at` at this precision.
    public func truncate(_ record: ImageRecord) -> ImageRecord {
        guard self != .microseconds else { return record }
        var record = record
        record.createdAt = truncate(record.createdAt)
        record.updatedAt = record.updatedAt.map(truncate)
        return record
    }

    /// A patch's `created_at` and `updated_at` at this precision (the record it makes has its version
    /// from them, as an upsert's).
    public func truncate(_ patch: RecordPatch) -> RecordPatch {
        guard self != .microseconds else { return patch }
        var patch = patch
        patch.createdAt = patch.createdAt.map(truncate)
        if case .some(.some(let updatedAt)) = patch.updatedAt { patch.updatedAt = .some(truncate(updatedAt)) }
        return patch
    }

    /// An upsert's record at this precision (its version follows); other changes as they are.
    public func truncate(_ change: Change) -> Change {
        guard self != .microseconds, let record = change.record else { return change }
        return .upsert(truncate(record), keeping: change.kept)
    }
}
