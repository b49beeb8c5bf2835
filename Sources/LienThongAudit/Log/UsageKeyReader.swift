/// Reads the usage key of a record (``UsageCounter/Key``) straight from canonical record bytes
/// that ``LeafChecker`` has already accepted, without parsing the whole record.
///
/// In canonical bytes every top-level member starts with `"name":` exactly once, and that byte
/// sequence cannot occur inside a string value (whose quotes are escaped) or in an encrypted body
/// (whose member names differ), so a plain search finds each member. A value that contains an
/// escape falls back to the full parser, which decodes it.
enum UsageKeyReader {
    /// The usage key and duration of the record in `bytes`.
    static func read(_ bytes: [UInt8]) throws(AuditRecordError) -> (key: UsageCounter.Key, duration: Int64) {
        let fast: (key: UsageCounter.Key, duration: Int64)? = bytes.withUnsafeBufferPointer { buffer in
            guard let outcomeText = string(buffer, "\"outcome\":"), let outcome = ExchangeOutcome(rawValue: outcomeText),
                  let duration = integer(buffer, "\"duration_ms\":"),
                  let sideText = string(buffer, "\"side\":"), let side = ExchangeSide(rawValue: sideText),
                  let startedText = string(buffer, "\"started_at\":"), let started = AuditTimestamp(rfc3339: startedText) else { return nil }
            var parts: [String?] = []
            for name in ["\"client\":", "\"service\":", "\"dataset\":", "\"agreement\":", "\"error_type\":"] as [StaticString] {
                switch member(buffer, name) {
                case .absent: parts.append(nil)
                case .plain(let text): parts.append(text)
                case .escaped: return nil
                }
            }
            return (UsageCounter.Key(side: side, window: UsageCounter.window(containing: started), client: parts[0], service: parts[1], dataset: parts[2], agreement: parts[3],
                                     outcome: outcome, errorType: parts[4]), duration)
        }
        if let fast { return fast }
        let record = try AuditRecord(canonicalBytes: bytes)
        return (UsageCounter.Key(record), record.durationMilliseconds)
    }

    private enum Member {
        case absent
        case plain(String)
        case escaped
    }

    /// The string value of member `name`, if present.
    private static func member(_ buffer: UnsafeBufferPointer<UInt8>, _ name: StaticString) -> Member {
        guard let start = find(buffer, name), start < buffer.count, buffer[start] == UInt8(ascii: "\"") else { return .absent }
        var index = start + 1
        while index < buffer.count {
            switch buffer[index] {
            case UInt8(ascii: "\""):
                return .plain(String(decoding: UnsafeBufferPointer(rebasing: buffer[(start + 1)..<index]), as: UTF8.self))
            case UInt8(ascii: "\\"):
                return .escaped
            default:
                index += 1
            }
        }
        return .escaped
    }

    private static func string(_ buffer: UnsafeBufferPointer<UInt8>, _ name: StaticString) -> String? {
        if case .plain(let text) = member(buffer, name) { return text }
        return nil
    }

    private static func integer(_ buffer: UnsafeBufferPointer<UInt8>, _ name: StaticString) -> Int64? {
        guard var index = find(buffer, name) else { return nil }
        var negative = false
        if index < buffer.count, buffer[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var value: Int64 = 0
        var digits = 0
        while index < buffer.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(buffer[index]), digits < 18 {
            value = value * 10 + Int64(buffer[index] - UInt8(ascii: "0"))
            index += 1
            digits += 1
        }
        return digits == 0 ? nil : (negative ? -value : value)
    }

    /// The index just after the first occurrence of `needle`.
    private static func find(_ buffer: UnsafeBufferPointer<UInt8>, _ needle: StaticString) -> Int? {
        let count = needle.utf8CodeUnitCount
        guard count > 0, buffer.count >= count else { return nil }
        return needle.withUTF8Buffer { pattern -> Int? in
            let first = pattern[0]
            var index = 0
            let last = buffer.count - count
            while index <= last {
                if buffer[index] == first {
                    var match = true
                    var offset = 1
                    while offset < count {
                        if buffer[index + offset] != pattern[offset] { match = false; break }
                        offset += 1
                    }
                    if match { return index + count }
                }
                index += 1
            }
            return nil
        }
    }
}
