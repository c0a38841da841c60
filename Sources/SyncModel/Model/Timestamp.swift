import Foundation

/// A point in time with microsecond precision, UTC, as LIMS writes it: `2023-10-08T15:39:49.123123`.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let microsecondsSinceEpoch: Int64

    public init(microsecondsSinceEpoch: Int64) { self.microsecondsSinceEpoch = microsecondsSinceEpoch }

    /// The wall clock's time, to the microsecond.
    public init(_ date: Date) { self.init(microsecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1_000_000).rounded())) }

    /// Now, by the wall clock.
    public static var now: Timestamp { Timestamp(Date()) }

    /// Seconds since the Unix epoch.
    public var secondsSinceEpoch: Double { Double(microsecondsSinceEpoch) / 1_000_000 }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.microsecondsSinceEpoch < rhs.microsecondsSinceEpoch
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffff`, no zone (UTC by LIMS convention).
    public var description: String { limsString }

    public var limsString: String { format(separator: "T") }

    /// The same instant in the form PostgreSQL accepts for a `timestamp` parameter.
    public var sqlString: String { format(separator: " ") }

    private func format(separator: Character) -> String {
        let micros = microsecondsSinceEpoch
        let seconds = micros.floorDiv(1_000_000)
        let fraction = micros - seconds * 1_000_000
        let days = seconds.floorDiv(86_400)
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = Timestamp.civil(fromDays: days)
        var text = ""
        if year < 0 { text += "-" }
        text += Timestamp.pad(abs(year), 4) + "-" + Timestamp.pad(month, 2) + "-" + Timestamp.pad(day, 2)
        text.append(separator)
        text +=
            Timestamp.pad(secondOfDay / 3600, 2) + ":" + Timestamp.pad(secondOfDay / 60 % 60, 2) + ":"
            + Timestamp.pad(secondOfDay % 60, 2) + "." + Timestamp.pad(fraction, 6)
        return text
    }

    /// Parses `YYYY-MM-DD[T ]HH:MM:SS[.f{1,9}][Z|±HH:MM]`. Without a zone the time is UTC.
    /// Digits beyond microseconds are truncated. Returns `nil` for anything else.
    public init?(parsing text: String) {
        let b = Array(text.utf8)
        func digits(_ start: Int, _ count: Int) -> Int64? {
            guard start + count <= b.count else { return nil }
            var value: Int64 = 0
            for i in start..<(start + count) {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                value = value * 10 + Int64(b[i] - 48)
            }
            return value
        }
        guard b.count >= 19, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 32 || b[10] == 116,
            b[13] == 58, b[16] == 58,
            let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2),
            let hour = digits(11, 2), let minute = digits(14, 2), let second = digits(17, 2),
            (1...12).contains(month), day >= 1, day <= Timestamp.daysIn(month: month, year: year),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var index = 19
        var micros: Int64 = 0
        if index < b.count, b[index] == 46 {  // '.'
            index += 1
            var count = 0
            while index < b.count, b[index] >= 48, b[index] <= 57 {
                if count < 6 { micros = micros * 10 + Int64(b[index] - 48) }
                count += 1
                index += 1
            }
            guard count >= 1, count <= 9 else { return nil }
            if count < 6 { for _ in count..<6 { micros *= 10 } }
        }
        var offsetSeconds: Int64 = 0
        if index < b.count {
            if b[index] == 90 || b[index] == 122, index == b.count - 1 {  // Z
                index += 1
            } else if b[index] == 43 || b[index] == 45, b.count == index + 6, b[index + 3] == 58,
                let oh = digits(index + 1, 2), let om = digits(index + 4, 2), oh < 24, om < 60
            {
                offsetSeconds = (oh * 3600 + om * 60) * (b[index] == 45 ? -1 : 1)
                index += 6
            } else {
                return nil
            }
        }
        guard index == b.count else { return nil }
        let days = Timestamp.days(fromCivil: year, month, day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        self.init(microsecondsSinceEpoch: seconds * 1_000_000 + micros)
    }

    // Howard Hinnant's days-from-civil / civil-from-days algorithms (proleptic Gregorian calendar).
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = y.floorDiv(400)
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = z.floorDiv(146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

extension Int64 {
    func floorDiv(_ divisor: Int64) -> Int64 {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }
}
