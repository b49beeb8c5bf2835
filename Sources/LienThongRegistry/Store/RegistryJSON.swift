import Foundation
import LienThongCore

/// The registry's JSON conventions, shared by the store, the audit trail and the API.
///
/// - Keys are snake_case (`name_en`, `tls_certificate_sha256`, `open_api`).
/// - Dates are ISO 8601 / RFC 3339 in UTC with whole seconds (`2025-07-01T08:30:00Z`). The
///   registry keeps every date it stores at whole-second precision, so a date survives a round
///   trip through JSON unchanged. The decoder also accepts fractional seconds on input.
/// - Output keys are sorted and `/` is not escaped.
///
/// Use ``makeDecoder()`` rather than a plain `.convertFromSnakeCase` decoder: Foundation's
/// strategy turns `open_api` into `openApi`, which does not match the model's `openAPI`
/// property. The decoder here knows the acronyms the registry's types use (see
/// ``acronyms``).
public enum RegistryJSON {
    /// Key segments that the Swift properties spell in upper case, by their snake_case form.
    public static let acronyms: [String: String] = ["api": "API", "sha256": "SHA256", "url": "URL"]

    /// A new encoder with the registry's conventions (snake_case, whole-second ISO 8601 dates,
    /// sorted keys, unescaped slashes).
    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(timestamp(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// A new decoder for what ``makeEncoder()`` writes: snake_case keys (acronym-aware) and
    /// ISO 8601 dates with or without fractional seconds.
    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .custom { path in
            let last = path.last?.stringValue ?? ""
            return AnyKey(camelCase(fromSnakeCase: last))
        }
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = parseTimestamp(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "\"\(text.prefix(40))\" is not an RFC 3339 date-time with a real calendar date and time "
                        + "and a time zone, such as 2026-07-01T08:30:00Z")
            }
            return date
        }
        return decoder
    }

    /// The registry's textual form of a date: ISO 8601 in UTC, whole seconds, `Z` suffix,
    /// e.g. `2025-07-01T08:30:00Z`. A fractional part is truncated (floored).
    public static func timestamp(_ date: Date) -> String {
        wholeSecond(date).formatted(Date.ISO8601FormatStyle())
    }

    /// Parses an RFC 3339 date-time `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)` whose date exists
    /// and whose time is within the day (seconds 00 to 59); `nil` for anything else. Foundation's
    /// ISO 8601 parser alone is lenient — it reads `2026-02-30` as 2 March, `T25:00` as 1 o'clock
    /// the next day and accepts five-digit years — so a request, a stored row or a configuration
    /// file would silently get another date than it says.
    public static func parseTimestamp(_ text: String) -> Date? {
        guard isRealDateTime(Array(text.utf8)) else { return nil }
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return nil
    }

    /// Whether `b` has the shape ``parseTimestamp(_:)`` takes, with a real calendar date and time.
    private static func isRealDateTime(_ b: [UInt8]) -> Bool {
        func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= b.count, b[range].allSatisfy(isDigit) else { return nil }
            return Int(String(decoding: b[range], as: UTF8.self))
        }
        func byte(_ at: Int, _ expected: Character) -> Bool { at < b.count && b[at] == expected.asciiValue }
        guard let year = number(0..<4), byte(4, "-"), let month = number(5..<7), byte(7, "-"), let day = number(8..<10), byte(10, "T"),
              let hour = number(11..<13), byte(13, ":"), let minute = number(14..<16), byte(16, ":"), let second = number(17..<19)
        else { return false }
        var index = 19
        if byte(index, ".") {
            index += 1
            let start = index
            while index < b.count, isDigit(b[index]) { index += 1 }
            guard index > start else { return false }
        }
        if byte(index, "Z") {
            guard index + 1 == b.count else { return false }
        } else if byte(index, "+") || byte(index, "-") {
            guard b.count == index + 6, let offsetHours = number(index + 1..<index + 3), byte(index + 3, ":"),
                  let offsetMinutes = number(index + 4..<index + 6), offsetHours <= 23, offsetMinutes <= 59 else { return false }
        } else {
            return false
        }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return year >= 1 && (1...12).contains(month) && (1...days[month - 1]).contains(day) && hour <= 23 && minute <= 59 && second <= 59
    }

    /// `date` floored to a whole second: the precision of every date the registry stores.
    public static func wholeSecond(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970).rounded(.down))
    }

    /// The registry's canonical JSON text of `value`: encoded with ``makeEncoder()``, then
    /// serialised following RFC 8785 for the values the registry uses (objects with keys sorted
    /// by UTF-16 code units, arrays, strings escaped as ``CanonicalJSON`` does, integers,
    /// `true`, `false`, `null`; no whitespace). Python's `json.dumps(v, sort_keys=True,
    /// separators=(",", ":"), ensure_ascii=False)` reproduces it.
    ///
    /// - throws: ``RegistryJSONError`` if the value cannot be encoded or holds a
    ///   non-integer number.
    public static func canonicalText<T: Encodable>(_ value: T) throws(RegistryJSONError) -> String {
        let data: Data
        do {
            data = try makeEncoder().encode(value)
        } catch {
            throw RegistryJSONError("cannot encode \(T.self): \(error)")
        }
        let tree: JSONTree
        do {
            tree = try JSONDecoder().decode(JSONTree.self, from: data)
        } catch {
            throw RegistryJSONError("cannot canonicalise \(T.self): \(error)")
        }
        var out: [UInt8] = []
        out.reserveCapacity(data.count)
        tree.append(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes a value written by ``makeEncoder()`` (or ``canonicalText(_:)``).
    ///
    /// - throws: ``RegistryJSONError`` naming the type and the decoding failure.
    public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws(RegistryJSONError) -> T {
        do {
            return try makeDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw RegistryJSONError("cannot decode \(T.self): \(error)")
        }
    }

    /// `open_api` → `openAPI`, `tls_certificate_sha256` → `tlsCertificateSHA256`,
    /// `name_en` → `nameEn`. Leading and trailing underscores are kept.
    static func camelCase(fromSnakeCase key: String) -> String {
        guard key.contains("_") else { return key }
        let leading = key.prefix { $0 == "_" }
        let trailing = String(key.reversed().prefix { $0 == "_" })
        let core = key.dropFirst(leading.count).dropLast(trailing.count)
        guard !core.isEmpty else { return key }
        let parts = core.split(separator: "_", omittingEmptySubsequences: true)
        var result = String(leading)
        for (index, part) in parts.enumerated() {
            let lower = part.lowercased()
            if index == 0 {
                result += lower
            } else if let acronym = acronyms[lower] {
                result += acronym
            } else {
                result += lower.prefix(1).uppercased() + lower.dropFirst()
            }
        }
        return result + trailing
    }

    /// A coding key with a string value only.
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// A failure to encode, canonicalise or decode registry JSON.
public struct RegistryJSONError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}

/// A parsed JSON value, for canonical re-serialisation. Non-integer numbers are refused.
enum JSONTree: Decodable {
    case null
    case bool(Bool)
    case integer(Int64)
    case string(String)
    case array([JSONTree])
    case object([String: JSONTree])

    init(from decoder: any Decoder) throws {
        if let container = try? decoder.container(keyedBy: RegistryJSON.AnyKey.self) {
            var members: [String: JSONTree] = [:]
            for key in container.allKeys {
                members[key.stringValue] = try container.decode(JSONTree.self, forKey: key)
            }
            self = .object(members)
            return
        }
        if var container = try? decoder.unkeyedContainer() {
            var items: [JSONTree] = []
            while !container.isAtEnd { items.append(try container.decode(JSONTree.self)) }
            self = .array(items)
            return
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    func append(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: Array("null".utf8))
        case .bool(let value): out.append(contentsOf: Array((value ? "true" : "false").utf8))
        case .integer(let value): out.append(contentsOf: Array(String(value).utf8))
        case .string(let value): out.append(contentsOf: CanonicalJSON.string(value).canonicalBytes)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.append(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let keys = members.keys.sorted { Array($0.utf16).lexicographicallyPrecedes(Array($1.utf16)) }
            for (index, key) in keys.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: CanonicalJSON.string(key).canonicalBytes)
                out.append(UInt8(ascii: ":"))
                members[key]?.append(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}
