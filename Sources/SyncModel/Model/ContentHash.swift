/// A deterministic 64-bit hash (FNV-1a with a SplitMix64 finaliser) over a canonical binary encoding.
///
/// Swift's `Hasher` is seeded per process, so it cannot order versions consistently across processes;
/// this one gives the same value on every machine and in every run.
public struct ContentHasher: Sendable {
    private var state: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public mutating func combine(bytes: some Sequence<UInt8>) {
        for byte in bytes {
            state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
    }

    public mutating func combine(_ value: UInt64) {
        var v = value
        for _ in 0..<8 {
            state = (state ^ (v & 0xFF)) &* 0x0000_0100_0000_01b3
            v >>= 8
        }
    }

    public mutating func combine(_ value: Int64) { combine(UInt64(bitPattern: value)) }
    public mutating func combine(_ value: Bool) { combine(value ? 1 as UInt64 : 0) }

    /// Doubles by bit pattern, with -0.0 folded into 0.0 so both spellings hash alike.
    public mutating func combine(_ value: Double) { combine((value == 0 ? 0.0 : value).bitPattern) }

    /// A length-prefixed string, so `("ab","c")` and `("a","bc")` differ.
    public mutating func combine(_ value: String) {
        combine(UInt64(value.utf8.count))
        combine(bytes: value.utf8)
    }

    public func finalize() -> UInt64 {
        var z = state &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
