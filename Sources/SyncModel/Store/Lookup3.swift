/// PostgreSQL's 64-bit integer hash, `hashint8extended(value, seed)` (Bob Jenkins's lookup3 as
/// PostgreSQL's `hash_bytes_uint32_extended` applies it to the value folded to 32 bits), computed bit
/// for bit as the server does, so the IBLT cells a PostgreSQL store groups in SQL and those built on
/// the client are the same (docs/design.md §3, "Set reconciliation"). It is a fast mixing hash for
/// table positions, not a cryptographic one.
public enum Lookup3 {
    @inline(__always) static func rot(_ x: UInt32, _ k: UInt32) -> UInt32 { (x << k) | (x >> (32 - k)) }

    /// `hash_bytes_uint32_extended(k, seed)`.
    public static func uint32Extended(_ k: UInt32, seed: UInt64) -> UInt64 {
        var a: UInt32 = 0x9e37_79b9 &+ 4 &+ 3_923_095
        var b = a
        var c = a
        if seed != 0 {
            a &+= UInt32(truncatingIfNeeded: seed >> 32)
            b &+= UInt32(truncatingIfNeeded: seed)
            // mix(a, b, c)
            a &-= c; a ^= rot(c, 4); c &+= b
            b &-= a; b ^= rot(a, 6); a &+= c
            c &-= b; c ^= rot(b, 8); b &+= a
            a &-= c; a ^= rot(c, 16); c &+= b
            b &-= a; b ^= rot(a, 19); a &+= c
            c &-= b; c ^= rot(b, 4); b &+= a
        }
        a &+= k
        // final(a, b, c)
        c ^= b; c &-= rot(b, 14)
        a ^= c; a &-= rot(c, 11)
        b ^= a; b &-= rot(a, 25)
        c ^= b; c &-= rot(b, 16)
        a ^= c; a &-= rot(c, 4)
        b ^= a; b &-= rot(a, 14)
        c ^= b; c &-= rot(b, 24)
        return (UInt64(b) << 32) | UInt64(c)
    }

    /// `hashint8extended(value, seed)`: the value's halves folded into 32 bits (sign-aware, as
    /// PostgreSQL folds them so equal `int8` and `int4` values hash alike), hashed with `seed`.
    public static func int8Extended(_ value: Int64, seed: Int64) -> Int64 {
        var low = UInt32(truncatingIfNeeded: value)
        let high = UInt32(truncatingIfNeeded: value >> 32)
        low ^= value >= 0 ? high : ~high
        return Int64(bitPattern: uint32Extended(low, seed: UInt64(bitPattern: seed)))
    }
}
