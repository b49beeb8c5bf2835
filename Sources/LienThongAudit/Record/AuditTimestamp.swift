import Foundation

/// An instant as audit records store it: whole milliseconds since 1970-01-01T00:00:00Z, written as
/// RFC 3339 UTC with exactly three fractional digits (`2026-01-01T08:30:00.123Z`).
///
/// Years 0000 to 9999 are representable (RFC 3339's range); leap seconds (`:60`) are not.
public struct AuditTimestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Milliseconds since the Unix epoch (negative before 1970).
    public let millisecondsSince1970: Int64

    /// The earliest representable instant, 0000-01-01T00:00:00.000Z.
    public static let minimumMilliseconds: Int64 = -62_167_219_200_000
    /// The latest representable instant, 9999-12-31T23:59:59.999Z.
    public static let maximumMilliseconds: Int64 = 253_402_300_799_999

    /// Wraps a millisecond count; `nil` outside years 0000 to 9999.
    public init?(millisecondsSince1970: Int64) {
        guard (Self.minimumMilliseconds...Self.maximumMilliseconds).contains(millisecondsSince1970) else { return nil }
        self.millisecondsSince1970 = millisecondsSince1970
    }

    /// Truncates `date` to the millisecond; `nil` outside years 0000 to 9999 or for a non-finite
    /// date. A value just below a millisecond boundary (within a microsecond, or a few units of
    /// `Date`'s floating-point precision far from 1970) snaps up to it, so that
    /// `AuditTimestamp(timestamp.date) == timestamp`.
    public init?(_ date: Date) {
        let milliseconds = date.timeIntervalSince1970 * 1000
        guard milliseconds.isFinite,
              milliseconds >= Double(Self.minimumMilliseconds), milliseconds < Double(Self.maximumMilliseconds) + 1
        else { return nil }
        let nearest = milliseconds.rounded()
        let tolerance = max(0.001, 8 * milliseconds.magnitude.ulp)
        let whole = abs(milliseconds - nearest) < tolerance ? nearest : milliseconds.rounded(.down)
        self.init(millisecondsSince1970: Int64(whole))
    }

    /// Parses exactly `YYYY-MM-DDTHH:MM:SS.sssZ` (upper-case `T` and `Z`, three fractional
    /// digits, a real calendar date, no leap second); `nil` for anything else.
    public init?(rfc3339 text: String) {
        let bytes = Array(text.utf8)
        guard let milliseconds = bytes.withUnsafeBufferPointer({ Self.milliseconds(rfc3339: $0) }) else { return nil }
        self.init(millisecondsSince1970: milliseconds)
    }

    /// The instant the UTF-8 bytes `b` write as `YYYY-MM-DDTHH:MM:SS.sssZ`, in milliseconds since
    /// 1970; `nil` for anything ``init(rfc3339:)`` refuses. Every result is in range.
    static func milliseconds(rfc3339 b: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard b.count == 24, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "."), b[23] == UInt8(ascii: "Z"),
              let year = number(b, 0, 4), let month = number(b, 5, 2), let day = number(b, 8, 2),
              let hour = number(b, 11, 2), let minute = number(b, 14, 2), let second = number(b, 17, 2),
              let millisecond = number(b, 20, 3),
              (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
              hour < 24, minute < 60, second < 60
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second
        // Years 0000 to 9999 are all within minimumMilliseconds ... maximumMilliseconds.
        return seconds * 1000 + millisecond
    }

    /// The RFC 3339 text, `YYYY-MM-DDTHH:MM:SS.sssZ`.
    public var rfc3339: String {
        let milliseconds = millisecondsSince1970
        let (seconds, millisecond) = Self.floorDivide(milliseconds, 1000)
        let (days, secondOfDay) = Self.floorDivide(seconds, 86_400)
        let (year, month, day) = Self.civilFromDays(days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2))"
            + ":\(pad(secondOfDay % 60, 2)).\(pad(millisecond, 3))Z"
    }

    /// The instant as a `Date`.
    public var date: Date { Date(timeIntervalSince1970: Double(millisecondsSince1970) / 1000) }

    /// The RFC 3339 text.
    public var description: String { rfc3339 }

    /// Orders by instant.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.millisecondsSince1970 < rhs.millisecondsSince1970 }

    /// Decodes the RFC 3339 text (strictly, as ``init(rfc3339:)``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Self(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not YYYY-MM-DDTHH:MM:SS.sssZ: \(text)")
        }
        self = value
    }

    /// Encodes the RFC 3339 text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rfc3339)
    }

    // MARK: Calendar arithmetic (proleptic Gregorian; H. Hinnant's days_from_civil / civil_from_days)

    private static func number(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int) -> Int64? {
        var value: Int64 = 0
        for byte in bytes[start..<start + count] {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (quotient: Int64, remainder: Int64) {
        let q = a / b, r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400).quotient
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097).quotient
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
