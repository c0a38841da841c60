/// Number literals: `Int64` when integral and in range, else a correctly rounded `Double`.
extension JSONParser {
    /// Exact powers of ten (10^0 ... 10^22 are all representable in a Double).
    private static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    mutating func parseNumber() throws(EventDecodingError) -> JSONValue {
        let start = index
        let negative = base[index] == UInt8(ascii: "-")
        if negative { index += 1 }

        // Integer part: `0` or a non-zero digit followed by digits.
        guard index < count, Self.isDigit(base[index]) else { throw invalidNumber(start) }
        let digitsStart = index
        if base[index] == UInt8(ascii: "0") {
            index += 1
            if index < count, Self.isDigit(base[index]) { throw invalidNumber(start) }
        } else {
            while index < count, Self.isDigit(base[index]) { index += 1 }
        }
        let integerDigits = index - digitsStart

        var fractionDigits = 0
        if index < count, base[index] == UInt8(ascii: ".") {
            index += 1
            let fractionStart = index
            while index < count, Self.isDigit(base[index]) { index += 1 }
            fractionDigits = index - fractionStart
            if fractionDigits == 0 { throw invalidNumber(start) }
        }
        var hasExponent = false
        var exponent = 0
        if index < count, base[index] | 0x20 == UInt8(ascii: "e") {
            hasExponent = true
            index += 1
            var exponentNegative = false
            if index < count, base[index] == UInt8(ascii: "+") || base[index] == UInt8(ascii: "-") {
                exponentNegative = base[index] == UInt8(ascii: "-")
                index += 1
            }
            let exponentStart = index
            while index < count, Self.isDigit(base[index]) {
                if exponent < 100_000 { exponent = exponent * 10 + Int(base[index] &- UInt8(ascii: "0")) }
                index += 1
            }
            if index == exponentStart { throw invalidNumber(start) }
            if exponentNegative { exponent = -exponent }
        }

        if fractionDigits == 0 && !hasExponent {
            if let value = integerValue(digitsStart, digits: integerDigits, negative: negative) {
                return .integer(value)
            }
            return .double(try slowDouble(start))
        }

        // Clinger's fast path: at most 15 significant digits and |10-exponent| <= 22, so the
        // mantissa and the power of ten are exact and one IEEE operation rounds correctly.
        let significantDigits = integerDigits + fractionDigits
        if significantDigits <= 15 {
            var mantissa: Int64 = 0
            for k in digitsStart..<(digitsStart + integerDigits) { mantissa = mantissa * 10 + Int64(base[k] &- 48) }
            let fractionStart = digitsStart + integerDigits + 1
            for k in fractionStart..<(fractionStart + fractionDigits) { mantissa = mantissa * 10 + Int64(base[k] &- 48) }
            let scale = exponent - fractionDigits
            if scale >= -22 && scale <= 22 {
                var value = Double(mantissa)
                value = scale < 0 ? value / Self.powersOfTen[-scale] : value * Self.powersOfTen[scale]
                return .double(negative ? -value : value)
            }
        }
        return .double(try slowDouble(start))
    }

    /// The integer of `digits` digits at `digitsStart`, or nil when it does not fit `Int64`.
    func integerValue(_ digitsStart: Int, digits: Int, negative: Bool) -> Int64? {
        if digits <= 18 {  // cannot overflow
            var value: Int64 = 0
            for k in digitsStart..<(digitsStart + digits) { value = value &* 10 &+ Int64(base[k] &- 48) }
            return negative ? -value : value
        }
        // Accumulate negatively so Int64.min fits.
        var value: Int64 = 0
        for k in digitsStart..<(digitsStart + digits) {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.subtractingReportingOverflow(Int64(base[k] &- 48))
            if overflow1 || overflow2 { return nil }
            value = next
        }
        if negative { return value }
        return value == .min ? nil : -value
    }

    /// The correctly rounded Double of the literal from `start` to `index`; rejects non-finite.
    func slowDouble(_ start: Int) throws(EventDecodingError) -> Double {
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: index - start), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw Self.malformed("number '\(text.prefix(40))' out of range at byte \(start)")
        }
        return value
    }

    @inline(__always) static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }
}
